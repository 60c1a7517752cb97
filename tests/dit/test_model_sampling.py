"""Flow model sampling: ComfyUI's sigma tables, shifts and schedules, computed independently here."""
from __future__ import annotations

import math

import pytest
import torch

from core.sampling.model_sampling import FlowSchedule, FluxSchedule, default_for_family, flux_shift_for_size
from core.sampling.schedulers import calculate_sigmas


def sd3_sigma(t: float, shift: float) -> float:
    return shift * t / (1 + (shift - 1) * t)


def flux_sigma(t: float, mu: float) -> float:
    return math.exp(mu) / (math.exp(mu) + (1 / t - 1))


def test_sd3_table_is_the_shifted_time_at_each_of_1000_steps():
    s = FlowSchedule(3.0)
    expected = torch.tensor([sd3_sigma(i / 1000, 3.0) for i in range(1, 1001)], dtype=torch.float64)
    assert len(s) == 1000
    assert torch.allclose(s.sigmas.double(), expected, atol=1e-6)
    assert s.sigma_max == pytest.approx(1.0) and s.sigma_min == pytest.approx(sd3_sigma(0.001, 3.0), rel=1e-5)


def test_sd3_network_timestep_is_sigma_times_1000_and_auraflow_times_1():
    assert float(FlowSchedule(3.0).timestep(torch.tensor(0.25))) == pytest.approx(250.0)
    assert float(FlowSchedule(1.73, multiplier=1.0).timestep(torch.tensor(0.25))) == pytest.approx(0.25)


def test_flux_table_is_the_logit_shift_at_each_of_10000_steps():
    s = FluxSchedule(1.15)
    ts = [i / 10000 for i in range(1, 10001)]
    expected = torch.tensor([flux_sigma(t, 1.15) for t in ts], dtype=torch.float64)
    assert len(s) == 10000
    assert torch.allclose(s.sigmas.double(), expected, atol=1e-6)
    assert float(s.timestep(torch.tensor(0.4))) == pytest.approx(0.4)  # FLUX sees sigma itself


def test_flux_shift_is_linear_in_the_number_of_2x2_patches():
    # BFL: mu = 0.5 at 256 patches (256x256 px), 1.15 at 4096 patches (1024x1024 px)
    assert flux_shift_for_size(256, 256) == pytest.approx(0.5)
    assert flux_shift_for_size(1024, 1024) == pytest.approx(1.15)
    assert flux_shift_for_size(1024, 1024, base_shift=0.5, max_shift=2.0) == pytest.approx(2.0)
    assert flux_shift_for_size(512, 512) == pytest.approx(0.5 + (1024 - 256) * 0.65 / 3840)


@pytest.mark.parametrize("percent, expected", [(0.0, 1.0), (1.0, 0.0), (0.25, sd3_sigma(0.75, 3.0))])
def test_percent_to_sigma_walks_the_shifted_time(percent, expected):
    assert FlowSchedule(3.0).percent_to_sigma(percent) == pytest.approx(expected, rel=1e-6)


def test_simple_schedule_on_sd3_takes_every_kth_table_sigma_from_the_top():
    steps = 20
    table = [sd3_sigma(i / 1000, 3.0) for i in range(1, 1001)]
    expected = [table[-(1 + int(i * 1000 / steps))] for i in range(steps)] + [0.0]
    assert torch.allclose(calculate_sigmas(FlowSchedule(3.0), "simple", steps).double(),
                          torch.tensor(expected, dtype=torch.float64), atol=1e-6)


def test_normal_schedule_on_flux_spaces_timesteps_evenly_from_sigma_max_to_sigma_min():
    steps, mu = 8, 1.15
    hi, lo = flux_sigma(1.0, mu), flux_sigma(1 / 10000, mu)  # the table's ends; timestep = sigma for FLUX
    ts = [hi + (lo - hi) * k / (steps - 1) for k in range(steps)]
    expected = [flux_sigma(t, mu) for t in ts] + [0.0]
    got = calculate_sigmas(FluxSchedule(mu), "normal", steps)
    assert torch.allclose(got.double(), torch.tensor(expected, dtype=torch.float64), atol=1e-5)


def test_beta_schedule_on_sd3_reads_the_table_at_beta_quantiles():
    from scipy.stats import beta

    steps = 10
    table = [sd3_sigma(i / 1000, 3.0) for i in range(1, 1001)]
    ts = [round(beta.ppf(1 - k / steps, 0.6, 0.6) * 999) for k in range(steps)]
    expected = []
    for k, t in enumerate(ts):
        if k == 0 or t != ts[k - 1]:
            expected.append(table[int(t)])
    got = calculate_sigmas(FlowSchedule(3.0), "beta", steps)
    assert torch.allclose(got.double(), torch.tensor(expected + [0.0], dtype=torch.float64), atol=1e-6)


def test_karras_on_a_flow_model_spans_its_table():
    s = FlowSchedule(3.0)
    sig = calculate_sigmas(s, "karras", 10)
    assert float(sig[0]) == pytest.approx(1.0) and float(sig[-2]) == pytest.approx(s.sigma_min, rel=1e-5)


def test_flow_noise_scaling_is_the_straight_path_and_its_inverse_undoes_the_shrink():
    s = FlowSchedule(3.0)
    noise, latent = torch.randn(2, 16, 4, 4), torch.randn(2, 16, 4, 4)
    x = s.noise_scaling(0.3, noise, latent)
    assert torch.allclose(x, 0.3 * noise + 0.7 * latent)
    assert torch.allclose(s.inverse_noise_scaling(0.3, latent), latent / 0.7)
    assert torch.equal(s.inverse_noise_scaling(0.0, latent), latent)


def test_freshly_loaded_flow_families_get_comfyuis_default_sampling():
    flux, schnell, sd3 = default_for_family("flux"), default_for_family("flux_schnell"), default_for_family("sd3")
    assert isinstance(flux, FluxSchedule) and flux.shift == 1.15
    assert isinstance(schnell, FlowSchedule) and schnell.shift == 1.0 and schnell.multiplier == 1.0
    assert isinstance(sd3, FlowSchedule) and sd3.shift == 3.0 and sd3.multiplier == 1000.0
    assert default_for_family("sd1") is None
