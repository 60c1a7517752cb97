"""KSampler behaviour end to end on tiny checkpoints (seeded random weights, real key layout)."""
import pytest

import torch

from core.execution import progress
from nodes.conditioning import ConditioningSetTimestepRange
from nodes.inpaint import SetLatentNoiseMask, VAEEncodeForInpaint
from nodes.latent import EmptyLatentImage, LatentFromBatch
from nodes.sampling import KSampler, KSamplerAdvanced

pytestmark = pytest.mark.usefixtures("cpu_fp32")


def _conds(clip):
    return clip.encode("a red house"), clip.encode("blurry")


def _run(model, clip, latent, seed=1, steps=3, denoise=1.0, sampler="euler", scheduler="normal", cfg=7.0):
    pos, neg = _conds(clip)
    return KSampler().execute(model, seed, steps, cfg, sampler, scheduler, pos, neg, latent, denoise)[0]


def test_same_seed_gives_identical_latents(tiny_models):
    _, (model, clip, _) = tiny_models("sd15")
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    a = _run(model, clip, latent, seed=7)["samples"]
    b = _run(model, clip, latent, seed=7)["samples"]
    assert a.shape == (1, 4, 8, 8)
    assert torch.equal(a, b)


def test_different_seeds_give_different_latents(tiny_models):
    _, (model, clip, _) = tiny_models("sd15")
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    assert not torch.allclose(_run(model, clip, latent, seed=1)["samples"], _run(model, clip, latent, seed=2)["samples"])


def test_output_is_returned_in_raw_vae_space(tiny_models, monkeypatch):
    """With a U-Net that predicts zero noise, the sampler returns its start point: latent + noise * sqrt(1+s0^2),
    divided by the scale factor on the way out."""
    from core.sampling.noise import initial_noise
    from core.sampling.sample import schedule_for

    _, (model, clip, _) = tiny_models("sd15")
    m = model.clone()
    real = m.unet
    m.unet = type("ZeroEps", (torch.nn.Module,), {"forward": lambda self, x, t, c, y=None, control=None: torch.zeros_like(x)})()
    m.unet.register_parameter("w", torch.nn.Parameter(torch.zeros(1)))
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    out = _run(m, clip, latent, seed=3, steps=2)["samples"]
    s0 = schedule_for(m).sigma_max
    expected = initial_noise((1, 4, 8, 8), 3) * (1 + s0 ** 2) ** 0.5 / m.latent_format.scale_factor
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert real is model.unet


def test_denoise_zero_returns_the_input_latent(tiny_models):
    _, (model, clip, _) = tiny_models("sd15")
    latent = {"samples": torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))}
    out = _run(model, clip, latent, denoise=0.0)
    assert torch.equal(out["samples"], latent["samples"])


def test_partial_denoise_stays_closer_to_the_input_than_full(tiny_models):
    _, (model, clip, _) = tiny_models("sd15")
    latent = {"samples": torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))}
    low = _run(model, clip, latent, denoise=0.2, steps=4)["samples"]
    full = _run(model, clip, latent, denoise=1.0, steps=4)["samples"]
    assert (low - latent["samples"]).abs().mean() < (full - latent["samples"]).abs().mean()


def test_noise_mask_leaves_the_unmasked_latent_unchanged(tiny_models):
    _, (model, clip, _) = tiny_models("sd15")
    latent = {"samples": torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))}
    mask = torch.zeros(64, 64)
    mask[16:48, 16:48] = 1.0
    masked = SetLatentNoiseMask().execute(latent, mask)[0]
    out = _run(model, clip, masked, steps=3)["samples"]
    keep = torch.ones(8, 8, dtype=torch.bool)
    keep[1:7, 1:7] = False  # bilinear resize blurs the edge of the mask by one latent pixel
    assert torch.equal(out[:, :, keep], latent["samples"][:, :, keep])
    assert not torch.allclose(out[:, :, 3:5, 3:5], latent["samples"][:, :, 3:5, 3:5])


def test_inpainting_unet_gets_mask_and_masked_image_channels(tiny_models):
    _, (model, clip, vae) = tiny_models("sd15_inpaint")
    assert model.config.in_channels == 9
    seen = []
    handle = model.unet.register_forward_pre_hook(lambda mod, args: seen.append(args[0].shape[1]))
    try:
        image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
        mask = torch.zeros(64, 64)
        mask[:32] = 1
        latent = VAEEncodeForInpaint().execute(vae, image, mask, 6)[0]
        out = _run(model, clip, latent, steps=2)["samples"]
    finally:
        handle.remove()
    assert set(seen) == {9}
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("family", ["sdxl", "sd21v"])
def test_other_families_sample_finite_latents(tiny_models, family):
    _, (model, clip, _) = tiny_models(family)
    latent = EmptyLatentImage().execute(64, 64, 2)[0]
    out = _run(model, clip, latent, steps=2)["samples"]
    assert out.shape == (2, 4, 8, 8) and torch.isfinite(out).all()


def test_batch_item_from_latent_from_batch_reproduces_that_item(tiny_models):
    _, (model, clip, _) = tiny_models("sd15")
    batch = EmptyLatentImage().execute(64, 64, 3)[0]
    whole = _run(model, clip, batch, seed=11)["samples"]
    single = LatentFromBatch().execute(batch, 2, 1)[0]
    alone = _run(model, clip, single, seed=11)["samples"]
    torch.testing.assert_close(alone[0], whole[2], rtol=1e-4, atol=1e-4)


