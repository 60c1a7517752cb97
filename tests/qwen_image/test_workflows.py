"""Qwen-Image end to end on tiny files named as the templates name them: the text-to-image chain through the
executor, the same chain equal to an independent sampling loop around diffusers' transformer and VAE, and the
official templates (text-to-image, Edit, Edit 2509) run headless."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

WORKFLOWS = Path(__file__).resolve().parents[1] / "data" / "workflows" / "qwen_image"
UNET, CLIP, VAE = "qwen_image_fp8_e4m3fn.safetensors", "qwen_2.5_vl_7b_fp8_scaled.safetensors", "qwen_image_vae.safetensors"


@pytest.fixture(scope="module")
def registry():
    import nodes
    from core.execution.registry import NodeRegistry

    reg = NodeRegistry()
    nodes.register_builtin_nodes(reg)
    return reg


@pytest.fixture()
def qwen_files(folders, cpu_fp32):
    from core.models.tiny import write_tiny_qwen25_vl, write_tiny_qwen_image, write_tiny_qwen_image_vae

    models = folders.models_dir
    write_tiny_qwen_image(models / "diffusion_models" / UNET, seed=1)
    write_tiny_qwen25_vl(models / "text_encoders" / CLIP, seed=2, fp8_scaled=True)
    write_tiny_qwen_image_vae(models / "vae" / VAE, seed=3)
    return folders


def t2i_prompt(steps=2, cfg=2.5, seed=7, width=64, height=48) -> dict:
    return {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": UNET, "weight_dtype": "default"}},
        "2": {"class_type": "CLIPLoader", "inputs": {"clip_name": CLIP, "type": "qwen_image", "device": "default"}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": VAE}},
        "4": {"class_type": "ModelSamplingAuraFlow", "inputs": {"model": ["1", 0], "shift": 3.1}},
        "5": {"class_type": "EmptySD3LatentImage", "inputs": {"width": width, "height": height, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["2", 0], "text": "a neon street in Hong Kong"}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["2", 0], "text": ""}},
        "8": {"class_type": "KSampler", "inputs": {"model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                                                   "latent_image": ["5", 0], "seed": seed, "steps": steps, "cfg": cfg,
                                                   "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}},
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["3", 0]}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "Qwen-Image"}},
    }


def _execute(registry, prompt):
    from core.execution.executor import Executor
    from core.execution.validate import validate_prompt

    check = validate_prompt(registry, prompt)
    assert check.ok, check.node_errors or check.error
    result = Executor(registry).execute(check.prompt, "qwen", {}, check.outputs, validated=True)
    assert result.success, result.error
    return result


def test_text_to_image_chain_runs_through_the_executor(registry, qwen_files):
    from PIL import Image

    _execute(registry, t2i_prompt())
    [png] = list(Path(qwen_files.output_dir).glob("Qwen-Image*.png"))
    image = Image.open(png)
    assert image.size == (64, 48)
    assert len(set(image.convert("RGB").tobytes())) > 10  # an image, not a constant


def test_text_to_image_chain_equals_an_independent_loop_around_diffusers(qwen_files):
    """KSampler(euler, simple, cfg 2.5) after ModelSamplingAuraFlow(3.1), by hand: diffusers' transformer on
    the pipeline's packed tokens, v = v_u + cfg (v_c - v_u), x += (sigma' - sigma) v, Wan21 latent statistics,
    diffusers' VAE decode."""
    from qwen_toys import diffusers_transformer, diffusers_vae
    from core.models.latent_formats import WAN21
    from core.sampling.noise import initial_noise
    from core.sampling.sample import ksampler_sigmas
    from nodes.latent_extra import EmptySD3LatentImage
    from nodes.loaders import UNETLoader, VAELoader
    from nodes.model_sampling import ModelSamplingAuraFlow
    from nodes.sampling import KSampler
    from nodes.text import CLIPLoader, CLIPTextEncode
    from nodes.vae import VAEDecode

    (model,) = UNETLoader().execute(UNET)
    (clip,) = CLIPLoader().execute(CLIP, "qwen_image")
    (vae,) = VAELoader().execute(VAE)
    (model,) = ModelSamplingAuraFlow().execute(model, 3.1)
    (latent,) = EmptySD3LatentImage().execute(64, 48, 1)
    (pos,) = CLIPTextEncode().execute(clip, "a neon street in Hong Kong")
    (neg,) = CLIPTextEncode().execute(clip, "")
    (sampled,) = KSampler().execute(model, 7, 3, 2.5, "euler", "simple", pos, neg, latent, 1.0)
    (image,) = VAEDecode().execute(vae, sampled)

    ref = diffusers_transformer(model.unet)
    ref_vae = diffusers_vae(vae.vae)
    sigmas = ksampler_sigmas(model, 3, "euler", "simple")
    x = initial_noise(latent["samples"].shape, 7)  # sigma_0 = 1: pure noise
    with torch.no_grad():
        for s, s_next in zip(sigmas[:-1], sigmas[1:]):
            t = s.reshape(1)
            v_c = _diffusers_v(ref, x, t, pos[0][0])
            v_u = _diffusers_v(ref, x, t, neg[0][0])
            x = x + (s_next - s) * (v_u + 2.5 * (v_c - v_u))
        raw = WAN21.process_out(x)
        want = ref_vae.decode(raw[:, :, None]).sample[:, :, 0]
    assert torch.allclose(sampled["samples"], raw, atol=1e-4), float((sampled["samples"] - raw).abs().max())
    want_image = ((want + 1) / 2).clamp(0, 1).movedim(1, -1)
    assert torch.allclose(image, want_image, atol=1e-4), float((image - want_image).abs().max())


