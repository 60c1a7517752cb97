"""The flow-model and custom-sampling nodes: ComfyUI's inputs, and what each gives."""
from __future__ import annotations

import pytest
import torch

from core.sampling.model_sampling import FlowSchedule, FluxSchedule
from flow_toys import GaussianVelocity, ZeroVelocity, empty_conditioning, flow_handle


def test_modelsamplingsd3_gives_a_clone_with_the_shift_and_leaves_the_input_alone():
    from nodes.model_sampling import ModelSamplingSD3

    model = flow_handle(ZeroVelocity(), FlowSchedule(3.0))
    (patched,) = ModelSamplingSD3().execute(model, 5.0)
    assert patched is not model and patched.unet is model.unet
    assert patched.model_sampling.shift == 5.0 and patched.model_sampling.multiplier == 1000.0
    assert model.model_sampling.shift == 3.0


def test_modelsamplingauraflow_conditions_the_network_on_t_in_0_to_1():
    from nodes.model_sampling import ModelSamplingAuraFlow

    (patched,) = ModelSamplingAuraFlow().execute(flow_handle(ZeroVelocity(), None), 1.73)
    s = patched.model_sampling
    assert isinstance(s, FlowSchedule) and s.multiplier == 1.0 and s.shift == 1.73


def test_modelsamplingflux_shift_follows_the_image_size():
    from nodes.model_sampling import ModelSamplingFlux

    model = flow_handle(ZeroVelocity(), FluxSchedule(1.15))
    (small,) = ModelSamplingFlux().execute(model, 1.15, 0.5, 256, 256)
    (large,) = ModelSamplingFlux().execute(model, 1.15, 0.5, 1024, 1024)
    assert isinstance(small.model_sampling, FluxSchedule)
    assert small.model_sampling.shift == pytest.approx(0.5) and large.model_sampling.shift == pytest.approx(1.15)


def test_model_sampling_node_defaults_are_comfyuis():
    from nodes.model_sampling import ModelSamplingAuraFlow, ModelSamplingFlux, ModelSamplingSD3

    assert ModelSamplingSD3.INPUT_TYPES()["required"]["shift"][1]["default"] == 3.0
    assert ModelSamplingAuraFlow.INPUT_TYPES()["required"]["shift"][1]["default"] == 1.73
    req = ModelSamplingFlux.INPUT_TYPES()["required"]
    assert [req[k][1]["default"] for k in ("max_shift", "base_shift", "width", "height")] == [1.15, 0.5, 1024, 1024]


def test_basicscheduler_on_a_patched_model_uses_its_flow_schedule():
    from nodes.custom_sampling import BasicScheduler
    from nodes.model_sampling import ModelSamplingSD3

    (patched,) = ModelSamplingSD3().execute(flow_handle(ZeroVelocity(), FlowSchedule(3.0)), 6.0)
    (sigmas,) = BasicScheduler().execute(patched, "simple", 4, 1.0)
    expected = [6 * t / (1 + 5 * t) for t in (1.0, 0.75, 0.5, 0.25)] + [0.0]
    assert torch.allclose(sigmas.double(), torch.tensor(expected, dtype=torch.float64), atol=1e-6)


def test_emptysd3latentimage_is_16_channels_at_an_eighth_of_the_size():
    from nodes.latent_extra import EmptySD3LatentImage

    (latent,) = EmptySD3LatentImage().execute(1024, 768, 2)
    assert latent["samples"].shape == (2, 16, 96, 128) and not latent["samples"].any()


def test_16_channel_latent_formats_subtract_the_shift_then_scale():
    from core.models.latent_formats import FLUX, SD3

    raw = torch.randn(1, 16, 2, 2)
    assert torch.allclose(FLUX.process_in(raw), (raw - 0.1159) * 0.3611)
    assert torch.allclose(SD3.process_out(SD3.process_in(raw)), raw, atol=1e-6)
    assert FLUX.preview_rgb(torch.randn(1, 16, 3, 5)).shape == (1, 3, 5, 3)


def test_fluxguidance_sets_the_scale_on_every_entry_without_touching_the_input():
    from nodes.conditioning import FluxGuidance

    cond = [[torch.zeros(1, 2, 4), {"pooled_output": torch.zeros(1, 3)}], [torch.ones(1, 2, 4), {}]]
    (out,) = FluxGuidance().execute(cond, 2.0)
    assert [o["guidance"] for _, o in out] == [2.0, 2.0]
    assert all("guidance" not in o for _, o in cond)


