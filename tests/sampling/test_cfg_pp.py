"""CFG++ samplers (Chung et al. 2024) under the sampler contract: they take ``model(x, sigma) -> (D, D_u)``.

Each catalogue sampler is compared with a loop written here from the paper's update in another algebraic
form, on a guided toy whose conditional and unconditional estimates differ, at cfg 3.
"""
import math

import pytest
import torch

from core.sampling.noise import GaussianNoise
from core.sampling.samplers import GuidedDenoiser, get_sampler, with_uncond
from core.sampling.schedule import DiscreteSchedule
from core.sampling.schedulers import karras

MU, S, SHIFT = 0.3, 0.5, 0.2


class GuidedToy:
    """CFG over the exact denoisers of two Gaussians N(MU +- SHIFT, S^2): cond and uncond."""

    def __init__(self, cfg: float):
        self.cfg = cfg
        self.calls = 0

    def _both(self, x, sigma):
        self.calls += 1
        k = S ** 2 / (S ** 2 + sigma.reshape(-1, 1) ** 2)
        cond, uncond = (MU + SHIFT) + k * (x - MU - SHIFT), (MU - SHIFT) + k * (x - MU + SHIFT)
        return uncond + self.cfg * (cond - uncond), uncond

    def __call__(self, x, sigma):
        return self._both(x, sigma)[0]

    def denoise_pair(self, x, sigma):
        return self._both(x, sigma)


def _setup(steps=12, n=256):
    schedule = DiscreteSchedule()
    sigmas = karras(steps, schedule.sigma_min, schedule.sigma_max)
    x = torch.randn(n, 1, generator=torch.Generator().manual_seed(0)) * sigmas[0]
    return x, sigmas


def _ones(x):
    return x.new_ones([x.shape[0]])


def reference_euler_cfg_pp(model, x, sigmas):
    """x' = D + sigma' * eps_u with eps_u = (x - D_u) / sigma: denoise with guidance, renoise unguided."""
    for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        d, d_u = model.denoise_pair(x, s * _ones(x))
        eps_u = (x - d_u) / s
        x = d + s_next * eps_u
    return x


def reference_euler_ancestral_cfg_pp(model, x, sigmas, noise):
    """The same renoising split into a deterministic part to sigma_down and fresh noise of sigma_up."""
    for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        d, d_u = model.denoise_pair(x, s * _ones(x))
        var_up = s_next ** 2 * (s ** 2 - s_next ** 2) / s ** 2 if s_next > 0 else 0.0
        s_up = min(s_next, math.sqrt(var_up))
        s_down = math.sqrt(s_next ** 2 - s_up ** 2)
        x = d + s_down * (x - d_u) / s
        if s_next > 0:
            x = x + s_up * noise(s, s_next)
    return x


def reference_dpmpp_2m_cfg_pp(model, x, sigmas):
    """DPM-Solver++(2M) with step h = log(sigma / sigma'): first order x' = e^-h x + D - e^-h D_u (the
    data term guided, the decayed noise term unguided), plus the 2M correction (1 - e^-h) h / (2 h_prev)
    times the change from the previous step's D_u."""
    prev_u, h_prev = None, None
    for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        d, d_u = model.denoise_pair(x, s * _ones(x))
        if s_next == 0:
            x = d
            continue
        h = math.log(s) - math.log(s_next)
        x = math.exp(-h) * x + d - math.exp(-h) * d_u
        if prev_u is not None:
            x = x + (1 - math.exp(-h)) * (h / (2 * h_prev)) * (d - prev_u)
        prev_u, h_prev = d_u, h
    return x


def test_euler_cfg_pp_matches_its_reference():
    x, sigmas = _setup()
    ours = get_sampler("euler_cfg_pp").sample(GuidedToy(3.0), x, sigmas, seed=1)
    torch.testing.assert_close(ours, reference_euler_cfg_pp(GuidedToy(3.0), x, sigmas), rtol=1e-5, atol=1e-5)


def test_euler_ancestral_cfg_pp_matches_its_reference_with_the_same_noise():
    x, sigmas = _setup()
    ours = get_sampler("euler_ancestral_cfg_pp").sample(GuidedToy(3.0), x, sigmas, seed=4)
    ref = reference_euler_ancestral_cfg_pp(GuidedToy(3.0), x, sigmas, GaussianNoise(x, 4))
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_dpmpp_2m_cfg_pp_matches_its_reference():
    x, sigmas = _setup()
    ours = get_sampler("dpmpp_2m_cfg_pp").sample(GuidedToy(3.0), x, sigmas, seed=1)
    torch.testing.assert_close(ours, reference_dpmpp_2m_cfg_pp(GuidedToy(3.0), x, sigmas), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["euler_cfg_pp", "euler_ancestral_cfg_pp", "dpmpp_2m_cfg_pp"])
def test_cfg_pp_samplers_call_the_model_once_per_step(name):
    x, sigmas = _setup(steps=6)
    model = GuidedToy(3.0)
    get_sampler(name).sample(model, x, sigmas, seed=1)
    assert model.calls == 6


@pytest.mark.parametrize("name", ["euler_cfg_pp", "euler_ancestral_cfg_pp", "dpmpp_2m_cfg_pp"])
def test_cfg_pp_samplers_are_pure_functions_of_a_pair_returning_model(name):
    """The catalogue function itself takes ``model(x, sigma) -> (D, D_u)``: no attribute is read."""
    x, sigmas = _setup(steps=6)
    toy = GuidedToy(3.0)
    spec = get_sampler(name)
    noise = GaussianNoise(x, 2) if spec.noise is not None else None
    direct = spec.fn(lambda x, s: toy.denoise_pair(x, s), x, sigmas, noise_sampler=noise)
    torch.testing.assert_close(direct, spec.sample(GuidedToy(3.0), x, sigmas, seed=2))


def test_with_uncond_takes_the_pair_from_a_guided_denoiser():
    toy = GuidedToy(3.0)
    assert isinstance(toy, GuidedDenoiser)
    x, sigma = torch.randn(4, 1), torch.full((4,), 2.0)
    d, d_u = with_uncond(toy)(x, sigma)
    torch.testing.assert_close(d, toy(x, sigma))
    assert not torch.allclose(d, d_u)


def test_without_guidance_the_unconditional_estimate_is_the_denoised_one():
    def plain(x, sigma):
        return x * 0.5

    assert not isinstance(plain, GuidedDenoiser)
    d, d_u = with_uncond(plain)(torch.ones(2, 1), torch.ones(2))
    assert d is d_u and torch.equal(d, torch.full((2, 1), 0.5))


def test_other_samplers_get_the_model_unchanged():
    seen = []

    class Model(GuidedToy):
        def __call__(self, x, sigma):
            seen.append("call")
            return super().__call__(x, sigma)

        def denoise_pair(self, x, sigma):
            seen.append("pair")
            return super().denoise_pair(x, sigma)

    x, sigmas = _setup(steps=3)
    get_sampler("euler").sample(Model(3.0), x, sigmas, seed=1)
    assert seen == ["call"] * 3
