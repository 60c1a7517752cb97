"""Our samplers and schedules against diffusers' schedulers: same sigmas, same model, same trajectory.

The toy network predicts eps from the variance-preserving input only (no timestep input), so the
comparison checks solver arithmetic, not timestep rounding conventions.
"""
import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from core.sampling.denoiser import Denoiser  # noqa: E402
from core.sampling.samplers import get_sampler  # noqa: E402
from core.sampling.schedule import DiscreteSchedule  # noqa: E402
from core.sampling.schedulers import calculate_sigmas  # noqa: E402

SD_BETAS = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def eps_net(x_in):
    return 0.8 * torch.tanh(1.3 * x_in) + 0.15 * x_in.roll(1, dims=-1)


class ToyUNet:
    def __call__(self, x, t, context, y=None, control=None):
        return eps_net(x)


def denoiser():
    return Denoiser(ToyUNet(), DiscreteSchedule())


def our_model():
    d = denoiser()
    ctx = torch.zeros(1, 1, 1)
    return lambda x, sigma: d(x, sigma, ctx)


def run_diffusers(sched, steps, noise, generator=None):
    sched.set_timesteps(steps)
    x = noise * sched.init_noise_sigma
    for t in sched.timesteps:
        eps = eps_net(sched.scale_model_input(x, t))
        kwargs = {"generator": generator} if generator is not None else {}
        x = sched.step(eps, t, x, **kwargs).prev_sample
    return x


def noise(seed=0):
    return torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_training_sigmas_match_diffusers_alphas_cumprod():
    sched = diffusers.EulerDiscreteScheduler(**SD_BETAS)
    ac = sched.alphas_cumprod.double()
    expected = ((1 - ac) / ac).sqrt().float()
    # diffusers squares float32 betas, we (like ComfyUI) float64 ones: agreement to float32 rounding
    torch.testing.assert_close(DiscreteSchedule().sigmas, expected, rtol=5e-5, atol=0)


def test_karras_scheduler_matches_diffusers_karras_sigmas():
    sched = diffusers.DPMSolverMultistepScheduler(**SD_BETAS, use_karras_sigmas=True)
    sched.set_timesteps(12)
    ours = calculate_sigmas(DiscreteSchedule(), "karras", 12)
    torch.testing.assert_close(ours, sched.sigmas.float(), rtol=1e-4, atol=1e-6)


def test_ddim_uniform_scheduler_matches_diffusers_leading_timesteps():
    sched = diffusers.DDIMScheduler(**SD_BETAS, steps_offset=1, timestep_spacing="leading")
    sched.set_timesteps(10)
    schedule = DiscreteSchedule()
    ours = calculate_sigmas(schedule, "ddim_uniform", 10)
    assert schedule.timestep(ours[:-1]).long().tolist() == sched.timesteps.tolist()


@pytest.mark.parametrize("steps", [6, 20])
def test_euler_matches_euler_discrete_scheduler(steps):
    sched = diffusers.EulerDiscreteScheduler(**SD_BETAS)
    ref = run_diffusers(sched, steps, noise())
    x = noise() * sched.init_noise_sigma
    out = get_sampler("euler").sample(our_model(), x, sched.sigmas.float(), seed=0)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_euler_ancestral_matches_diffusers_with_the_same_noise_stream():
    sched = diffusers.EulerAncestralDiscreteScheduler(**SD_BETAS)
    ref = run_diffusers(sched, 8, noise(), generator=torch.Generator().manual_seed(42))
    x = noise() * sched.init_noise_sigma
    out = get_sampler("euler_ancestral").sample(our_model(), x, sched.sigmas.float(), seed=42)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_heun_matches_heun_discrete_scheduler():
    sched = diffusers.HeunDiscreteScheduler(**SD_BETAS)
    ref = run_diffusers(sched, 8, noise())
    sigmas = torch.cat([sched.sigmas[::2], sched.sigmas[-1:]]).float()
    out = get_sampler("heun").sample(our_model(), noise() * sched.init_noise_sigma, sigmas, seed=0)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_dpm_2_matches_kdpm2_discrete_scheduler():
    sched = diffusers.KDPM2DiscreteScheduler(**SD_BETAS)
    ref = run_diffusers(sched, 8, noise())
    sigmas = torch.unique_consecutive(sched.sigmas).float()  # its table repeats each sigma for the midpoint
    out = get_sampler("dpm_2").sample(our_model(), noise() * sched.init_noise_sigma, sigmas, seed=0)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_lms_matches_lms_discrete_scheduler():
    pytest.importorskip("scipy")
    sched = diffusers.LMSDiscreteScheduler(**SD_BETAS)
    ref = run_diffusers(sched, 10, noise())
    out = get_sampler("lms").sample(our_model(), noise() * sched.init_noise_sigma, sched.sigmas.float(), seed=0)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def _vp_start(sched):
    """diffusers' multistep solvers work on the VP latent; ours on VE = VP * sqrt(1 + sigma^2)."""
    return noise() * (1 + sched.sigmas[0].double() ** 2).sqrt().float()


