"""Every sampler on a flow model, by ComfyUI's conventions: the start point, the network's timestep, and
sampling a toy flow model (the exact velocity of Gaussian data) to the right distribution."""
from __future__ import annotations

import pytest
import torch

from core.sampling.model_sampling import FlowSchedule, FluxSchedule
from core.sampling.noise import initial_noise
from core.sampling.sample import common_ksampler, ksampler_sigmas
from flow_toys import GaussianVelocity, ZeroVelocity, empty_conditioning, flow_handle

MEAN, STD = 0.7, 0.5


def run(model, sampler: str, scheduler: str = "simple", steps: int = 100, denoise: float = 1.0,
        latent=None, seed: int = 1):
    latent = torch.zeros(1, 16, 48, 48) if latent is None else latent
    cond = empty_conditioning()
    return common_ksampler(model, seed, steps, 1.0, sampler, scheduler, cond, cond, {"samples": latent},
                           denoise=denoise)["samples"]


# first-order samplers need more steps for the same error: Euler shrinks this toy's spread by ~11% at
# 24 steps and ~2.5% at 100; ancestral Euler by ~6% at 100 and ~2.5% at 400 (measured; both converge).
# UniPC, as ComfyUI's, works in the VP noise schedule implied by sigma, which is not the flow one, so it
# converges only as fast as first-order steps here. The 3M SDE solver overshoots by ~10% at 30 steps and
# ~1% at 100 (measured; it converges too).
STEPS = {"euler": 100, "ddim": 100, "euler_ancestral": 400, "uni_pc": 100, "dpmpp_3m_sde": 100,
         "gradient_estimation": 100}


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m", "lms", "uni_pc", "euler_ancestral",
                                     "dpm_2_ancestral", "dpmpp_2s_ancestral", "ddim", "dpmpp_sde",
                                     "dpmpp_2m_sde", "dpmpp_3m_sde", "res_multistep", "gradient_estimation",
                                     "er_sde"])
def test_sampler_draws_the_data_distribution_of_a_toy_flow_model(cpu_fp32, sampler):
    model = flow_handle(GaussianVelocity(MEAN, STD), FlowSchedule(3.0))
    out = run(model, sampler, steps=STEPS.get(sampler, 30), latent=torch.zeros(1, 16, 32, 32))
    assert float(out.mean()) == pytest.approx(MEAN, abs=0.03), sampler
    assert float(out.std()) == pytest.approx(STD, abs=0.03), sampler


def test_ancestral_sampler_on_flow_takes_the_straight_path_step_not_the_ve_one(cpu_fp32):
    # the VE ancestral step adds noise as if x = x0 + sigma n; on a flow model that inflates the spread
    from core.sampling import samplers_basic
    from core.sampling.guidance import CFGDenoiser, prepare_conds
    from core.sampling.denoiser import Denoiser
    from core.sampling.noise import GaussianNoise
    from core.sampling.schedulers import calculate_sigmas

    schedule = FlowSchedule(3.0)
    net = GaussianVelocity(MEAN, STD)
    conds = prepare_conds(empty_conditioning(), uncond=False, latent_shape=(1, 16, 32, 32), schedule=schedule,
                          adm_channels=None, device="cpu", dtype=torch.float32)
    fn = CFGDenoiser(Denoiser(net, schedule), conds, conds, 1.0)
    sigmas = calculate_sigmas(schedule, "simple", 100)
    x = initial_noise((1, 16, 32, 32), 1)
    ve = samplers_basic.euler_ancestral(fn, x, sigmas, noise_sampler=GaussianNoise(x, 2))
    assert abs(float(ve.std()) - STD) > 0.1  # the wrong step is visibly wrong, so the tolerance above can fail


def test_txt2img_starts_from_pure_noise_on_a_flow_model(cpu_fp32):
    model = flow_handle(ZeroVelocity(), FlowSchedule(3.0))
    out = run(model, "euler", steps=4, seed=5)
    assert torch.allclose(out, initial_noise((1, 16, 48, 48), 5), atol=1e-6)


def test_img2img_on_a_flow_model_starts_on_the_straight_path_between_latent_and_noise(cpu_fp32):
    model = flow_handle(ZeroVelocity(), FlowSchedule(3.0))
    latent = torch.randn(1, 16, 8, 8)
    sigma0 = float(ksampler_sigmas(model, 10, "euler", "simple", 0.6)[0])
    out = run(model, "euler", steps=10, denoise=0.6, latent=latent, seed=3)
    noise = initial_noise(latent.shape, 3)
    assert 0.3 < sigma0 < 1.0
    assert torch.allclose(out, sigma0 * noise + (1 - sigma0) * latent, atol=1e-5)


def test_flux_network_is_conditioned_on_sigma_and_sd3_on_sigma_times_1000(cpu_fp32):
    for sampling, scale in ((FluxSchedule(1.15), 1.0), (FlowSchedule(3.0), 1000.0)):
        net = GaussianVelocity(MEAN, STD, multiplier=scale)
        model = flow_handle(net, sampling)
        run(model, "euler", steps=3, latent=torch.zeros(1, 16, 4, 4))
        sigmas = ksampler_sigmas(model, 3, "euler", "simple")
        seen = torch.stack([t[0] for t in net.timesteps_seen])
        assert torch.allclose(seen, sigmas[:-1] * scale, rtol=1e-5)


def test_timestep_range_of_a_conditioning_uses_the_flow_schedule(cpu_fp32):
    from core.sampling.guidance import prepare_conds

    s = FluxSchedule(1.15)
    cond = [[torch.zeros(1, 2, 8), {"start_percent": 0.2, "end_percent": 0.6}]]
    (c,) = prepare_conds(cond, uncond=False, latent_shape=(1, 16, 4, 4), schedule=s, adm_channels=None,
                         device="cpu", dtype=torch.float32)
    assert c.sigma_start == pytest.approx(s.percent_to_sigma(0.2)) and c.sigma_end == pytest.approx(s.percent_to_sigma(0.6))
    assert 0 < c.sigma_end < c.sigma_start < 1


@pytest.mark.parametrize("sampler", ["dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde"])
def test_sde_samplers_on_flow_step_in_the_flow_half_log_snr_not_the_ve_one(cpu_fp32, sampler):
    from core.sampling.samplers import get_sampler

    model = flow_handle(GaussianVelocity(MEAN, STD), FlowSchedule(3.0))
    spec = get_sampler(sampler)
    ve_only = type(spec)(spec.name, spec.fn, spec.noise)  # the same sampler without its flow variant
    from core.sampling.sample import sample_custom

    cond = empty_conditioning()
    sigmas = ksampler_sigmas(model, 30, sampler, "simple")
    latent = torch.zeros(1, 16, 32, 32)
    noise = initial_noise(latent.shape, 1)
    wrong = sample_custom(model, noise, 1.0, ve_only, sigmas, cond, cond, latent, seed=1)
    assert abs(float(wrong.std()) - STD) > 0.1
