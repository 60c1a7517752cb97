"""A tiny SD3.5 sampled through our KSampler path equals a diffusers loop (SD3Transformer2DModel +
FlowMatchEulerDiscreteScheduler, same weights, noise and sigmas); skip-layer guidance equals the formula
D_cfg + scale * (D_cond - D_cond,skipped) computed here with diffusers' own ``skip_layers``."""
from __future__ import annotations

import pytest
import torch

from sd3_reference import diffusers_from_released

CFG = 4.5
STEPS = 4


@pytest.fixture()
def sd3_model(cpu_fp32, folders):
    from core.models.tiny import write_tiny_sd3
    from nodes.loaders import UNETLoader

    write_tiny_sd3(folders.base / "models" / "diffusion_models" / "sd3.5_medium.safetensors", "sd35_medium",
                   unet_only=True)
    (model,) = UNETLoader().execute("sd3.5_medium.safetensors", "default")
    return model


def _reference(model):
    from core.models.tiny import tiny_mmdit_state_dict

    cfg = model.config.unet
    return diffusers_from_released(tiny_mmdit_state_dict(cfg, 0), cfg)


def _conds(seed=0, tokens=6):
    g = torch.Generator().manual_seed(seed)
    pos = [[torch.randn(1, tokens, 4096, generator=g), {"pooled_output": torch.randn(1, 2048, generator=g)}]]
    neg = [[torch.randn(1, tokens, 4096, generator=g), {"pooled_output": torch.randn(1, 2048, generator=g)}]]
    return pos, neg


def _diffusers_sigmas():
    from diffusers import FlowMatchEulerDiscreteScheduler

    sched = FlowMatchEulerDiscreteScheduler(shift=3.0)
    sched.set_timesteps(STEPS)
    return sched


def _ours(model, noise, sigmas, pos, neg):
    from core.sampling.sample import sample_custom
    from core.sampling.samplers import get_sampler

    latent = torch.zeros_like(noise)
    return sample_custom(model, noise, CFG, get_sampler("euler"), sigmas, pos, neg, latent, seed=0)


def _diffusers_loop(ref, noise, pos, neg, slg=None):
    """The StableDiffusion3Pipeline denoising loop, written out: batched CFG on the velocity, scheduler.step;
    ``slg=(layers, scale, sigma_start, sigma_end)`` adds scale * (v_cond - v_cond,skipped) in that range."""
    sched = _diffusers_sigmas()  # a fresh one: the scheduler counts its steps
    (pc, po), (nc, no) = pos[0], neg[0]
    ctx = torch.cat([nc, pc])
    pooled = torch.cat([no["pooled_output"], po["pooled_output"]])
    latents = noise.clone()
    with torch.no_grad():
        for i, t in enumerate(sched.timesteps):
            v = ref(hidden_states=torch.cat([latents] * 2), encoder_hidden_states=ctx, pooled_projections=pooled,
                    timestep=t.expand(2)).sample
            v_u, v_c = v.chunk(2)
            guided = v_u + CFG * (v_c - v_u)
            if slg is not None and slg[3] <= float(sched.sigmas[i]) <= slg[2]:
                v_skip = ref(hidden_states=latents, encoder_hidden_states=pc, pooled_projections=po["pooled_output"],
                             timestep=t.expand(1), skip_layers=list(slg[0])).sample
                guided = guided + slg[1] * (v_c - v_skip)
            latents = sched.step(guided, t, latents).prev_sample
    return latents / 1.5305 + 0.0609  # the SD3 latent format back to raw VAE space, as the pipeline decodes


def test_ksampler_path_equals_a_diffusers_sd3_loop(sd3_model):
    sched = _diffusers_sigmas()
    noise = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(5))
    pos, neg = _conds()
    ours = _ours(sd3_model, noise, sched.sigmas.clone(), pos, neg)
    want = _diffusers_loop(_reference(sd3_model), noise, pos, neg)
    assert (want - 0.0609).abs().mean() > 0.05
    torch.testing.assert_close(ours, want, atol=1e-4, rtol=1e-4)


