"""The FLUX CLIP's conditioning drives a FLUX transformer: tiny FLUX.1 file (context width = tiny T5 width,
vector width = tiny CLIP-L width) sampled with DualCLIPLoader(flux) + CLIPTextEncodeFlux, as users wire it."""
import pytest
import torch

from tests.dit.flow_toys import tiny_flux, tiny_flux_config


@pytest.fixture()
def cpu_fp32():
    from core import devices

    devices.configure({"cpu": True, "force_fp32": True})
    yield devices
    devices.configure(None)


@pytest.fixture()
def flux_unet(text_encoders_folder):
    from safetensors.torch import save_file

    from core import paths

    config = tiny_flux_config(context_in_dim=96, vec_in_dim=32)
    folder = paths.get().models_dir / "diffusion_models"
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tiny_flux(config).state_dict().items()},
              str(folder / "flux1-dev.safetensors"))
    return "flux1-dev.safetensors"


def test_flux_text_conditioning_samples_a_tiny_flux_and_the_prompt_matters(cpu_fp32, flux_unet):
    from nodes.dit_text import CLIPTextEncodeFlux
    from nodes.latent_extra import EmptySD3LatentImage
    from nodes.loaders import UNETLoader
    from nodes.sampling import KSampler
    from nodes.text import CLIPTextEncode, DualCLIPLoader

    (model,) = UNETLoader().execute(flux_unet, "default")
    (clip,) = DualCLIPLoader().execute("clip_l.safetensors", "t5xxl_fp8_e4m3fn_scaled.safetensors", "flux")
    (latent,) = EmptySD3LatentImage().execute(32, 32, 1)
    (negative,) = CLIPTextEncode().execute(clip, "")

    def sample(text):
        (positive,) = CLIPTextEncodeFlux().execute(clip, text, text, 3.5)
        return KSampler().execute(model, 7, 3, 1.0, "euler", "simple", positive, negative, latent, 1.0)[0]["samples"]

    cat, dog = sample("a cat"), sample("a dog")
    assert cat.shape == (1, 16, 4, 4) and torch.isfinite(cat).all()
    assert not torch.allclose(cat, dog)
