"""res_multistep, gradient_estimation and er_sde against their papers' update rules, computed here
independently (quadrature instead of closed forms, the update written the paper's way), and the
linear_quadratic and beta57 schedules against their definitions."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from core.sampling import samplers_multistep as ms
from core.sampling.model_sampling import FlowSchedule
from core.sampling.samplers import get_sampler
from core.sampling.schedule import DiscreteSchedule
from core.sampling.schedulers import calculate_sigmas, linear_quadratic

SIGMAS = torch.tensor([14.6, 6.0, 2.5, 0.9, 0.3, 0.0])


class ScriptedDenoiser:
    """D(x; sigma) = a smooth function of sigma alone, so each step's exact answer is a 1-D integral."""

    def __init__(self):
        self.calls = []

    @staticmethod
    def value(sigma: float) -> float:
        return math.cos(math.log(sigma)) + 0.1 * sigma

    def __call__(self, x, sigma):
        s = float(sigma.flatten()[0])
        self.calls.append(s)
        return torch.full_like(x, self.value(s))


def test_res_multistep_step_is_the_exponential_integral_of_d_linear_in_log_sigma():
    # dx/dt = D - x in t = -log sigma; with D linear in t through the last two estimates the exact step is
    # x' = e^-h x + integral_0^h e^-(h - u) (D_i + (D_i - D_prev) u / h_prev) du
    x0 = torch.full((1, 1), 3.0)
    out = ms.res_multistep(ScriptedDenoiser(), x0, SIGMAS[:4])
    sig = SIGMAS[:4].tolist()
    d = [ScriptedDenoiser.value(s) for s in sig[:3]]
    x = sig[1] / sig[0] * 3.0 + (1 - sig[1] / sig[0]) * d[0]  # the first step is Euler (DDIM)
    for i in (1, 2):
        h, h_prev = math.log(sig[i] / sig[i + 1]), math.log(sig[i - 1] / sig[i])
        slope = (d[i] - d[i - 1]) / h_prev
        integral, _ = integrate.quad(lambda u: math.exp(-(h - u)) * (d[i] + slope * u), 0, h)
        x = math.exp(-h) * x + integral
    assert float(out) == pytest.approx(x, rel=1e-6)


def test_res_multistep_ends_on_the_last_estimate():
    model = ScriptedDenoiser()
    out = ms.res_multistep(model, torch.zeros(1, 1), SIGMAS)
    assert float(out) == pytest.approx(ScriptedDenoiser.value(float(SIGMAS[-2])))


def test_gradient_estimation_follows_the_papers_momentum_rule():
    # Permenter & Yuan: x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (gamma d_i + (1 - gamma) d_{i-1}), gamma = 2
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(2, 3, generator=gen)

    def model(x, sigma):  # an x-dependent denoiser, so the directions d_i differ from step to step
        s = float(sigma.flatten()[0])
        return target + (x - target) * s / (s + 1.0)

    x0 = torch.randn(2, 3, generator=gen) * 14.6
    out = ms.gradient_estimation(model, x0, SIGMAS)
    sig = SIGMAS.tolist()
    x, d_prev = x0.clone(), None
    for i in range(len(sig) - 1):
        denoised = model(x, torch.tensor([sig[i]]))
        if sig[i + 1] == 0:
            x = denoised
            break
        d = (x - denoised) / sig[i]
        direction = d if d_prev is None else 2.0 * d + (1 - 2.0) * d_prev
        x = x + (sig[i + 1] - sig[i]) * direction
        d_prev = d
    assert torch.allclose(out, x, atol=1e-6)


class GuidedGaussian:
    """CFG between two Gaussian conditions (means +-0.2, std 0.5), with the unconditional estimate."""

    def __init__(self, cfg: float):
        self.cfg = cfg

    def denoise_pair(self, x, sigma):
        k = 0.25 / (0.25 + sigma.reshape(-1, 1) ** 2)
        cond, uncond = 0.2 + k * (x - 0.2), -0.2 + k * (x + 0.2)
        return uncond + self.cfg * (cond - uncond), uncond

    def __call__(self, x, sigma):
        return self.denoise_pair(x, sigma)[0]


@pytest.mark.parametrize("plain, cfg_pp", [("res_multistep", "res_multistep_cfg_pp"),
                                           ("gradient_estimation", "gradient_estimation_cfg_pp"),
                                           ("res_multistep_ancestral", "res_multistep_ancestral_cfg_pp")])
def test_cfg_pp_variant_equals_the_plain_sampler_without_guidance_and_differs_with_it(plain, cfg_pp):
    x = torch.linspace(-3, 3, 7).reshape(7, 1) * 14.6
    unguided = GuidedGaussian(1.0).__call__  # a plain function: its unconditional estimate is D itself
    same = get_sampler(plain).sample(unguided, x, SIGMAS, seed=3)
    pp = get_sampler(cfg_pp).sample(unguided, x, SIGMAS, seed=3)
    assert torch.allclose(same, pp, atol=1e-5)
    guided = get_sampler(cfg_pp).sample(GuidedGaussian(4.0), x, SIGMAS, seed=3)
    plain_guided = get_sampler(plain).sample(GuidedGaussian(4.0), x, SIGMAS, seed=3)
    assert not torch.allclose(guided, plain_guided, atol=1e-3)