def test_skip_layer_guidance_equals_the_formula_over_a_whole_loop(sd3_model):
    from nodes.sd3 import SkipLayerGuidanceSD3

    sched = _diffusers_sigmas()
    (model,) = SkipLayerGuidanceSD3().execute(sd3_model, "1", 2.5, 0.0, 0.6)
    slg = model.model_options["skip_layer_guidance"]
    noise = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(6))
    pos, neg = _conds(1)
    ours = _ours(model, noise, sched.sigmas.clone(), pos, neg)
    ref = _reference(sd3_model)
    want = _diffusers_loop(ref, noise, pos, neg, slg=((1,), 2.5, slg.sigma_start, slg.sigma_end))
    plain = _diffusers_loop(ref, noise, pos, neg)
    # the range covers some steps but not all
    active = [slg.sigma_end <= float(s) <= slg.sigma_start for s in sched.sigmas[:-1]]
    assert any(active) and not all(active)
    assert (want - plain).abs().max() > 1e-2
    torch.testing.assert_close(ours, want, atol=1e-4, rtol=1e-4)


def test_skip_layer_guidance_percent_range_maps_through_the_model_sampling(sd3_model):
    from nodes.sd3 import SkipLayerGuidanceSD3

    (model,) = SkipLayerGuidanceSD3().execute(sd3_model, "0,2", 3.0, 0.01, 0.15)
    slg = model.model_options["skip_layer_guidance"]
    sampling = sd3_model.model_sampling
    assert slg.double_layers == (0, 2) and slg.single_layers == ()
    assert slg.sigma_start == pytest.approx(sampling.percent_to_sigma(0.01))
    assert slg.sigma_end == pytest.approx(sampling.percent_to_sigma(0.15))
    assert "skip_layer_guidance" not in sd3_model.model_options  # the input MODEL is unchanged


def test_rescaling_scale_pulls_the_std_toward_the_conditional_prediction():
    from core.sampling.guidance import SkipLayerGuidance

    g = torch.Generator().manual_seed(0)
    denoised, cond, skipped = (torch.randn(1, 4, 3, 3, generator=g) for _ in range(3))
    slg = SkipLayerGuidance((1,), (), 2.0, 1.0, 0.0, rescaling_scale=0.7)
    out = denoised + 2.0 * (cond - skipped)
    factor = 0.7 * (cond.std() / out.std()) + 0.3
    torch.testing.assert_close(slg.apply(denoised, cond, skipped), out * factor)
    assert not torch.allclose(slg.apply(denoised, cond, skipped), out)


def test_skip_layer_guidance_dit_ignores_single_layers_on_an_mmdit(sd3_model):
    from nodes.sd3 import SkipLayerGuidanceDiT

    (model,) = SkipLayerGuidanceDiT().execute(sd3_model, 3.0, 0.01, 0.15, double_layers="1, 2",
                                              single_layers="7, 8, 9")
    slg = model.model_options["skip_layer_guidance"]
    assert (slg.double_layers, slg.single_layers) == ((1, 2), ())


def test_a_layer_beyond_the_model_is_refused_naming_the_depth(sd3_model):
    from nodes.sd3 import SkipLayerGuidanceSD3

    with pytest.raises(ValueError, match=r"SkipLayerGuidanceSD3, input 'layers': layer 9 does not exist.*3 joint"):
        SkipLayerGuidanceSD3().execute(sd3_model, "7, 8, 9", 3.0, 0.01, 0.15)


def test_empty_layer_list_returns_the_model_unchanged(sd3_model):
    from nodes.sd3 import SkipLayerGuidanceSD3

    (model,) = SkipLayerGuidanceSD3().execute(sd3_model, "", 3.0, 0.01, 0.15)
    assert model is sd3_model


def test_a_unet_model_is_refused_for_skip_layer_guidance(cpu_fp32, tmp_path):
    from core.models.checkpoint import load_checkpoint
    from core.models.tiny import write_tiny_checkpoint
    from nodes.sd3 import SkipLayerGuidanceSD3

    model, _, _ = load_checkpoint(write_tiny_checkpoint(tmp_path / "sd15.safetensors"), output_clip=False,
                                  output_vae=False)
    with pytest.raises(ValueError, match="SkipLayerGuidanceSD3, input 'model'.*cannot leave out transformer blocks"):
        SkipLayerGuidanceSD3().execute(model, "1", 3.0, 0.01, 0.15)
