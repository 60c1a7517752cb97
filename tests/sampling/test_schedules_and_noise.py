"""Schedulers, KSampler sigma conventions and ComfyUI's seeded-noise recipe."""
import pytest
import torch

from core.sampling import names, schedulers
from core.sampling.noise import BrownianNoise, initial_noise
from core.sampling.samplers import SAMPLER_NAMES
from core.sampling.schedule import DiscreteSchedule
from core.sampling.schedulers import SCHEDULER_NAMES, calculate_sigmas, ksampler_sigmas, sd_turbo_sigmas

S = DiscreteSchedule()


def test_combo_names_are_exactly_the_implemented_ones():
    assert SAMPLER_NAMES == names.SAMPLER_NAMES
    assert SCHEDULER_NAMES == names.SCHEDULER_NAMES
    for required in ("euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpm_fast",
                     "dpm_adaptive", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m", "dpmpp_2m_sde",
                     "dpmpp_3m_sde", "ddpm", "lcm", "ddim", "uni_pc", "uni_pc_bh2"):
        assert required in SAMPLER_NAMES


@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_every_scheduler_descends_to_zero(name):
    sigmas = calculate_sigmas(S, name, 10)
    assert sigmas[-1] == 0
    assert (sigmas[:-1] > 0).all() and (sigmas[1:] < sigmas[:-1]).all()
    if name != "ddim_uniform":  # DDIM's "leading" spacing starts at t = 901 for 10 steps
        assert sigmas[0] == pytest.approx(S.sigma_max, rel=1e-4)


@pytest.mark.parametrize("name", ["normal", "karras", "exponential", "sgm_uniform", "simple", "kl_optimal"])
def test_scheduler_gives_steps_plus_one_sigmas(name):
    assert len(calculate_sigmas(S, name, 13)) == 14


def test_normal_is_sigma_at_evenly_spaced_timesteps_with_log_interpolation():
    sigmas = calculate_sigmas(S, "normal", 4)
    ts = torch.linspace(999, 0, 4)
    lo = ts.floor().long()
    w = ts - lo
    expected = ((1 - w) * S.log_sigmas[lo] + w * S.log_sigmas[(lo + 1).clamp(max=999)]).exp()
    torch.testing.assert_close(sigmas[:-1], expected)


def test_denoise_below_one_keeps_the_tail_of_a_longer_schedule():
    full = calculate_sigmas(S, "karras", 20)
    assert torch.equal(ksampler_sigmas(S, "karras", "euler", 10, denoise=0.5), full[-11:])


def test_denoise_zero_gives_no_sigmas():
    assert len(ksampler_sigmas(S, "normal", "euler", 10, denoise=0.0)) == 0


@pytest.mark.parametrize("sampler", ["dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"])
def test_second_order_samplers_drop_the_penultimate_of_steps_plus_one(sampler):
    longer = calculate_sigmas(S, "normal", 11)
    sigmas = ksampler_sigmas(S, "normal", sampler, 10)
    assert len(sigmas) == 11
    assert torch.equal(sigmas, torch.cat([longer[:-2], longer[-1:]]))


def test_sd_turbo_uses_every_hundredth_timestep():
    sigmas = sd_turbo_sigmas(S, 4)
    assert S.timestep(sigmas[:-1]).tolist() == [999, 899, 799, 699]
    assert S.timestep(sd_turbo_sigmas(S, 2, denoise=0.5)[:-1]).tolist() == [499, 399]


def test_beta_scheduler_follows_beta_quantiles():
    from scipy.stats import beta

    ts = S.timestep(calculate_sigmas(S, "beta", 5)[:-1]).tolist()
    expected = [round(beta.ppf(1 - i / 5, 0.6, 0.6) * 999) for i in range(5)]
    assert ts == expected


def test_initial_noise_is_one_cpu_randn_of_the_batch_from_the_seed():
    torch.manual_seed(1234)
    expected = torch.randn(2, 4, 8, 8)
    assert torch.equal(initial_noise((2, 4, 8, 8), 1234), expected)


def test_batch_index_selects_per_item_noise():
    gen = torch.Generator().manual_seed(9)
    per_item = [torch.randn(1, 4, 8, 8, generator=gen) for _ in range(4)]
    noise = initial_noise((2, 4, 8, 8), 9, batch_index=[3, 1])
    assert torch.equal(noise[0], per_item[3][0]) and torch.equal(noise[1], per_item[1][0])


def test_huge_seeds_are_accepted():
    assert initial_noise((1, 4, 2, 2), 2 ** 64 - 1).shape == (1, 4, 2, 2)


def test_brownian_increments_are_consistent_over_split_intervals():
    """W(a)-W(c) = (W(a)-W(b)) + (W(b)-W(c)): increments from one path add up."""
    noise = BrownianNoise(torch.zeros(3, 5), seed=0)
    whole = noise(10.0, 2.0) * (8.0 ** 0.5)
    parts = noise(10.0, 5.0) * (5.0 ** 0.5) + noise(5.0, 2.0) * (3.0 ** 0.5)
    torch.testing.assert_close(whole, parts)


def test_brownian_increments_have_unit_variance():
    noise = BrownianNoise(torch.zeros(20000), seed=0)
    samples = torch.stack([noise(s, s - 0.5) for s in (10.0, 9.5, 9.0)] + [noise(9.75, 9.25)])
    assert samples.std(dim=1).sub(1).abs().max() < 0.03
