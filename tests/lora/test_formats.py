"""Each LoRA-family format gives the weight change its authors define, per layer kind."""
import pytest
import torch
import torch.nn.functional as F

from core.models.lora_formats import LokrPatch, parse_adapters

torch.manual_seed(0)
R, ALPHA = 4, 2.0


def _rand(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def _only(sd):
    adapters, unknown = parse_adapters(sd)
    assert unknown == []
    assert len(adapters) == 1
    return next(iter(adapters.items()))


@pytest.mark.parametrize("down_sfx,up_sfx", [
    (".lora_down.weight", ".lora_up.weight"),
    (".lora_A.weight", ".lora_B.weight"),
    (".lora.down.weight", ".lora.up.weight"),
    (".lora_linear_layer.down.weight", ".lora_linear_layer.up.weight"),
])
def test_lora_linear_is_scaled_up_times_down_in_every_spelling(down_sfx, up_sfx):
    down, up, w = _rand(R, 10), _rand(6, R), _rand(6, 10)
    name, adapter = _only({"m" + down_sfx: down, "m" + up_sfx: up, "m.alpha": torch.tensor(ALPHA)})
    assert name == "m"
    expected = (ALPHA / R) * (up @ down)
    assert torch.allclose(adapter.weight.delta(w), expected, atol=1e-6)


def test_missing_alpha_means_alpha_equals_rank():
    down, up = _rand(R, 5), _rand(3, R)
    _, adapter = _only({"m.lora_down.weight": down, "m.lora_up.weight": up})
    assert torch.allclose(adapter.weight.delta(_rand(3, 5)), up @ down, atol=1e-6)


def test_lora_conv_1x1():
    down, up, w = _rand(R, 8, 1, 1), _rand(6, R, 1, 1), _rand(6, 8, 1, 1)
    _, adapter = _only({"m.lora_down.weight": down, "m.lora_up.weight": up, "m.alpha": torch.tensor(ALPHA)})
    expected = (ALPHA / R) * torch.einsum("or,ri->oi", up[:, :, 0, 0], down[:, :, 0, 0])[:, :, None, None]
    assert torch.allclose(adapter.weight.delta(w), expected, atol=1e-6)


def test_locon_conv_3x3_equals_running_down_then_up():
    down, up = _rand(R, 5, 3, 3), _rand(7, R, 1, 1)
    _, adapter = _only({"m.lora_down.weight": down, "m.lora_up.weight": up, "m.alpha": torch.tensor(ALPHA)})
    delta = adapter.weight.delta(_rand(7, 5, 3, 3))
    x = _rand(2, 5, 9, 9)
    chained = (ALPHA / R) * F.conv2d(F.conv2d(x, down, padding=1), up)
    assert torch.allclose(F.conv2d(x, delta, padding=1), chained, atol=1e-4)


def test_locon_tucker_mid_equals_running_down_mid_up():
    down, mid, up = _rand(R, 5, 1, 1), _rand(R, R, 3, 3), _rand(7, R, 1, 1)
    _, adapter = _only({"m.lora_down.weight": down, "m.lora_mid.weight": mid, "m.lora_up.weight": up})
    delta = adapter.weight.delta(_rand(7, 5, 3, 3))
    x = _rand(1, 5, 8, 8)
    chained = F.conv2d(F.conv2d(F.conv2d(x, down), mid, padding=1), up)
    assert torch.allclose(F.conv2d(x, delta, padding=1), chained, atol=1e-4)


def test_loha_linear_is_hadamard_of_two_products():
    w1a, w1b, w2a, w2b = _rand(6, R), _rand(R, 10), _rand(6, R), _rand(R, 10)
    _, adapter = _only({"m.hada_w1_a": w1a, "m.hada_w1_b": w1b, "m.hada_w2_a": w2a, "m.hada_w2_b": w2b,
                        "m.alpha": torch.tensor(ALPHA)})
    expected = (ALPHA / R) * (w1a @ w1b) * (w2a @ w2b)
    assert torch.allclose(adapter.weight.delta(_rand(6, 10)), expected, atol=1e-5)


def test_loha_conv_3x3_reshapes_the_product_to_the_kernel():
    w1a, w1b, w2a, w2b = _rand(6, R), _rand(R, 5 * 9), _rand(6, R), _rand(R, 5 * 9)
    _, adapter = _only({"m.hada_w1_a": w1a, "m.hada_w1_b": w1b, "m.hada_w2_a": w2a, "m.hada_w2_b": w2b})
    expected = ((w1a @ w1b) * (w2a @ w2b)).reshape(6, 5, 3, 3)
    assert torch.allclose(adapter.weight.delta(_rand(6, 5, 3, 3)), expected, atol=1e-5)


def test_loha_tucker_cores_rebuild_each_factor():
    t1, t2 = _rand(R, R, 3, 3), _rand(R, R, 3, 3)
    w1a, w1b, w2a, w2b = _rand(R, 6), _rand(R, 5), _rand(R, 6), _rand(R, 5)
    _, adapter = _only({"m.hada_w1_a": w1a, "m.hada_w1_b": w1b, "m.hada_w2_a": w2a, "m.hada_w2_b": w2b,
                        "m.hada_t1": t1, "m.hada_t2": t2})
    # factor[p, r, k, l] = Σ_ij t[i, j, k, l] a[i, p] b[j, r], written as loops over the small sizes
    def factor(t, a, b):
        out = torch.zeros(6, 5, 3, 3)
        for i in range(R):
            for j in range(R):
                out += t[i, j][None, None] * a[i][:, None, None, None] * b[j][None, :, None, None]
        return out
    expected = factor(t1, w1a, w1b) * factor(t2, w2a, w2b)
    assert torch.allclose(adapter.weight.delta(_rand(6, 5, 3, 3)), expected, atol=1e-4)


def test_lokr_full_factors_is_kron_without_alpha_scaling():
    w1, w2 = _rand(2, 3), _rand(4, 5)
    _, adapter = _only({"m.lokr_w1": w1, "m.lokr_w2": w2, "m.alpha": torch.tensor(ALPHA)})
    assert torch.allclose(adapter.weight.delta(_rand(8, 15)), torch.kron(w1, w2), atol=1e-6)


def test_lokr_decomposed_factors_are_scaled_by_alpha_over_rank():
    w1, w2a, w2b = _rand(2, 3), _rand(4, R), _rand(R, 5)
    _, adapter = _only({"m.lokr_w1": w1, "m.lokr_w2_a": w2a, "m.lokr_w2_b": w2b, "m.alpha": torch.tensor(ALPHA)})
    expected = (ALPHA / R) * torch.kron(w1, w2a @ w2b)
    assert torch.allclose(adapter.weight.delta(_rand(8, 15)), expected, atol=1e-5)


def test_lokr_both_factors_decomposed():
    w1a, w1b, w2a, w2b = _rand(2, R), _rand(R, 3), _rand(4, R), _rand(R, 5)
    patch = LokrPatch(w1a=w1a, w1b=w1b, w2a=w2a, w2b=w2b, alpha=ALPHA)
    assert torch.allclose(patch.delta(_rand(8, 15)), (ALPHA / R) * torch.kron(w1a @ w1b, w2a @ w2b), atol=1e-5)


def test_lokr_conv_kron_over_channels_keeps_the_kernel_of_w2():
    w1, w2 = _rand(2, 3), _rand(4, 5, 3, 3)
    _, adapter = _only({"m.lokr_w1": w1, "m.lokr_w2": w2})
    delta = adapter.weight.delta(_rand(8, 15, 3, 3))
    for a in range(2):
        for b in range(3):
            assert torch.allclose(delta[a * 4:(a + 1) * 4, b * 5:(b + 1) * 5], w1[a, b] * w2, atol=1e-6)


def test_full_diff_and_bias():
    diff, diff_b = _rand(3, 4), _rand(3)
    _, adapter = _only({"m.diff": diff, "m.diff_b": diff_b})
    assert torch.equal(adapter.weight.delta(_rand(3, 4)), diff)
    assert torch.equal(adapter.bias.delta(_rand(3)), diff_b)


def test_old_attention_processor_names_point_at_the_projection():
    sd = {}
    for proj in ("to_q", "to_out"):
        sd[f"down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.{proj}_lora.down.weight"] = _rand(R, 8)
        sd[f"down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.{proj}_lora.up.weight"] = _rand(8, R)
    adapters, unknown = parse_adapters(sd)
    assert unknown == []
    assert sorted(adapters) == ["down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0",
                                "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q"]


def test_keys_of_unknown_shape_are_reported_by_name():
    sd = {"m.lora_down.weight": _rand(R, 3), "m.lora_up.weight": _rand(3, R),
          "m.dora_scale": _rand(3, 1), "orphan.lora_down.weight": _rand(R, 3)}
    adapters, unknown = parse_adapters(sd)
    assert list(adapters) == ["m"]
    assert unknown == ["m.dora_scale", "orphan.lora_down.weight"]
