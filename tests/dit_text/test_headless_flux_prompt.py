"""A FLUX prompt in ComfyUI's API format runs headless (main.py run): the loader widgets validate against
the text_encoders folder and the type list, and the text conditioning reaches a tiny FLUX transformer."""
import json
import subprocess
import sys
from pathlib import Path

from tests.dit.flow_toys import tiny_flux, tiny_flux_config

REPO = Path(__file__).resolve().parents[2]

PROMPT = {
    "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"}},
    "2": {"class_type": "DualCLIPLoader", "inputs": {"clip_name1": "t5xxl_fp8_e4m3fn_scaled.safetensors",
                                                     "clip_name2": "clip_l.safetensors", "type": "flux"}},
    "3": {"class_type": "CLIPTextEncodeFlux", "inputs": {"clip": ["2", 0], "clip_l": "a cat", "t5xxl": "a cat",
                                                         "guidance": 3.5}},
    "4": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["2", 0], "text": ""}},
    "5": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 32, "height": 32, "batch_size": 1}},
    "6": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "seed": 1, "steps": 2, "cfg": 1.0,
                                               "sampler_name": "euler", "scheduler": "simple", "positive": ["3", 0],
                                               "negative": ["4", 0], "latent_image": ["5", 0], "denoise": 1.0}},
    "7": {"class_type": "PreviewAny", "inputs": {"source": ["6", 0]}},
}


def test_flux_text_encoders_run_in_a_headless_prompt(tmp_path, tiny_te_dir):
    from safetensors.torch import save_file

    models = tmp_path / "models"
    (models / "text_encoders").mkdir(parents=True)
    for f in tiny_te_dir.iterdir():
        (models / "text_encoders" / f.name).symlink_to(f)
    (models / "diffusion_models").mkdir()
    flux = tiny_flux(tiny_flux_config(context_in_dim=96, vec_in_dim=32))
    save_file({k: v.contiguous() for k, v in flux.state_dict().items()},
              str(models / "diffusion_models" / "flux1-dev.safetensors"))
    workflow = tmp_path / "flux_prompt.json"
    workflow.write_text(json.dumps(PROMPT))
    done = subprocess.run([sys.executable, str(REPO / "main.py"), "run", str(workflow), "--base-directory",
                           str(tmp_path), "--cpu", "--no-progress"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    bad = dict(PROMPT, **{"2": {"class_type": "DualCLIPLoader", "inputs": {
        "clip_name1": "t5xxl_fp16.safetensors", "clip_name2": "clip_l.safetensors", "type": "flux_dev"}}})
    workflow.write_text(json.dumps(bad))
    refused = subprocess.run([sys.executable, str(REPO / "main.py"), "run", str(workflow), "--base-directory",
                              str(tmp_path), "--cpu", "--no-progress"], cwd=REPO, capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode != 0 and "flux_dev" in refused.stdout + refused.stderr
