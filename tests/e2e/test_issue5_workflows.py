"""The shared LoRA, ControlNet, img2img and inpainting workflows run headless on tiny models, and the
PNG they write, dropped back in, yields the same UI workflow and the same prompt."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests import testdata

REPO = Path(__file__).resolve().parents[2]

# name -> (checkpoint family, --set overrides keeping each run small and fast)
WORKFLOWS = {
    "lora": ("sd15", ["3.steps=2", "5.width=64", "5.height=64"]),
    "controlnet_example": ("sd15", ["3.steps=2", "5.width=64", "5.height=64"]),
    "image2image": ("sd15", ["3.steps=2", "18.megapixels=0.01"]),
    "inpaint_example": ("sd15_inpaint", ["3.steps=2", "33.megapixels=0.01"]),
}


def _tiny_lora(ckpt: Path) -> dict:
    from safetensors.torch import load_file

    from core.models.lora import key_map
    from tests.lora.lora_testfiles import kohya_lora_for

    shapes = {k: tuple(v.shape) for k, v in load_file(str(ckpt)).items()}
    return kohya_lora_for(shapes, key_map(shapes), "lora_", seed=5, alpha=2.0)


def _image(path: Path, size=(80, 72), alpha=False):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(len(path.name))
    pixels = (torch.rand(size[1], size[0], 4 if alpha else 3, generator=gen) * 255).to(torch.uint8).numpy()
    if alpha:
        pixels[: size[1] // 2, :, 3] = 255  # top half opaque, bottom half transparent: the inpaint mask
        pixels[size[1] // 2:, :, 3] = 0
    Image.fromarray(pixels, "RGBA" if alpha else "RGB").save(path)


def _prepare(base: Path, prompt: dict, family: str) -> None:
    """Tiny files under every name the workflow's loaders and LoadImage nodes ask for."""
    from safetensors.torch import save_file

    from core.models.tiny import tiny_state_dict, write_tiny_checkpoint
    from tests.controlnet.control_testnets import tiny_controlnet_state_dict

    models = base / "models"
    for node in prompt.values():
        kind, inputs = node["class_type"], node["inputs"]
        if kind == "CheckpointLoaderSimple":
            write_tiny_checkpoint(models / "checkpoints" / inputs["ckpt_name"], family)
        elif kind == "LoraLoader":
            ckpt = write_tiny_checkpoint(base / "scratch" / "for_lora.safetensors", family)
            (models / "loras").mkdir(parents=True, exist_ok=True)
            save_file(_tiny_lora(ckpt), str(models / "loras" / inputs["lora_name"]))
        elif kind == "ControlNetLoader":
            (models / "controlnet").mkdir(parents=True, exist_ok=True)
            save_file(tiny_controlnet_state_dict(), str(models / "controlnet" / inputs["control_net_name"]))
        elif kind == "VAELoader":
            sd, _ = tiny_state_dict(family)
            vae = {k[len("first_stage_model."):]: v.contiguous() for k, v in sd.items()
                   if k.startswith("first_stage_model.")}
            (models / "vae").mkdir(parents=True, exist_ok=True)
            save_file(vae, str(models / "vae" / inputs["vae_name"]))
        elif kind == "LoadImage":
            _image(base / "input" / inputs["image"], alpha=(family == "sd15_inpaint"))


@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_shared_workflow_runs_headless_and_its_png_round_trips(name, tmp_path):
    import nodes
    from core.workflow import formats as workflow
    from core.cli.headless import apply_overrides
    from core.execution.registry import NodeRegistry

    ui_path = testdata.workflow(f"{name}.ui.json")
    family, sets = WORKFLOWS[name]
    registry = NodeRegistry()  # built-ins only: what `main.py run` has with no custom node packs
    nodes.register_builtin_nodes(registry)
    prompt, _ = workflow.load_workflow_file(ui_path, registry.object_info())
    apply_overrides(prompt, sets)
    _prepare(tmp_path, prompt, family)

    cmd = [sys.executable, str(REPO / "main.py"), "run", str(ui_path), "--base-directory", str(tmp_path),
           "--cpu", "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    pngs = [Path(line) for line in done.stdout.splitlines() if line.endswith(".png")]
    saved = [p for p in pngs if p.is_relative_to(tmp_path / "output")]
    assert saved and all(p.is_file() for p in saved), done.stdout

    chunks = workflow.read_png_text(saved[0].read_bytes())
    assert json.loads(chunks["workflow"]) == json.loads(ui_path.read_text())
    assert json.loads(chunks["prompt"]) == prompt
    again, again_ui = workflow.load_workflow_file(saved[0], registry.object_info())
    assert again == prompt and again_ui == json.loads(ui_path.read_text())
