"""Custom sampling nodes: SAMPLER and SIGMAS values, and SamplerCustom agreeing with KSampler."""
import pytest
import torch

from nodes.custom_sampling import (BasicScheduler, ExponentialScheduler, FlipSigmas, KarrasScheduler,
                                   KSamplerSelect, SamplerCustom, SDTurboScheduler, SplitSigmas)
from nodes.latent import EmptyLatentImage
from nodes.sampling import KSampler

pytestmark = pytest.mark.usefixtures("cpu_fp32")


def test_sampler_custom_equals_ksampler_for_the_same_settings(tiny_models):
    _, (model, clip, _) = tiny_models("sd15")
    pos, neg = clip.encode("a cat"), clip.encode("")
    latent = EmptyLatentImage().execute(64, 64, 1)[0]
    sampler = KSamplerSelect().execute("dpmpp_2m")[0]
    sigmas = BasicScheduler().execute(model, "karras", 3, 1.0)[0]
    out, denoised = SamplerCustom().execute(model, True, 9, 6.0, pos, neg, sampler, sigmas, latent)
    ref = KSampler().execute(model, 9, 3, 6.0, "dpmpp_2m", "karras", pos, neg, latent, 1.0)[0]
    torch.testing.assert_close(out["samples"], ref["samples"])
    assert denoised["samples"].shape == out["samples"].shape


def test_basic_scheduler_with_denoise_keeps_the_tail(tiny_models):
    _, (model, _, _) = tiny_models("sd15")
    full = BasicScheduler().execute(model, "normal", 20, 1.0)[0]
    half = BasicScheduler().execute(model, "normal", 10, 0.5)[0]
    assert torch.equal(half, full[-11:])


def test_karras_and_exponential_nodes_span_their_range():
    k = KarrasScheduler().execute(5, 10.0, 0.1, 7.0)[0]
    e = ExponentialScheduler().execute(5, 10.0, 0.1)[0]
    for s in (k, e):
        assert len(s) == 6 and s[0] == pytest.approx(10.0) and s[-2] == pytest.approx(0.1) and s[-1] == 0
    with pytest.raises(ValueError, match="KarrasScheduler, input 'sigma_min'"):
        KarrasScheduler().execute(5, 1.0, 2.0, 7.0)


def test_sd_turbo_scheduler_one_step_starts_at_the_top(tiny_models):
    _, (model, _, _) = tiny_models("sd15")
    s = SDTurboScheduler().execute(model, 1, 1.0)[0]
    assert len(s) == 2 and s[0] == pytest.approx(14.6146, rel=1e-4) and s[1] == 0


def test_split_sigmas_share_the_boundary_and_flip_avoids_zero_start():
    s = torch.tensor([3.0, 2.0, 1.0, 0.0])
    high, low = SplitSigmas().execute(s, 1)
    assert high.tolist() == [3.0, 2.0] and low.tolist() == [2.0, 1.0, 0.0]
    assert FlipSigmas().execute(s)[0].tolist() == pytest.approx([0.0001, 1.0, 2.0, 3.0])