def test_res_multistep_ancestral_with_eta_zero_is_res_multistep():
    x = torch.linspace(-2, 2, 5).reshape(5, 1) * 14.6
    a = ms.res_multistep(ScriptedDenoiser(), x, SIGMAS)
    b = ms.res_multistep_ancestral(ScriptedDenoiser(), x, SIGMAS, noise_sampler=lambda s, t: torch.randn_like(x), eta=0.0)
    assert torch.allclose(a, b)


def test_er_sde_noise_scale_integrals_match_quadrature():
    # stages 2 and 3 use integral of 1/f and (lambda - lambda_s)/f from lambda_t to lambda_s; the solver
    # takes 200-point Riemann sums, accurate to well under 1% on a typical step
    lam_s, lam_t = 2.5, 0.9
    f = lambda lam: lam * (math.exp(lam ** 0.3) + 10.0)  # noqa: E731  (the paper's f, written out again)
    i1, _ = integrate.quad(lambda lam: 1 / f(lam), lam_t, lam_s)
    i2, _ = integrate.quad(lambda lam: (lam - lam_s) / f(lam), lam_t, lam_s)
    grid = torch.arange(ms.ER_SDE_POINTS, dtype=torch.float64)
    step = (lam_s - lam_t) / ms.ER_SDE_POINTS
    pos = lam_t + grid * step
    scaled = ms.er_sde_noise_scale(pos)
    assert float((1 / scaled).sum() * step) == pytest.approx(i1, rel=0.01)
    assert float(((pos - lam_s) / scaled).sum() * step) == pytest.approx(i2, rel=0.01)


def test_er_sde_first_step_is_the_papers_first_order_update():
    # x_t = (alpha_t / alpha_s) (f(l_t) / f(l_s)) x_s + alpha_t (1 - f(l_t)/f(l_s)) D + alpha_t sqrt(l_t² - l_s² r²) n
    x0 = torch.full((1, 1), 2.0)
    noise = torch.full((1, 1), 0.5)
    sig = [0.8, 0.5, 0.0]
    out = ms.er_sde_rf(ScriptedDenoiser(), x0, torch.tensor(sig[:2] + [0.2]), noise_sampler=lambda s, t: noise,
                       max_stage=1)
    f = lambda lam: lam * (math.exp(lam ** 0.3) + 10.0)  # noqa: E731
    expected = 2.0
    for a, b in ((0.8, 0.5), (0.5, 0.2)):
        la, lb = a / (1 - a), b / (1 - b)
        r = f(lb) / f(la)
        d = ScriptedDenoiser.value(a)
        expected = (1 - b) / (1 - a) * r * expected + (1 - b) * (1 - r) * d + (1 - b) * 0.5 * math.sqrt(lb ** 2 - la ** 2 * r ** 2)
    assert float(out) == pytest.approx(expected, rel=1e-6)


def test_er_sde_on_flow_moves_a_first_sigma_of_one_off_pure_noise():
    model = ScriptedDenoiser()
    ms.er_sde_rf(model, torch.zeros(1, 1), torch.tensor([1.0, 0.5, 0.0]), noise_sampler=lambda s, t: 0,
                 model_sampling=FlowSchedule(3.0))
    assert model.calls[0] == pytest.approx(FlowSchedule(3.0).percent_to_sigma(1e-4))
    assert model.calls[0] < 1.0


def test_linear_quadratic_is_a_line_then_the_tangent_quadratic_to_zero():
    n, threshold = 20, 0.025
    sig = linear_quadratic(1.0, n, threshold).double().numpy()
    done = 1 - sig  # fraction of the noise removed after step i
    lin = n // 2
    assert len(sig) == n + 1 and sig[0] == 1.0 and sig[-1] == 0.0
    assert np.allclose(np.diff(done[:lin + 1]), threshold / lin, atol=1e-6)  # linear part, ends at threshold
    i = np.arange(lin, n + 1)
    a, b, c = np.polyfit(i, done[lin:], 2)
    assert np.allclose(np.polyval([a, b, c], i), done[lin:], atol=1e-6)  # one quadratic
    assert 2 * a * lin + b == pytest.approx(threshold / lin, abs=1e-5)  # same slope at the joint
    assert np.polyval([a, b, c], n) == pytest.approx(1.0, abs=1e-6)


def test_linear_quadratic_scales_with_sigma_max_and_one_step_is_max_then_zero():
    schedule = DiscreteSchedule()
    sig = calculate_sigmas(schedule, "linear_quadratic", 10)
    assert float(sig[0]) == pytest.approx(schedule.sigma_max, rel=1e-6)
    assert torch.allclose(linear_quadratic(2.0, 1), torch.tensor([2.0, 0.0]))


def test_beta57_is_the_beta_schedule_with_alpha_half_and_beta_seven_tenths():
    schedule = FlowSchedule(3.0)
    got = calculate_sigmas(schedule, "beta57", 12)
    total = len(schedule) - 1
    ts = np.rint(stats.beta.ppf(1 - np.linspace(0, 1, 12, endpoint=False), 0.5, 0.7) * total)
    expected = [float(schedule.sigmas[int(t)]) for t in dict.fromkeys(ts)] + [0.0]
    assert torch.allclose(got, torch.tensor(expected, dtype=torch.float32))
    assert not torch.allclose(got, calculate_sigmas(schedule, "beta", 12))
