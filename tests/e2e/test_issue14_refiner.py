"""The SDXL refiner loads: detected as a refiner (not as the base it resembles), and the shared base +
refiner workflow runs headless on tiny checkpoints of both."""
import json
import subprocess
import sys
from pathlib import Path

import torch

from tests import testdata

REPO = Path(__file__).resolve().parents[2]


def refiner_unet_shapes() -> dict:
    """Key -> shape of the released SDXL refiner U-Net (model_channels 384, 4 levels, transformer depth 4
    on the two middle levels, context 1280 from OpenCLIP-G, vector 2560), built on the meta device."""
    from core.models.unet import UNetConfig, UNetModel

    cfg = UNetConfig.from_levels(model_channels=384, channel_mult=(1, 2, 4, 4), num_res_blocks=2,
                                 depth_per_level=(0, 4, 4, 0), depth_middle=4, context_dim=1280, num_heads=-1,
                                 num_head_channels=64, use_linear_in_transformer=True, adm_in_channels=2560)
    with torch.device("meta"):
        return {f"model.diffusion_model.{k}": tuple(v.shape) for k, v in UNetModel(cfg).state_dict().items()}


def test_a_refiner_shaped_unet_is_detected_as_the_refiner():
    from core.models.detection import detect

    cfg = detect(refiner_unet_shapes())
    assert (cfg.family, cfg.unet.context_dim, cfg.adm_in_channels) == ("sdxl_refiner", 1280, 2560)


def test_the_sdxl_base_manifest_is_still_the_base():
    from core.models.detection import detect

    shapes = testdata.manifest("sdxl_base_1.0")["keys"]
    assert detect(shapes).family == "sdxl"


def test_a_tiny_refiner_checkpoint_loads_with_openclip_g_alone(tmp_path):
    from core.models.checkpoint import load_checkpoint
    from core.models.tiny import write_tiny_checkpoint

    path = write_tiny_checkpoint(tmp_path / "refiner.safetensors", "sdxl_refiner")
    model, clip, vae = load_checkpoint(path)[:3]
    assert model.config.family == "sdxl_refiner"
    assert clip is not None and vae is not None


def test_base_plus_refiner_workflow_runs_headless(tmp_path):
    from core.models.tiny import write_tiny_checkpoint

    write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / "sd_xl_base_1.0.safetensors", "sdxl")
    write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / "sd_xl_refiner_1.0.safetensors", "sdxl_refiner", seed=1)
    ui = testdata.workflow("sdxl_simple_example.ui.json")
    sets = ["5.width=64", "5.height=64", "10.steps=3", "10.end_at_step=2", "11.steps=3", "11.start_at_step=2"]
    cmd = [sys.executable, str(REPO / "main.py"), "run", str(ui), "--base-directory", str(tmp_path), "--cpu",
           "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    pngs = [Path(line) for line in done.stdout.splitlines() if line.endswith(".png")]
    assert pngs and pngs[0].is_file()
    from PIL import Image
    import numpy as np

    pixels = np.asarray(Image.open(pngs[0]))
    assert pixels.shape == (64, 64, 3) and pixels.std() > 0