def test_flux_vector_is_pooled_text_then_guidance_defaulting_to_3_5():
    from core.sampling.flow_conds import flux_vector

    pooled = torch.arange(3.0)[None]
    assert flux_vector({"pooled_output": pooled, "guidance": 2.0}, 1, 3).tolist() == [[0.0, 1.0, 2.0, 2.0]]
    assert flux_vector({}, 2, 3).tolist() == [[0.0, 0.0, 0.0, 3.5]] * 2
    with pytest.raises(ValueError, match="pooled_output has 3 values, the model expects 768"):
        flux_vector({"pooled_output": pooled}, 1, 768)


@pytest.mark.parametrize("text, values", [("1, 0.5", [1.0, 0.5]), ("0.9 0.6 0.3 0", [0.9, 0.6, 0.3, 0.0]),
                                          ("1.0,0.75,\n.5, 1e-2", [1.0, 0.75, 0.5, 0.01])])
def test_manualsigmas_reads_every_number_in_the_text(text, values):
    from nodes.custom_sampling import ManualSigmas

    (sigmas,) = ManualSigmas().execute(text)
    assert sigmas.dtype == torch.float32 and sigmas.tolist() == pytest.approx(values)


def test_manualsigmas_without_numbers_names_node_and_input():
    from nodes.custom_sampling import ManualSigmas

    with pytest.raises(ValueError, match="ManualSigmas, input 'sigmas'"):
        ManualSigmas().execute("none")


def test_disablenoise_starts_sampling_from_the_latent_itself(cpu_fp32):
    from nodes.custom_sampling import KSamplerSelect
    from nodes.guiders import BasicGuider, DisableNoise, SamplerCustomAdvanced

    model = flow_handle(ZeroVelocity(), FlowSchedule(3.0))
    latent = {"samples": torch.randn(1, 16, 4, 4)}
    (noise,) = DisableNoise().execute()
    (guider,) = BasicGuider().execute(model, empty_conditioning())
    out, _ = SamplerCustomAdvanced().execute(noise, guider, KSamplerSelect().execute("euler")[0],
                                             torch.tensor([0.5, 0.25, 0.0]), latent)
    # start 0.5 * 0 + 0.5 * latent; v = 0 keeps it; the end divides by (1 - 0)
    assert torch.allclose(out["samples"], 0.5 * latent["samples"], atol=1e-6)


def test_cfgguider_equals_samplercustom_with_the_same_cfg(cpu_fp32):
    from core.sampling.samplers import get_sampler
    from nodes.custom_sampling import SamplerCustom
    from nodes.guiders import CFGGuider, RandomNoise, SamplerCustomAdvanced

    model = flow_handle(GaussianVelocity(0.3, 0.8), FlowSchedule(3.0))
    pos, neg = empty_conditioning(), [[torch.ones(1, 2, 8), {}]]
    latent = {"samples": torch.zeros(1, 16, 4, 4)}
    sigmas = torch.tensor([1.0, 0.6, 0.2, 0.0])
    (guider,) = CFGGuider().execute(model, pos, neg, 4.0)
    a, _ = SamplerCustomAdvanced().execute(RandomNoise().execute(11)[0], guider, get_sampler("heun"), sigmas, latent)
    b, _ = SamplerCustom().execute(model, True, 11, 4.0, pos, neg, get_sampler("heun"), sigmas, latent)
    assert torch.equal(a["samples"], b["samples"])


def test_get_model_object_gives_plugins_the_flow_sampling_with_comfyuis_const_methods():
    flow = flow_handle(ZeroVelocity(), FluxSchedule(0.9))
    ms = flow.get_model_object("model_sampling")
    assert ms is flow.model_sampling
    x, v = torch.randn(2, 16, 2, 2), torch.randn(2, 16, 2, 2)
    sigma = torch.tensor([0.5, 0.25])
    assert torch.equal(ms.calculate_input(sigma, x), x)
    assert torch.allclose(ms.calculate_denoised(sigma, v, x), x - v * sigma.reshape(-1, 1, 1, 1))
    assert float(ms.sigma_max) == pytest.approx(1.0)
    assert isinstance(flow_handle(ZeroVelocity(), None).get_model_object("model_sampling"), FlowSchedule)  # sd3 default


def test_comfy_calculate_sigmas_works_on_a_flow_models_sampling():
    from core.compat import ensure_on_path

    ensure_on_path()
    import comfy.samplers

    model = flow_handle(ZeroVelocity(), FlowSchedule(3.0))
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "simple", 4)
    expected = [3 * t / (1 + 2 * t) for t in (1.0, 0.75, 0.5, 0.25)] + [0.0]
    assert sigmas.tolist() == pytest.approx(expected, abs=1e-6)
