"""A full environment for the stand-in packs of ``nodes_packs/``: our built-ins registered, a tiny SD1.5
checkpoint and LoRA in fresh model folders, the packs loaded by the real loader, and a runner that
executes API prompts through the real executor. Test modules import the fixtures from here."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PACKS = Path(__file__).resolve().parent / "nodes_packs"
CKPT = "tiny_sd15.safetensors"
LORA = "tiny_lora.safetensors"


def tiny_lora(checkpoint: Path, path: Path) -> None:
    """A kohya LoRA touching one U-Net and one text-encoder linear layer of the tiny checkpoint."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from core.models.lora import key_map

    with safe_open(str(checkpoint), "pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    gen = torch.Generator().manual_seed(1)
    sd, picked = {}, set()
    for name, (key, part) in sorted(key_map(shapes).items()):
        kind = "unet" if name.startswith("lora_unet_") else "te" if name.startswith("lora_te_") else None
        if kind is None or kind in picked or part is not None or len(shapes[key]) != 2:
            continue
        out, inp = shapes[key]
        sd[name + ".lora_down.weight"] = torch.randn(2, inp, generator=gen)
        sd[name + ".lora_up.weight"] = torch.randn(out, 2, generator=gen)
        sd[name + ".alpha"] = torch.tensor(2.0)
        picked.add(kind)
    assert picked == {"unet", "te"}, picked
    save_file(sd, str(path))


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory):
    from core.models.tiny import write_tiny_checkpoint

    root = tmp_path_factory.mktemp("standin_models")
    ckpt = write_tiny_checkpoint(root / CKPT, "sd15", 0)
    tiny_lora(ckpt, root / LORA)
    return ckpt, root / LORA


@pytest.fixture()
def comfy_env(tmp_path, tiny_files):
    """-> env with .registry, .folders, .load(*pack names), .run(prompt) -> ExecutionResult."""
    import nodes
    from core import devices, paths
    from core.execution.executor import Executor
    from core.execution.registry import NodeRegistry

    devices.configure({"cpu": True, "force_fp32": True})
    previous = paths.get()
    folders = paths.configure(base=tmp_path / "base")
    for d in (folders.output_dir, folders.input_dir, folders.temp_dir):
        d.mkdir(parents=True, exist_ok=True)
    for folder, source in (("checkpoints", tiny_files[0]), ("loras", tiny_files[1])):
        (folders.models_dir / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(source, folders.models_dir / folder / source.name)
    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)

    class Env:
        pass

    env = Env()
    env.registry, env.folders = registry, folders

    def load(*names):
        from core.custom_nodes import load_custom_nodes

        loaded = load_custom_nodes(registry, [PACKS], disable_all=True, whitelist=list(names))
        assert sorted(loaded) == sorted(names), [f.error for f in registry.failures]
        assert registry.failures == []
        return registry

    def run(prompt, executor=None):
        return (executor or Executor(registry, cache="none")).execute(prompt, "job", {})

    env.load, env.run = load, run
    yield env
    paths.folders = previous
    devices.configure(None)


def txt2img_prompt(sampler_node: dict | None = None) -> dict:
    """Checkpoint -> two prompts -> 64px empty latent -> KSampler (2 steps) -> decode: node "7" is the IMAGE."""
    sampler = sampler_node or {"class_type": "KSampler",
                               "inputs": {"model": ["1", 0], "seed": 3, "steps": 2, "cfg": 7.0,
                                          "sampler_name": "euler", "scheduler": "normal", "positive": ["2", 0],
                                          "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CKPT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": sampler,
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
    }
