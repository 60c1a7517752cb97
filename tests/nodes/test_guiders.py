"""SamplerCustomAdvanced with NOISE/GUIDER values equals SamplerCustom; SetFirstSigma; CFGNorm's patch."""
import pytest
import torch

from nodes import guiders


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from core.models.checkpoint import load_checkpoint
    from core.models.tiny import write_tiny_checkpoint

    path = write_tiny_checkpoint(tmp_path_factory.mktemp("g") / "sd15.safetensors", "sd15")
    return load_checkpoint(path, output_vae=False, unet_dtype=torch.float32, clip_dtype=torch.float32)[:2]


def test_sampler_custom_advanced_with_cfg_guider_equals_sampler_custom(tiny):
    from nodes.custom_sampling import BasicScheduler, KSamplerSelect, SamplerCustom
    from nodes.latent import EmptyLatentImage

    model, clip = tiny
    pos, neg = clip.encode("a red house"), clip.encode("blurry")
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    sampler = KSamplerSelect().execute("euler")[0]
    sigmas = BasicScheduler().execute(model, "normal", 3, 1.0)[0]
    noise = guiders.RandomNoise().execute(5)[0]
    guider = guiders.CFGGuider().execute(model, pos, neg, 6.0)[0]
    out, denoised = guiders.SamplerCustomAdvanced().execute(noise, guider, sampler, sigmas, latent)
    ref, ref_denoised = SamplerCustom().execute(model, True, 5, 6.0, pos, neg, sampler, sigmas, latent)
    assert torch.equal(out["samples"], ref["samples"]) and torch.equal(denoised["samples"], ref_denoised["samples"])


def test_disabled_noise_and_basic_guider_run_without_a_negative(tiny):
    from nodes.custom_sampling import BasicScheduler, KSamplerSelect
    from nodes.latent import EmptyLatentImage

    model, clip = tiny
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    guider = guiders.BasicGuider().execute(model, clip.encode("a red house"))[0]
    sigmas = BasicScheduler().execute(model, "normal", 2, 0.5)[0]
    out = guiders.SamplerCustomAdvanced().execute(guiders.DisableNoise().execute()[0], guider,
                                                  KSamplerSelect().execute("euler")[0], sigmas, latent)[0]
    assert out["samples"].shape == (1, 4, 8, 8) and torch.isfinite(out["samples"]).all()


def test_set_first_sigma_replaces_only_the_first():
    sigmas = torch.tensor([14.6, 3.0, 0.0])
    out = guiders.SetFirstSigma().execute(sigmas, 999.0)[0]
    assert out.tolist() == [999.0, 3.0, 0.0] and sigmas[0] == pytest.approx(14.6)


def test_cfg_norm_attenuates_only_where_the_guided_norm_exceeds_the_conditional(tiny):
    model, _ = tiny
    patched = guiders.CFGNorm().execute(model, 1.0)[0]
    fn = patched.model_options["sampler_post_cfg_function"][-1]
    cond = torch.ones(1, 4, 2, 2)
    denoised = torch.ones(1, 4, 2, 2)
    denoised[..., 0, 0] = 3.0  # three times the conditional norm at one pixel
    out = fn({"cond_denoised": cond, "denoised": denoised})
    assert torch.allclose(out[..., 0, 0], torch.ones(1, 4)) and torch.equal(out[..., 1, 1], denoised[..., 1, 1])
    assert "sampler_post_cfg_function" not in model.model_options
