"""A tiny Z-Image loaded the way users load one (UNETLoader from models/diffusion_models, CLIPLoader type
lumina2 from models/text_encoders) and sampled with the built-in nodes on a 16-channel latent."""
from __future__ import annotations

import pytest
import torch

from tests import testdata

UNET = "z_image_turbo_bf16.safetensors"
TE = "qwen_3_4b.safetensors"


@pytest.fixture()
def zimage_files(folders):
    from core.models.tiny import write_tiny_qwen3, write_tiny_zimage

    def write(prefix: str = ""):
        write_tiny_zimage(folders.base / "models" / "diffusion_models" / UNET, seed=0, prefix=prefix)
        write_tiny_qwen3(folders.base / "models" / "text_encoders" / TE)
        return UNET, TE

    return write


def test_unetloader_loads_z_image_as_a_flow_model_with_its_defaults(cpu_fp32, zimage_files):
    from core.models.zimage import ZImage
    from core.sampling.model_sampling import FlowSchedule
    from nodes.loaders import UNETLoader

    unet_name, _ = zimage_files()
    (model,) = UNETLoader().execute(unet_name, "default")
    assert isinstance(model.unet, ZImage)
    assert (model.config.family, model.config.prediction) == ("z_image", "flow")
    assert isinstance(model.model_sampling, FlowSchedule)
    assert (model.model_sampling.shift, model.model_sampling.multiplier) == (3.0, 1.0)
    assert model.latent_format.name == "flux" and model.latent_format.latent_channels == 16


def test_unetloader_accepts_the_bundled_checkpoint_prefix(cpu_fp32, zimage_files):
    from nodes.loaders import UNETLoader

    unet_name, _ = zimage_files(prefix="model.diffusion_model.")
    (model,) = UNETLoader().execute(unet_name, "default")
    assert model.config.extra["unet_prefix"] == "model.diffusion_model."


def test_detection_reads_the_published_turbo_config_from_the_manifests_shapes():
    from core.models.detection import detect
    from core.models.zimage import ZImageConfig

    shapes = {k: tuple(v) for k, v in testdata.manifest("z_image_turbo")["keys"].items()}
    cfg = detect(shapes, name=UNET)
    assert (cfg.family, cfg.prediction, cfg.in_channels) == ("z_image", "flow", 16)
    assert cfg.unet == ZImageConfig()


def test_detection_of_a_tiny_z_image_recovers_its_config():
    from core.models.detection import detect
    from core.models.tiny import tiny_zimage_config, tiny_zimage_state_dict

    assert detect(tiny_zimage_state_dict()).unet == tiny_zimage_config()


def test_a_lumina_image_2_file_is_refused_by_name():
    from core.models.detection import DetectionError, detect

    shapes = {k.replace("adaLN_modulation.0.", "adaLN_modulation.1."): tuple(v)
              for k, v in testdata.manifest("z_image_turbo")["keys"].items()}
    with pytest.raises(DetectionError, match="Lumina.*not Z-Image"):
        detect(shapes, name="lumina_2.safetensors")


def test_cliploader_lumina2_gives_qwen3_conditioning(cpu_fp32, zimage_files):
    from nodes.text import CLIPLoader, CLIPTextEncode

    _, te = zimage_files()
    (clip,) = CLIPLoader().execute(te, "lumina2", "default")
    ((cond, opts),) = CLIPTextEncode().execute(clip, "a lighthouse at dusk")[0]
    assert cond.shape[0] == 1 and cond.shape[2] == 32 and opts["pooled_output"] is None
    assert torch.isfinite(cond).all()


def test_cliploader_names_the_input_when_the_file_is_not_a_qwen3(cpu_fp32, folders):
    from core.models.tiny import write_tiny_zimage
    from nodes.text import CLIPLoader

    write_tiny_zimage(folders.base / "models" / "text_encoders" / "wrong.safetensors")
    with pytest.raises(ValueError, match="CLIPLoader, input .*wrong.safetensors.*not a Qwen3"):
        CLIPLoader().execute("wrong.safetensors", "lumina2", "default")


