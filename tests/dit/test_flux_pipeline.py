"""A tiny FLUX.1 file loaded the way users load one (UNETLoader from models/diffusion_models) and sampled
end to end with the built-in nodes on a 16-channel latent."""
from __future__ import annotations

import pytest
import torch

from flow_toys import tiny_flux, tiny_flux_config


@pytest.fixture()
def flux_file(folders):
    from safetensors.torch import save_file

    def write(name: str = "flux1-dev-tiny.safetensors", guidance: bool = True, prefix: str = ""):
        sd = {prefix + k: v.contiguous() for k, v in tiny_flux(tiny_flux_config(guidance)).state_dict().items()}
        folder = folders.base / "models" / "diffusion_models"
        folder.mkdir(parents=True, exist_ok=True)
        save_file(sd, str(folder / name))
        return name

    return write


def flux_conditioning(tokens: int = 4, guidance=None, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    opts = {"pooled_output": torch.randn(1, 12, generator=g)}
    if guidance is not None:
        opts["guidance"] = guidance
    return [[torch.randn(1, tokens, 20, generator=g), opts]]


def test_unetloader_loads_a_flux_file_as_a_flow_model(cpu_fp32, flux_file):
    from core.models.flux import Flux
    from core.sampling.model_sampling import FluxSchedule
    from nodes.loaders import UNETLoader

    (model,) = UNETLoader().execute(flux_file(), "default")
    assert isinstance(model.unet, Flux)
    assert (model.config.family, model.config.prediction) == ("flux", "flow")
    assert isinstance(model.model_sampling, FluxSchedule) and model.model_sampling.shift == 1.15
    assert model.latent_format.name == "flux" and model.latent_format.latent_channels == 16


def test_unetloader_loads_schnell_with_its_unshifted_schedule(cpu_fp32, flux_file):
    from core.sampling.model_sampling import FlowSchedule
    from nodes.loaders import UNETLoader

    (model,) = UNETLoader().execute(flux_file("flux1-schnell-tiny.safetensors", guidance=False), "default")
    assert model.config.family == "flux_schnell"
    assert isinstance(model.model_sampling, FlowSchedule) and model.model_sampling.multiplier == 1.0


def test_ksampler_runs_tiny_flux_end_to_end_on_a_16_channel_latent(cpu_fp32, flux_file):
    from nodes.conditioning import FluxGuidance
    from nodes.latent_extra import EmptySD3LatentImage
    from nodes.loaders import UNETLoader
    from nodes.model_sampling import ModelSamplingFlux
    from nodes.sampling import KSampler

    (model,) = UNETLoader().execute(flux_file(), "default")
    (model,) = ModelSamplingFlux().execute(model, 1.15, 0.5, 64, 48)
    (latent,) = EmptySD3LatentImage().execute(64, 48, 1)
    (positive,) = FluxGuidance().execute(flux_conditioning(), 3.5)
    negative = flux_conditioning(seed=1)
    (out,) = KSampler().execute(model, 42, 4, 1.0, "euler", "simple", positive, negative, latent, 1.0)
    (again,) = KSampler().execute(model, 42, 4, 1.0, "euler", "simple", positive, negative, latent, 1.0)
    assert out["samples"].shape == (1, 16, 6, 8)
    assert torch.isfinite(out["samples"]).all() and float(out["samples"].std()) > 0
    assert torch.equal(out["samples"], again["samples"])


def test_flux_guidance_reaches_the_network(cpu_fp32, flux_file):
    from nodes.loaders import UNETLoader
    from nodes.sampling import KSampler

    (model,) = UNETLoader().execute(flux_file(), "default")
    latent = {"samples": torch.zeros(1, 16, 4, 4)}
    outs = [KSampler().execute(model, 1, 3, 1.0, "euler", "simple", flux_conditioning(guidance=g),
                               flux_conditioning(), latent, 1.0)[0]["samples"] for g in (1.0, 3.5, None)]
    assert not torch.allclose(outs[0], outs[1])
    assert torch.equal(outs[1], outs[2])  # no FluxGuidance: ComfyUI's default 3.5


def test_ksampler_on_flux_equals_an_euler_loop_over_the_network_written_here(cpu_fp32, flux_file):
    """The whole path (latent format, noise scaling, timestep, guidance vector, x0 = x - sigma v, Euler)
    against a plain loop over the raw network."""
    from core.sampling.noise import initial_noise
    from core.sampling.sample import ksampler_sigmas
    from nodes.loaders import UNETLoader
    from nodes.sampling import KSampler

    (model,) = UNETLoader().execute(flux_file(), "default")
    cond = flux_conditioning(guidance=2.5)
    (out,) = KSampler().execute(model, 9, 5, 1.0, "euler", "beta", cond, cond, {"samples": torch.zeros(1, 16, 4, 6)}, 1.0)

    sigmas = ksampler_sigmas(model, 5, "euler", "beta")
    context, opts = cond[0]
    y = torch.cat([opts["pooled_output"], torch.tensor([[2.5]])], dim=1)
    shift, scale = 0.1159, 0.3611
    latent = (torch.zeros(1, 16, 4, 6) - shift) * scale
    x = sigmas[0] * initial_noise((1, 16, 4, 6), 9) + (1 - sigmas[0]) * latent
    with torch.no_grad():
        for i in range(len(sigmas) - 1):
            v = model.unet(x, sigmas[i:i + 1], context, y=y)
            x = x + v * (sigmas[i + 1] - sigmas[i])  # dx/dsigma = v on the straight path
    assert torch.allclose(out["samples"], x / scale + shift, atol=1e-4)


def test_samplercustomadvanced_with_basic_guider_equals_ksampler_at_cfg_1(cpu_fp32, flux_file):
    from nodes.custom_sampling import BasicScheduler, KSamplerSelect
    from nodes.guiders import BasicGuider, RandomNoise, SamplerCustomAdvanced
    from nodes.loaders import UNETLoader
    from nodes.sampling import KSampler

    (model,) = UNETLoader().execute(flux_file(), "default")
    cond = flux_conditioning(guidance=3.5)
    latent = {"samples": torch.zeros(1, 16, 4, 4)}
    (noise,) = RandomNoise().execute(5)
    (guider,) = BasicGuider().execute(model, cond)
    (sampler,) = KSamplerSelect().execute("euler")
    (sigmas,) = BasicScheduler().execute(model, "simple", 4, 1.0)
    out, denoised = SamplerCustomAdvanced().execute(noise, guider, sampler, sigmas, latent)
    (ref,) = KSampler().execute(model, 5, 4, 1.0, "euler", "simple", cond, cond, latent, 1.0)
    assert torch.allclose(out["samples"], ref["samples"], atol=1e-6)
    assert denoised["samples"].shape == out["samples"].shape