@pytest.mark.parametrize("karras", [False, True])
def test_dpmpp_2m_matches_dpm_solver_multistep(karras):
    sched = diffusers.DPMSolverMultistepScheduler(**SD_BETAS, use_karras_sigmas=karras)
    ref = run_diffusers(sched, 10, noise())
    out = get_sampler("dpmpp_2m").sample(our_model(), _vp_start(sched), sched.sigmas.float(), seed=0)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_ddim_matches_ddim_scheduler_with_eta_zero():
    sched = diffusers.DDIMScheduler(**SD_BETAS, set_alpha_to_one=True, steps_offset=1, clip_sample=False)
    ref = run_diffusers(sched, 10, noise())
    ac = sched.alphas_cumprod[sched.timesteps]
    sigmas = torch.cat([((1 - ac) / ac).sqrt(), torch.zeros(1)]).float()
    out = get_sampler("ddim").sample(our_model(), noise() * (1 + sigmas[0] ** 2).sqrt(), sigmas, seed=0)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant,order", [("bh2", 2), ("bh1", 2), ("bh2", 3), ("bh1", 3)])
def test_uni_pc_matches_unipc_multistep_scheduler(variant, order):
    # diffusers' bh1 divides by B(h) = -h = -inf on a final step to sigma 0, so end at sigma_min there
    final = "zero" if variant == "bh2" else "sigma_min"
    sched = diffusers.UniPCMultistepScheduler(**SD_BETAS, solver_type=variant, solver_order=order,
                                              final_sigmas_type=final)
    ref = run_diffusers(sched, 10, noise())
    name = "uni_pc_bh2" if variant == "bh2" else "uni_pc"
    out = get_sampler(name, order=order).sample(our_model(), _vp_start(sched), sched.sigmas.float(), seed=0)
    ref = ref * (1 + sched.sigmas[-1].double() ** 2).sqrt().float()  # VP -> VE at the final sigma
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_dpmpp_2m_sde_matches_sde_dpm_solver_plus_plus_with_the_same_noise():
    from core.sampling.noise import GaussianNoise
    from core.sampling.samplers_dpmpp import dpmpp_2m_sde

    sched = diffusers.DPMSolverMultistepScheduler(**SD_BETAS, algorithm_type="sde-dpmsolver++")
    ref = run_diffusers(sched, 8, noise(), generator=torch.Generator().manual_seed(5))
    x = _vp_start(sched)
    out = dpmpp_2m_sde(our_model(), x, sched.sigmas.float(), noise_sampler=GaussianNoise(x, 5))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_ddpm_matches_ddpm_scheduler_with_the_same_noise():
    sched = diffusers.DDPMScheduler(**SD_BETAS, clip_sample=False, variance_type="fixed_small")
    ref = run_diffusers(sched, 10, noise(), generator=torch.Generator().manual_seed(8))
    ac = sched.alphas_cumprod[sched.timesteps]
    sigmas = torch.cat([((1 - ac) / ac).sqrt(), torch.zeros(1)]).float()
    out = get_sampler("ddpm").sample(our_model(), noise() * (1 + sigmas[0] ** 2).sqrt(), sigmas, seed=8)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_dpm_2_ancestral_matches_kdpm2_ancestral_scheduler_with_the_same_noise():
    sched = diffusers.KDPM2AncestralDiscreteScheduler(**SD_BETAS)
    ref = run_diffusers(sched, 8, noise(), generator=torch.Generator().manual_seed(3))
    sigmas = torch.unique_consecutive(sched.sigmas).float()
    out = get_sampler("dpm_2_ancestral").sample(our_model(), noise() * sched.init_noise_sigma, sigmas, seed=3)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
