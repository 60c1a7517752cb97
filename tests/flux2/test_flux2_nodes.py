"""EmptyFlux2LatentImage and Flux2Scheduler: the FLUX.2 latent shape and BFL's resolution-dependent schedule,
checked against diffusers' Flux2Pipeline (compute_empirical_mu + FlowMatchEulerDiscreteScheduler)."""
from __future__ import annotations

import numpy as np
import pytest
import torch


def test_empty_flux2_latent_is_128_channels_at_a_sixteenth():
    from nodes.flux2 import EmptyFlux2LatentImage

    (latent,) = EmptyFlux2LatentImage().execute(1248, 832, 3)
    assert latent["samples"].shape == (3, 128, 52, 78)
    assert not latent["samples"].any()


def diffusers_sigmas(steps: int, width: int, height: int) -> torch.Tensor:
    """Flux2Pipeline's sigmas: linspace(1, 1/N, N) through the exponential dynamic shift with its mu, then 0."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.flux2.pipeline_flux2 import compute_empirical_mu

    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, time_shift_type="exponential")
    mu = compute_empirical_mu(image_seq_len=(height // 16) * (width // 16), num_steps=steps)
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
    return scheduler.sigmas


@pytest.mark.parametrize("steps,width,height", [(20, 1024, 1024), (4, 1024, 1024), (50, 1024, 1024),
                                                (8, 1248, 832), (28, 2048, 2048), (1, 512, 768)])
def test_flux2_scheduler_equals_diffusers_flux2_pipeline_schedule(steps, width, height):
    from nodes.flux2 import Flux2Scheduler

    (sigmas,) = Flux2Scheduler().execute(steps, width, height)
    want = diffusers_sigmas(steps, width, height)
    assert sigmas.shape == (steps + 1,) and float(sigmas[0]) == 1.0 and float(sigmas[-1]) == 0.0
    assert torch.allclose(sigmas, want.float(), atol=1e-6, rtol=0)


def test_more_pixels_shift_the_schedule_toward_noise():
    from nodes.flux2 import Flux2Scheduler

    (small,) = Flux2Scheduler().execute(20, 512, 512)
    (large,) = Flux2Scheduler().execute(20, 2048, 2048)
    assert bool((large[1:-1] > small[1:-1]).all())


def test_the_default_model_shift_is_the_schedules_mu_at_1024_pixels_and_50_steps():
    from core.sampling.flux2_schedule import empirical_mu
    from core.sampling.model_sampling import default_for_family

    assert default_for_family("flux2").shift == round(empirical_mu(4096, 50), 2) == 2.02


def test_flux_kv_cache_gives_a_model_in_reference_kv_mode_sharing_the_weights(cpu_fp32, folders):
    from core.models.tiny import write_tiny_flux2
    from nodes.flux2 import FluxKVCache
    from nodes.loaders import UNETLoader

    write_tiny_flux2(folders.base / "models" / "diffusion_models" / "flux-2-klein-9b-kv.safetensors")
    (model,) = UNETLoader().execute("flux-2-klein-9b-kv.safetensors", "default")
    (kv,) = FluxKVCache().execute(model)
    assert kv.unet.reference_kv and not model.unet.reference_kv
    assert kv.unet.single_blocks is model.unet.single_blocks
    assert kv.model_sampling is model.model_sampling and kv.latent_format is model.latent_format


def test_flux_kv_cache_refuses_a_model_that_is_not_flux2_by_name(cpu_fp32, folders):
    from core.models.tiny import write_tiny_checkpoint
    from nodes.flux2 import FluxKVCache
    from nodes.loaders import CheckpointLoaderSimple

    write_tiny_checkpoint(folders.base / "models" / "checkpoints" / "sd15.safetensors")
    model = CheckpointLoaderSimple().execute("sd15.safetensors")[0]
    with pytest.raises(ValueError, match="FluxKVCache, input 'model': a sd1 model has no reference K/V mode"):
        FluxKVCache().execute(model)
