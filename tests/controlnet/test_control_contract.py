"""The contract every CONTROL_NET value keeps (core/models/control.py): binding, chain, step range, strength.

Each behaviour is checked on a stand-in handle with exact residuals, then on the two real kinds (a tiny
ControlNet and a tiny T2I-Adapter) through the same calls guidance makes.
"""
import pytest
import torch

from core.models.control import ControlHandle, add_controls, tile_to_batch
from core.models.controlnet import ControlNetHandle, load_controlnet
from core.models.t2i_adapter import T2IAdapterHandle
from core.sampling.schedule import DiscreteSchedule
from tests.controlnet.control_testnets import control_inputs, full_adapter_sd, tiny_controlnet_state_dict


class ConstantHandle(ControlHandle):
    """Residuals that are the hint's mean per part: exact numbers, and a count of the network's runs."""

    def __init__(self, parts=("input", "middle")):
        super().__init__(torch.nn.Linear(1, 1), "constant")
        self.parts = parts
        self.runs = []  # shared by every bound copy, like the network itself

    def residuals(self, x, sigma, cond_context, batched):
        self.runs.append(float(sigma.max()))
        value = float(self.hint.mean())
        return {part: [torch.full_like(x, value), torch.full_like(x, 2 * value)] for part in self.parts}


def _sigma_at(percent: float) -> torch.Tensor:
    return torch.tensor([DiscreteSchedule().percent_to_sigma(percent)] * 2)


X = torch.zeros(2, 4, 8, 8)
CTX = {"c_crossattn": torch.zeros(2, 77, 32), "y": None}


def test_apply_binds_a_copy_and_leaves_the_loaded_handle_unbound():
    loaded = ConstantHandle()
    bound = loaded.apply(torch.ones(1, 8, 8, 3), 0.5, 0.1, 0.9)
    assert bound is not loaded and bound.model is loaded.model
    assert (bound.strength, bound.start_percent, bound.end_percent) == (0.5, 0.1, 0.9)
    assert loaded.hint is None and loaded.strength == 1.0 and loaded.get_control(X, _sigma_at(0.5), CTX, 1) is None


def test_strength_multiplies_every_residual():
    got = ConstantHandle().apply(torch.full((1, 8, 8, 3), 0.5), 3.0).get_control(X, _sigma_at(0.5), CTX, 1)
    assert [float(t.flatten()[0]) for t in got["input"] + got["middle"]] == [1.5, 3.0, 1.5, 3.0]


def test_strength_zero_passes_the_previous_control_through_without_running():
    handle = ConstantHandle()
    previous = handle.apply(torch.full((1, 8, 8, 3), 0.25), 1.0)
    off = handle.apply(torch.ones(1, 8, 8, 3), 0.0, previous=previous)
    got = off.get_control(X, _sigma_at(0.5), CTX, 1)
    assert len(handle.runs) == 1 and float(got["input"][0].flatten()[0]) == 0.25


def test_no_hint_passes_the_previous_control_through():
    handle = ConstantHandle()
    previous = handle.apply(torch.full((1, 8, 8, 3), 0.25), 1.0)
    unbound = ConstantHandle()
    unbound.previous = previous
    assert float(unbound.get_control(X, _sigma_at(0.5), CTX, 1)["middle"][1].flatten()[0]) == 0.5


@pytest.mark.parametrize("percent, acts", [(0.1, False), (0.2, True), (0.4, True), (0.6, True), (0.7, False)])
def test_it_acts_only_between_start_and_end_percent_inclusive(percent, acts):
    handle = ConstantHandle()
    bound = handle.apply(torch.ones(1, 8, 8, 3), 1.0, start_percent=0.2, end_percent=0.6)
    assert (bound.get_control(X, _sigma_at(percent), CTX, 1) is not None) is acts
    assert len(handle.runs) == int(acts)


def test_outside_its_range_the_previous_control_still_acts():
    previous = ConstantHandle().apply(torch.full((1, 8, 8, 3), 0.5), 1.0)
    late = ConstantHandle().apply(torch.ones(1, 8, 8, 3), 1.0, 0.8, 1.0, previous=previous)
    got = late.get_control(X, _sigma_at(0.3), CTX, 1)
    assert float(got["input"][0].flatten()[0]) == 0.5


def test_chained_controls_add_part_by_part_and_keep_what_one_side_lacks():
    first = ConstantHandle(parts=("input", "middle")).apply(torch.full((1, 8, 8, 3), 0.5), 1.0)
    second = ConstantHandle(parts=("input", "adapter")).apply(torch.full((1, 8, 8, 3), 0.25), 2.0, previous=first)
    got = second.get_control(X, _sigma_at(0.5), CTX, 1)
    firsts = {part: [float(t.flatten()[0]) for t in ts] for part, ts in got.items()}
    assert firsts == {"input": [1.0, 2.0], "middle": [0.5, 1.0], "adapter": [0.5, 1.0]}


def test_add_controls_keeps_indices_only_one_side_has():
    one, two = torch.ones(1), 2 * torch.ones(1)
    got = add_controls({"input": [one, None, one]}, {"input": [two], "middle": [None]})
    assert [None if t is None else float(t) for t in got["input"]] == [3.0, None, 1.0]
    assert got["middle"] == [None]