def _diffusers_v(ref, x, t, context):
    from qwen_toys import diffusers_velocity

    return diffusers_velocity(ref, x, t, context)


def _run_template(registry, name: str, base: Path):
    from core.models.standins import provision
    from core.workflow.formats import ui_to_api

    workflow = json.loads((WORKFLOWS / f"{name}.ui.json").read_text(encoding="utf-8"))
    prompt = ui_to_api(workflow, registry.object_info())
    assert provision(prompt, base) == []
    for node in prompt.values():  # seconds on a CPU: small sizes, two steps
        inputs = node["inputs"]
        if node["class_type"] == "EmptySD3LatentImage":
            inputs.update(width=64, height=64)
        elif node["class_type"] == "KSampler":
            inputs["steps"] = 2  # replaces the templates' switch between 20 steps and the Lightning LoRA's 4
        elif node["class_type"] == "ImageScaleToTotalPixels":
            inputs["megapixels"] = 0.01
    return prompt, _execute(registry, prompt)


def test_text_to_image_template_runs_headless(registry, folders, cpu_fp32):
    prompt, _ = _run_template(registry, "image_qwen_image", folders.base)
    kinds = {n["class_type"]: n["inputs"] for n in prompt.values()}
    assert kinds["CLIPLoader"]["type"] == "qwen_image"
    assert kinds["ModelSamplingAuraFlow"]["shift"] == pytest.approx(3.1)
    assert list(Path(folders.output_dir).glob("*.png"))


def test_edit_template_runs_headless(registry, folders, cpu_fp32):
    prompt, _ = _run_template(registry, "image_qwen_image_edit", folders.base)
    encoders = [n for n in prompt.values() if n["class_type"] == "TextEncodeQwenImageEdit"]
    assert len(encoders) == 2 and all({"vae", "image"} <= set(n["inputs"]) for n in encoders)
    assert list(Path(folders.output_dir).glob("*.png"))


def edit_plus_prompt() -> dict:
    """The 2509 template's chain without FluxKontextImageScale (another node pack of this release)."""
    prompt = t2i_prompt()
    prompt["20"] = {"class_type": "LoadImage", "inputs": {"image": "cat.png"}}
    prompt["21"] = {"class_type": "LoadImage", "inputs": {"image": "dog.png"}}
    prompt["22"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["20", 0], "vae": ["3", 0]}}
    for key, text in (("6", "put the dog next to the cat"), ("7", "")):
        prompt[key] = {"class_type": "TextEncodeQwenImageEditPlus",
                       "inputs": {"clip": ["2", 0], "prompt": text, "vae": ["3", 0], "image1": ["20", 0],
                                  "image2": ["21", 0]}}
    prompt["8"]["inputs"]["latent_image"] = ["22", 0]
    return prompt


def test_edit_plus_chain_runs_through_the_executor(registry, qwen_files):
    from core.models.standins import provision

    prompt = edit_plus_prompt()
    assert provision(prompt, qwen_files.base) == []  # the two input images
    _execute(registry, prompt)
    assert list(Path(qwen_files.output_dir).glob("Qwen-Image*.png"))


def test_edit_plus_node_gives_one_reference_latent_per_image(qwen_files):
    from nodes.loaders import VAELoader
    from nodes.qwen_image import TextEncodeQwenImageEditPlus
    from nodes.text import CLIPLoader

    (clip,) = CLIPLoader().execute(CLIP, "qwen_image")
    (vae,) = VAELoader().execute(VAE)
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 40, 60, 3, generator=g), torch.rand(1, 64, 32, 3, generator=g)
    (cond,) = TextEncodeQwenImageEditPlus().execute(clip, "swap", vae, a, b)
    refs = cond[0][1]["reference_latents"]
    # ~1024 x 1024 pixels at each image's aspect, sides multiples of 8, then the VAE's 8x reduction
    assert [tuple(r.shape) for r in refs] == [(1, 16, 105, 157), (1, 16, 181, 91)]
    (no_vae,) = TextEncodeQwenImageEditPlus().execute(clip, "swap", None, a, b)
    assert "reference_latents" not in no_vae[0][1]


class RecordingQwen(torch.nn.Module):
    """The loaded transformer, recording the reference latents each call receives."""

    def __init__(self, net):
        super().__init__()
        self.net, self.seen = net, []
        self.positional_text = True

    def forward(self, x, timesteps, context, y=None, control=None, ref_latents=None, **kwargs):
        self.seen.append(ref_latents)
        return self.net(x, timesteps, context, ref_latents=ref_latents)


def test_ksampler_hands_the_edit_reference_latents_to_the_transformer(qwen_files):
    from core.models.latent_formats import WAN21
    from nodes.loaders import UNETLoader, VAELoader
    from nodes.qwen_image import TextEncodeQwenImageEdit
    from nodes.sampling import KSampler
    from nodes.text import CLIPLoader

    (model,) = UNETLoader().execute(UNET)
    (clip,) = CLIPLoader().execute(CLIP, "qwen_image")
    (vae,) = VAELoader().execute(VAE)
    image = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(1))
    (pos,) = TextEncodeQwenImageEdit().execute(clip, "make it red", vae, image)
    (neg,) = TextEncodeQwenImageEdit().execute(clip, "", vae, image)
    model.unet = RecordingQwen(model.unet)
    KSampler().execute(model, 1, 1, 2.5, "euler", "simple", pos, neg, {"samples": torch.zeros(1, 16, 4, 4)}, 1.0)
    [ref] = pos[0][1]["reference_latents"]
    assert model.unet.seen and all(s is not None for s in model.unet.seen)
    assert torch.allclose(model.unet.seen[0][0][:1].float(), WAN21.process_in(ref), atol=1e-5)