def test_ksampler_advanced_split_equals_one_run(tiny_models):
    """Steps 0..2 with leftover noise, then 2..4 without adding noise, equals all 4 steps at once."""
    _, (model, clip, _) = tiny_models("sd15")
    pos, neg = _conds(clip)
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    adv = KSamplerAdvanced()
    first = adv.execute(model, "enable", 5, 4, 7.0, "euler", "karras", pos, neg, latent, 0, 2, "enable")[0]
    second = adv.execute(model, "disable", 5, 4, 7.0, "euler", "karras", pos, neg, first, 2, 10000, "disable")[0]
    whole = adv.execute(model, "enable", 5, 4, 7.0, "euler", "karras", pos, neg, latent, 0, 10000, "disable")[0]
    torch.testing.assert_close(second["samples"], whole["samples"], rtol=1e-4, atol=1e-4)


def test_conditioning_outside_its_timestep_range_is_ignored(tiny_models):
    _, (model, clip, _) = tiny_models("sd15")
    pos, neg = _conds(clip)
    other = clip.encode("a green forest")
    # 3 "normal" steps evaluate sigma at t = 999, 499.5, 0; the range 0.7..0.9 (t 299.7..99.9) holds none of them
    late = ConditioningSetTimestepRange().execute(other, 0.7, 0.9)[0]
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    ks = KSampler()
    base = ks.execute(model, 1, 3, 7.0, "euler", "normal", pos, neg, latent, 1.0)[0]["samples"]
    with_late = ks.execute(model, 1, 3, 7.0, "euler", "normal", pos + late, neg, latent, 1.0)[0]["samples"]
    torch.testing.assert_close(base, with_late)
    always = ConditioningSetTimestepRange().execute(other, 0.0, 1.0)[0]
    with_always = ks.execute(model, 1, 3, 7.0, "euler", "normal", pos + always, neg, latent, 1.0)[0]["samples"]
    assert not torch.allclose(base, with_always)


def test_interrupt_stops_sampling_within_one_step(tiny_models):
    _, (model, clip, _) = tiny_models("sd15")
    flag = progress.InterruptFlag()
    events = []

    def emit(event, data):
        events.append(data["value"])
        if data["value"] == 2:
            flag.set()

    calls = []
    handle = model.unet.register_forward_pre_hook(lambda mod, args: calls.append(1))
    ctx = progress.JobContext(prompt_id="p", node_id="3", interrupt=flag, emit=emit)
    try:
        with progress.job_context(ctx), pytest.raises(progress.Interrupted):
            _run(model, clip, EmptyLatentImage().execute(64, 64, 1)[0], steps=20)
    finally:
        handle.remove()
    assert len(calls) <= 3  # interrupted during step 3 at the latest, not after 20 steps
    assert max(events) <= 3


def test_progress_reports_every_step_with_previews_when_enabled(tiny_models):
    _, (model, clip, _) = tiny_models("sd15")
    events, previews = [], []
    ctx = progress.JobContext(prompt_id="p", node_id="3", interrupt=progress.InterruptFlag(),
                              emit=lambda e, d: events.append(d), emit_preview=lambda n, img: previews.append(img),
                              preview_method="latent2rgb")
    with progress.job_context(ctx):
        _run(model, clip, EmptyLatentImage().execute(64, 64, 1)[0], steps=4)
    assert [e["value"] for e in events] == [1, 2, 3, 4]
    assert all(e["max"] == 4 for e in events)
    assert len(previews) == 4 and previews[0].size == (8, 8)


@pytest.mark.parametrize("sampler", __import__("core.sampling.names", fromlist=["x"]).SAMPLER_NAMES)
def test_every_sampler_runs_through_ksampler(tiny_models, sampler):
    _, (model, clip, _) = tiny_models("sd15")
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    mask = torch.zeros(1, 64, 64)
    mask[:, :32] = 1
    out = _run(model, clip, SetLatentNoiseMask().execute(latent, mask)[0], steps=3, sampler=sampler,
               scheduler="karras")["samples"]
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()
    assert torch.equal(out[:, :, 5:], latent["samples"][:, :, 5:])  # below the mask: kept exactly


def test_cfg_pp_at_cfg_one_still_renoises_with_the_negative_prompt(tiny_models):
    """CFG++ asks guidance for the unconditional estimate (denoise_pair), which runs the negative prompt even
    where plain CFG at 1 skips it; with the negative equal to the positive it is plain Euler again."""
    _, (model, clip, _) = tiny_models("sd15")
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    pos, neg = _conds(clip)

    def run(sampler, negative):
        return KSampler().execute(model, 4, 3, 1.0, sampler, "karras", pos, negative, latent, 1.0)[0]["samples"]

    assert not torch.allclose(run("euler_cfg_pp", neg), run("euler", neg), atol=1e-4)
    torch.testing.assert_close(run("euler_cfg_pp", pos), run("euler", pos), rtol=1e-4, atol=1e-4)


def test_cfg_pp_through_the_inpainting_blend_still_gets_the_unconditional_estimate(tiny_models):
    """A mask of ones blends nothing away, so CFG++ must give the unmasked result bit for bit (were the
    blend to drop denoise_pair, the sampler would fall back to D_u = D and differ)."""
    _, (model, clip, _) = tiny_models("sd15")
    samples = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    pos, neg = _conds(clip)

    def run(latent):
        return KSampler().execute(model, 4, 3, 5.0, "dpmpp_2m_cfg_pp", "karras", pos, neg, latent, 1.0)[0]["samples"]

    masked = run({"samples": samples, "noise_mask": torch.ones(1, 64, 64)})
    assert torch.equal(masked, run({"samples": samples}))
