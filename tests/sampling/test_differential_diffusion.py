"""DifferentialDiffusion: the per-step mask rule (checked against a timestep table computed here from the
SD betas), its strength blend, and the sampler hook that applies it to the inpainting blend."""
import math

import pytest
import torch

from core.sampling.differential import DifferentialMask, differential_mask, threshold
from core.sampling.schedule import DiscreteSchedule
from core.sampling.model_sampling import FlowSchedule


def _sd_timestep(sigma: float) -> int:
    """Nearest training timestep of sigma on SD's scaled-linear schedule, from first principles."""
    betas = [(math.sqrt(0.00085) + (math.sqrt(0.012) - math.sqrt(0.00085)) * i / 999) ** 2 for i in range(1000)]
    acp, sigmas = 1.0, []
    for b in betas:
        acp *= 1 - b
        sigmas.append(math.sqrt((1 - acp) / acp))
    return min(range(1000), key=lambda t: abs(math.log(sigmas[t]) - math.log(sigma)))


SIGMAS = torch.tensor([14.6146, 6.0, 2.5, 0.9, 0.3, 0.0])


@pytest.mark.parametrize("step", range(5))
def test_threshold_is_the_fraction_of_timesteps_still_ahead(step):
    schedule = DiscreteSchedule()
    sigma_to = schedule.sigma_min  # the last sigma is 0, below the schedule's smallest: clamped to it
    ts_from, ts_to = _sd_timestep(14.6146), _sd_timestep(sigma_to)
    expected = (_sd_timestep(float(SIGMAS[step])) - ts_to) / (ts_from - ts_to)
    assert threshold(float(SIGMAS[step]), SIGMAS, schedule) == pytest.approx(expected, abs=1e-6)


def test_threshold_is_one_at_the_first_sigma_and_falls_monotonically():
    schedule = DiscreteSchedule()
    levels = [threshold(float(s), SIGMAS, schedule) for s in SIGMAS[:-1]]
    assert levels[0] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(levels, levels[1:]))


def test_threshold_uses_the_last_sigma_when_it_is_above_the_schedule_minimum():
    schedule = DiscreteSchedule()
    sigmas = torch.tensor([8.0, 4.0, 2.0])  # a partial-denoise run that stops at 2.0
    assert threshold(2.0, sigmas, schedule) == pytest.approx(0.0)
    assert threshold(8.0, sigmas, schedule) == pytest.approx(1.0)


def test_mask_is_binary_at_full_strength():
    mask = torch.tensor([0.0, 0.2, 0.5, 0.8, 1.0]).reshape(1, 1, 1, 5)
    schedule = DiscreteSchedule()
    level = threshold(2.5, SIGMAS, schedule)
    out = differential_mask(torch.tensor([2.5]), mask, SIGMAS, schedule)
    assert torch.equal(out, (mask >= level).float())
    assert 0.2 < level < 0.8  # the middle of the run splits this mask


def test_strength_below_one_blends_toward_the_soft_mask():
    mask = torch.tensor([0.1, 0.9]).reshape(1, 1, 1, 2)
    schedule = DiscreteSchedule()
    out = differential_mask(torch.tensor([2.5]), mask, SIGMAS, schedule, strength=0.25)
    binary = (mask >= threshold(2.5, SIGMAS, schedule)).float()
    torch.testing.assert_close(out, 0.25 * binary + 0.75 * mask)


def test_flow_models_measure_the_run_in_their_continuous_timesteps():
    flow = FlowSchedule(shift=3.0)
    sigmas = torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0])
    # timestep = 1000 * sigma; sigma_to = the schedule's smallest sigma (1/1000 shifted)
    to = flow.sigma_min
    assert threshold(0.5, sigmas, flow) == pytest.approx((0.5 - to) / (1.0 - to), abs=1e-4)


def test_mask_function_reads_comfyui_extra_options():
    class Inner:
        model_sampling = DiscreteSchedule()

    class Guider:
        inner_model = Inner()

    fn = DifferentialMask(1.0)
    mask = torch.tensor([0.3, 0.95]).reshape(1, 1, 1, 2)
    out = fn(torch.tensor([6.0]), mask, {"model": Guider(), "sigmas": SIGMAS})
    assert torch.equal(out, differential_mask(torch.tensor([6.0]), mask, SIGMAS, DiscreteSchedule()))


def test_inpaint_blend_asks_the_mask_function_at_every_call():
    from core.sampling.sample import _InpaintBlend

    seen = []

    def mask_fn(sigma, mask, extra):
        seen.append((float(sigma[0]), extra["sigmas"]))
        return torch.zeros_like(mask)  # keep everything: the output must be the latent

    latent = torch.full((1, 1, 2, 2), 3.0)
    blend = _InpaintBlend(lambda x, s: x * 0 + 7.0, latent, torch.zeros_like(latent), torch.ones_like(latent),
                          DiscreteSchedule(), mask_fn, SIGMAS)
    out = blend(torch.randn(1, 1, 2, 2), torch.tensor([6.0]))
    assert torch.equal(out, latent)
    assert seen[0][0] == 6.0 and seen[0][1] is SIGMAS


@pytest.mark.usefixtures("cpu_fp32")
def test_differential_diffusion_node_changes_a_soft_mask_inpaint_and_keeps_mask_zero(tiny_models):
    from nodes.differential_diffusion import DifferentialDiffusion
    from nodes.sampling import KSampler

    _, (model, clip, _) = tiny_models("sd15")
    pos, neg = clip.encode("a cat"), clip.encode("")
    gen = torch.Generator().manual_seed(0)
    samples = torch.randn(1, 4, 8, 8, generator=gen)
    ramp = torch.zeros(1, 64, 64)  # top half 0 (kept), bottom half a soft ramp 0.1 .. 1
    ramp[:, 32:] = torch.linspace(0.1, 1, 32).reshape(1, 32, 1)
    latent = {"samples": samples, "noise_mask": ramp}
    patched = DifferentialDiffusion().execute(model)[0]
    assert "denoise_mask_function" not in model.model_options  # the input MODEL is untouched
    plain = KSampler().execute(model, 1, 4, 5.0, "euler", "normal", pos, neg, latent, 1.0)[0]["samples"]
    diff = KSampler().execute(patched, 1, 4, 5.0, "euler", "normal", pos, neg, latent, 1.0)[0]["samples"]
    assert not torch.allclose(plain, diff)
    # where the mask (resized to the latent) is 0 the input latent comes back bit for bit
    from core.sampling.sample import _resize_mask

    zero = _resize_mask(ramp, samples.shape) == 0
    assert zero.any()
    assert torch.equal(diff[zero.expand_as(diff)], samples[zero.expand_as(samples)])
