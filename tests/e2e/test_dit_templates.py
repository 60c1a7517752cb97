"""ComfyUI's official DiT templates (FLUX.1, SD3.5, Z-Image, Qwen-Image, FLUX.2 [klein]) run headless on tiny
files named as the templates name them, and the UI file and its API form give the same image.

Each template (tests/data/workflows/dit/, copied from the MIT template package) runs twice through
``main.py run``: once as the UI workflow, once as the API prompt our converter derives from it (the
form scripts POST). Sizes and step counts are shrunk with ``--set`` so a run takes seconds; every model
file is a tiny seeded stand-in (core/models/standins.py) written under the name the template uses.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests import testdata

REPO = Path(__file__).resolve().parents[2]

TEMPLATES = [
    "flux_dev_full_text_to_image", "flux_schnell", "flux_schnell_full_text_to_image", "flux_kontext_dev_basic",
    "flux_fill_inpaint_example", "sd3.5_simple_example", "sd3.5_large_canny_controlnet_example", "sd3.5_large_blur",
    "image_z_image_turbo", "image_qwen_image", "image_qwen_image_edit", "image_qwen_image_edit_2509",
    "image_flux2_klein_text_to_image", "image_flux2_klein_image_edit_4b_distilled",
]

SIZE_INPUTS = {"EmptyLatentImage", "EmptySD3LatentImage", "EmptyFlux2LatentImage", "Flux2Scheduler", "EmptyQwenImageLayeredLatentImage"}
STEP_INPUTS = {"KSampler", "KSamplerAdvanced", "BasicScheduler", "Flux2Scheduler"}


def shrink_sets(prompt: dict) -> list[str]:
    """``--set`` overrides that make every run small: 64 px latents, at most 2 steps, tiny rescales."""
    sets = []
    for node_id, node in prompt.items():
        kind, inputs = node["class_type"], node["inputs"]
        if kind in SIZE_INPUTS:
            for key in ("width", "height"):
                if isinstance(inputs.get(key), int):
                    sets.append(f"{node_id}.{key}=64")
            if isinstance(inputs.get("batch_size"), int):
                sets.append(f"{node_id}.batch_size=1")
        if kind in STEP_INPUTS and isinstance(inputs.get("steps"), int):
            sets.append(f"{node_id}.steps={min(inputs['steps'], 2)}")
        if kind == "KSamplerAdvanced":
            for key in ("start_at_step", "end_at_step"):
                if isinstance(inputs.get(key), int):
                    sets.append(f"{node_id}.{key}={min(inputs[key], 2)}")
        if kind == "ImageScaleToTotalPixels" and isinstance(inputs.get("megapixels"), (int, float)):
            sets.append(f"{node_id}.megapixels=0.004")
    return sets


def run(path: Path, base: Path, sets: list[str]) -> list[np.ndarray]:
    cmd = [sys.executable, str(REPO / "main.py"), "run", str(path), "--base-directory", str(base), "--cpu", "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{path.name}: exit {done.returncode}\n{done.stderr[-4000:]}"
    pngs = [Path(line) for line in done.stdout.splitlines() if line.endswith(".png")]
    saved = sorted(p for p in pngs if p.is_relative_to(base))   # SaveImage (output/) or PreviewImage (temp/)
    assert saved, f"{path.name} saved no image:\n{done.stdout}\n{done.stderr[-2000:]}"
    return [np.asarray(Image.open(p).convert("RGB")) for p in saved]


@pytest.mark.parametrize("name", TEMPLATES)
def test_official_dit_template_runs_headless_and_its_api_form_gives_the_same_image(name, tmp_path):
    import nodes
    from core.execution.registry import NodeRegistry
    from core.models.standins import provision
    from core.workflow import formats

    ui_path = testdata.workflow(f"dit/{name}.ui.json")
    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    prompt, _ = formats.load_workflow_file(ui_path, registry.object_info())
    missing = provision(prompt, tmp_path)
    assert not missing, missing
    sets = shrink_sets(prompt)
    api_path = tmp_path / f"{name}.api.json"
    api_path.write_text(json.dumps(prompt))

    from_ui = run(ui_path, tmp_path, sets)
    from_api = run(api_path, tmp_path, sets)
    assert len(from_ui) == len(from_api)
    for a, b in zip(from_ui, from_api):
        assert a.shape == b.shape and a.shape[0] >= 8
        assert np.array_equal(a, b)
