"""A tiny FLUX.1 sampled through our nodes equals diffusers' FluxPipeline denoising loop (FluxTransformer2DModel
+ FlowMatchEulerDiscreteScheduler with the pipeline's sigmas and resolution shift) on the same weights and noise."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.flux.flux_testing import diffusers_twin, flux_conditioning, flux_handle, tiny_flux, tiny_flux_config

SHIFT, SCALE = 0.1159, 0.3611
WIDTH, HEIGHT = 128, 96  # latent 16 x 12 -> 48 tokens
# ComfyUI's "simple" scheduler reads its sigmas from a 10000-entry (FLUX) / 1000-entry (schnell) table, so it
# equals the pipeline's linspace(1, 1/steps, steps) exactly when steps divides both; at other counts it
# differs by up to 1/1000 (ComfyUI's behaviour, kept): those runs get the pipeline's own sigmas instead.
STEPS = 5


def pipeline_scheduler(config, image_seq_len: int, steps: int):
    """FlowMatchEulerDiscreteScheduler as the released model_index configures it, with FluxPipeline's
    sigmas and resolution shift set (steps 5 of FluxPipeline.__call__)."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.flux.pipeline_flux import calculate_shift, retrieve_timesteps

    if config.guidance_embed:  # FLUX.1 [dev]: dynamic (resolution-dependent) shift
        scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                    max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)
    else:  # FLUX.1 [schnell]: no shift
        scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)
    mu = calculate_shift(image_seq_len, 256, 4096, 0.5, 1.15)
    retrieve_timesteps(scheduler, steps, "cpu", sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
    return scheduler


def diffusers_flux_loop(ref, config, noise, cond, guidance, steps: int = STEPS):
    """FluxPipeline.__call__'s denoising loop (step 6) written out."""
    from diffusers import FluxPipeline

    B, C, h, w = noise.shape
    latents = FluxPipeline._pack_latents(noise, B, C, h, w)
    ids = FluxPipeline._prepare_latent_image_ids(B, h // 2, w // 2, "cpu", torch.float32)
    scheduler = pipeline_scheduler(config, latents.shape[1], steps)
    timesteps = scheduler.timesteps
    context, opts = cond[0]
    g = torch.full([B], guidance, dtype=torch.float32) if config.guidance_embed else None
    with torch.no_grad():
        for t in timesteps:
            v = ref(hidden_states=latents, timestep=t.expand(B) / 1000, guidance=g,
                    pooled_projections=opts["pooled_output"], encoder_hidden_states=context,
                    txt_ids=torch.zeros(context.shape[1], 3), img_ids=ids).sample
            latents = scheduler.step(v, t, latents, return_dict=False)[0]
    return FluxPipeline._unpack_latents(latents, h * 8, w * 8, 8), scheduler.sigmas


def tiny_pair(guidance_embed: bool):
    config = tiny_flux_config(guidance=guidance_embed)
    ours = tiny_flux(config, seed=11, std=0.05)
    name = "flux1-dev-tiny.safetensors" if guidance_embed else "flux1-schnell-tiny.safetensors"
    return config, flux_handle(ours, config, name), diffusers_twin(ours, config)


def our_model(model, guidance_embed: bool):
    """What the templates wire: ModelSamplingFlux at the image size for [dev]; [schnell] as loaded."""
    from nodes.model_sampling import ModelSamplingFlux

    if not guidance_embed:
        return model
    return ModelSamplingFlux().execute(model, 1.15, 0.5, WIDTH, HEIGHT)[0]


@pytest.mark.parametrize("guidance_embed", [True, False], ids=["dev", "schnell"])
def test_ksampler_equals_the_diffusers_flux_pipeline_loop(cpu_fp32, guidance_embed):
    from core.sampling.noise import initial_noise
    from nodes.conditioning import FluxGuidance
    from nodes.latent_extra import EmptySD3LatentImage
    from nodes.sampling import KSampler

    config, model, ref = tiny_pair(guidance_embed)
    cond = flux_conditioning(tokens=5)
    if guidance_embed:
        (cond,) = FluxGuidance().execute(cond, 3.5)
    (latent,) = EmptySD3LatentImage().execute(WIDTH, HEIGHT, 1)
    (out,) = KSampler().execute(our_model(model, guidance_embed), 21, STEPS, 1.0, "euler", "simple", cond,
                                flux_conditioning(seed=5), latent, 1.0)
    want, _ = diffusers_flux_loop(ref, config, initial_noise(latent["samples"].shape, 21), cond, 3.5)
    got = (out["samples"] - SHIFT) * SCALE  # back to the space diffusers' latents live in
    assert float((want - initial_noise(want.shape, 21)).abs().max()) > 0.1  # the loop really moved
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


@pytest.mark.parametrize("guidance_embed", [True, False], ids=["dev", "schnell"])
def test_basicscheduler_gives_the_pipelines_sigmas_with_the_resolution_shift(guidance_embed):
    from nodes.custom_sampling import BasicScheduler

    config, model, ref = tiny_pair(guidance_embed)
    (sigmas,) = BasicScheduler().execute(our_model(model, guidance_embed), "simple", STEPS, 1.0)
    want = pipeline_scheduler(config, (HEIGHT // 16) * (WIDTH // 16), STEPS).sigmas
    assert torch.allclose(sigmas.double(), want.double(), atol=1e-6)
    linear = 1 - 1 / STEPS
    if guidance_embed:  # the shift is really in play: mu = 0.465 at 48 tokens lifts sigmas above linear
        assert float(sigmas[1]) > linear + 0.01
    else:
        assert float(sigmas[1]) == pytest.approx(linear)


@pytest.mark.parametrize("guidance_embed", [True, False], ids=["dev", "schnell"])
def test_samplercustomadvanced_given_the_pipelines_sigmas_equals_its_loop(cpu_fp32, guidance_embed):
    from nodes.conditioning import FluxGuidance
    from nodes.custom_sampling import KSamplerSelect
    from nodes.guiders import BasicGuider, RandomNoise, SamplerCustomAdvanced
    from nodes.latent_extra import EmptySD3LatentImage

    config, model, ref = tiny_pair(guidance_embed)
    cond = flux_conditioning(tokens=5, seed=2)
    if guidance_embed:
        (cond,) = FluxGuidance().execute(cond, 2.0)
    (latent,) = EmptySD3LatentImage().execute(WIDTH, HEIGHT, 1)
    (noise,) = RandomNoise().execute(33)
    want, sigmas = diffusers_flux_loop(ref, config, noise.generate_noise(latent), cond, 2.0, steps=7)
    out, _ = SamplerCustomAdvanced().execute(noise, BasicGuider().execute(model, cond)[0],
                                             KSamplerSelect().execute("euler")[0], sigmas.float(), latent)
    got = (out["samples"] - SHIFT) * SCALE
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())