def test_tile_to_batch_cycles_the_hints_over_each_conditionings_images():
    hints = torch.arange(2.0).reshape(2, 1)
    assert tile_to_batch(hints, 6, 2).flatten().tolist() == [0, 1, 0, 0, 1, 0]  # 2 conds of 3 images
    assert tile_to_batch(hints[:1], 4, 1).flatten().tolist() == [0, 0, 0, 0]


# --- the real kinds ---------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["controlnet", "t2i_adapter"])
def kind(request, tmp_path_factory):
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp(request.param) / f"{request.param}.safetensors"
    save_file(tiny_controlnet_state_dict() if request.param == "controlnet" else full_adapter_sd(), str(path))
    handle = load_controlnet(path)
    assert type(handle) is {"controlnet": ControlNetHandle, "t2i_adapter": T2IAdapterHandle}[request.param]
    return handle



def test_every_kind_is_a_control_handle(kind):
    assert isinstance(kind, ControlHandle) and kind.hint is None


def test_every_kind_scales_its_residuals_by_strength(kind):
    x, sigma, context, hint = control_inputs()
    ctx = {"c_crossattn": context, "y": None}
    one, half = kind.apply(hint, 1.0).get_control(x, sigma, ctx, 1), kind.apply(hint, 0.5).get_control(x, sigma, ctx, 1)
    assert set(one) == set(half) and one
    for part in one:
        assert all(torch.allclose(0.5 * a, b, atol=1e-6) for a, b in zip(one[part], half[part]))


def test_every_kind_adds_itself_onto_its_previous(kind):
    x, sigma, context, hint = control_inputs()
    ctx = {"c_crossattn": context, "y": None}
    previous = kind.apply(1.0 - hint, 0.7)
    chained = kind.apply(hint, 1.3, previous=previous).get_control(x, sigma, ctx, 1)
    a, b = previous.get_control(x, sigma, ctx, 1), kind.apply(hint, 1.3).get_control(x, sigma, ctx, 1)
    for part in chained:
        assert all(torch.allclose(u + v, w, atol=1e-5) for u, v, w in zip(a[part], b[part], chained[part]))


def test_every_kind_stays_silent_outside_its_step_range_and_at_strength_zero(kind):
    x, _, context, hint = control_inputs(batch=1)
    ctx = {"c_crossattn": context, "y": None}
    assert kind.apply(hint, 1.0, 0.5, 1.0).get_control(x, _sigma_at(0.2)[:1], ctx, 1) is None
    assert kind.apply(hint, 1.0, 0.0, 0.4).get_control(x, _sigma_at(0.6)[:1], ctx, 1) is None
    assert kind.apply(hint, 0.0).get_control(x, _sigma_at(0.5)[:1], ctx, 1) is None
    assert kind.apply(hint, 1.0, 0.0, 0.4).get_control(x, _sigma_at(0.3)[:1], ctx, 1) is not None


def test_rebinding_a_bound_handle_uses_the_new_hint(kind):
    """What a handle keeps from one hint (the hint block, the adapter's features) goes with the next apply."""
    x, sigma, context, hint = control_inputs()
    ctx = {"c_crossattn": context, "y": None}
    first = kind.apply(hint, 1.0)
    first.get_control(x, sigma, ctx, 1)  # fills the per-hint cache
    again = first.apply(1.0 - hint, 1.0).get_control(x, sigma, ctx, 1)
    fresh = kind.apply(1.0 - hint, 1.0).get_control(x, sigma, ctx, 1)
    for part in fresh:
        assert all(torch.equal(a, b) for a, b in zip(again[part], fresh[part]))


# --- ComfyUI's ControlBase names (what packs that stack ControlNets call) --------------------------------

def test_comfy_style_binding_equals_apply(kind):
    """``copy().set_cond_hint(image.movedim(-1, 1), ...).set_previous_controlnet(prev)``, as ComfyUI's node does."""
    x, sigma, context, hint = control_inputs()
    ctx = {"c_crossattn": context, "y": None}
    previous = kind.apply(1.0 - hint, 0.7)
    comfy = kind.copy().set_cond_hint(hint.movedim(-1, 1), 1.3, (0.0, 0.9)).set_previous_controlnet(previous)
    ours = kind.apply(hint, 1.3, 0.0, 0.9, previous=previous)
    assert comfy.previous_controlnet is previous and comfy.timestep_percent_range == (0.0, 0.9)
    assert torch.equal(comfy.cond_hint_original, hint.movedim(-1, 1))
    a, b = comfy.get_control(x, sigma, ctx, 1), ours.get_control(x, sigma, ctx, 1)
    for part in a:
        assert all(torch.equal(u, v) for u, v in zip(a[part], b[part]))


def test_comfy_copy_keeps_the_binding_but_not_the_chain():
    loaded = ConstantHandle()
    bound = loaded.apply(torch.full((1, 8, 8, 3), 0.5), 2.0, 0.1, 0.9, previous=loaded.apply(torch.ones(1, 8, 8, 3), 1.0))
    c = bound.copy()
    assert c is not bound and c.previous_controlnet is None
    assert (c.strength, c.timestep_percent_range) == (2.0, (0.1, 0.9)) and torch.equal(c.hint, bound.hint)


def test_set_cond_hint_refuses_extra_concat_channels_by_name():
    with pytest.raises(ValueError, match="constant: extra_concat"):
        ConstantHandle().copy().set_cond_hint(torch.ones(1, 3, 8, 8), extra_concat=[torch.ones(1, 1, 8, 8)])