def test_ksampler_runs_tiny_z_image_end_to_end(cpu_fp32, zimage_files):
    from nodes.latent_extra import EmptySD3LatentImage
    from nodes.loaders import UNETLoader
    from nodes.model_sampling import ModelSamplingAuraFlow
    from nodes.sampling import KSampler
    from nodes.text import CLIPLoader, CLIPTextEncode

    unet_name, te = zimage_files()
    (model,) = UNETLoader().execute(unet_name, "default")
    (model,) = ModelSamplingAuraFlow().execute(model, 3.0)
    (clip,) = CLIPLoader().execute(te, "lumina2", "default")
    (positive,) = CLIPTextEncode().execute(clip, "a lighthouse at dusk, oil painting")
    (negative,) = CLIPTextEncode().execute(clip, "blurry")
    (latent,) = EmptySD3LatentImage().execute(64, 48, 1)
    runs = [KSampler().execute(model, 42, 3, cfg, "euler", "simple", positive, negative, latent, 1.0)[0]["samples"]
            for cfg in (1.0, 1.0, 4.0)]
    assert runs[0].shape == (1, 16, 6, 8)
    assert torch.isfinite(runs[2]).all() and float(runs[0].std()) > 0
    assert torch.equal(runs[0], runs[1])  # one seed, one latent
    assert not torch.allclose(runs[0], runs[2])  # the negative prompt takes part at cfg 4


def test_cfg_with_prompts_of_different_lengths_equals_each_prompt_run_alone(cpu_fp32, zimage_files):
    """Positive and negative are batched in one network call, the shorter context repeated to a common
    length; the result must equal two separate calls on each prompt's own tokens."""
    from core.sampling.denoiser import Denoiser
    from core.sampling.guidance import CFGDenoiser, prepare_conds
    from core.sampling.sample import _vector_builder
    from nodes.loaders import UNETLoader

    unet_name, _ = zimage_files()
    (model,) = UNETLoader().execute(unet_name, "default")
    g = torch.Generator().manual_seed(5)
    pos = [[torch.randn(1, 12, 32, generator=g), {"pooled_output": None}]]
    neg = [[torch.randn(1, 5, 32, generator=g), {"pooled_output": None}]]
    x, sigma = torch.randn(1, 16, 4, 6, generator=g), torch.tensor([0.6])
    schedule = model.model_sampling
    args = dict(latent_shape=x.shape, schedule=schedule, adm_channels=None, device="cpu", dtype=torch.float32,
                vector=_vector_builder(model))
    denoiser = Denoiser(model.unet, schedule)
    cfg = 3.0
    with torch.no_grad():
        batched = CFGDenoiser(denoiser, prepare_conds(pos, uncond=False, **args),
                              prepare_conds(neg, uncond=True, **args), cfg)(x, sigma)
        d_pos, d_neg = (denoiser(x, sigma, c[0][0]) for c in (pos, neg))
    assert torch.allclose(batched, d_neg + cfg * (d_pos - d_neg), atol=1e-5)


def test_a_scaled_fp8_z_image_file_is_dequantized_on_load(cpu_fp32, folders):
    from core.models.tiny import tiny_zimage_state_dict
    from core.models.weights import save_safetensors
    from nodes.loaders import UNETLoader

    sd = tiny_zimage_state_dict(seed=2)
    key = "layers.0.feed_forward.w1.weight"
    scale = sd[key].abs().max() / 448.0
    fp8 = {k: (v.to(torch.float8_e4m3fn) if v.ndim == 2 and k != key else v) for k, v in sd.items()}
    fp8[key] = (sd[key] / scale).to(torch.float8_e4m3fn)
    fp8[key.replace(".weight", ".scale_weight")] = scale.reshape(())
    fp8["scaled_fp8"] = torch.empty(0, dtype=torch.float8_e4m3fn)
    folder = folders.base / "models" / "diffusion_models"
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors(fp8, folder / "z_image_turbo_fp8_scaled.safetensors")
    (model,) = UNETLoader().execute("z_image_turbo_fp8_scaled.safetensors", "default")
    got = model.unet.layers[0].feed_forward.w1.weight
    assert got.dtype == torch.float32
    assert torch.equal(got, fp8[key].float() * scale)
    assert float((got - sd[key]).abs().max()) < 0.1 * float(sd[key].abs().max())  # the weight, not the raw fp8
