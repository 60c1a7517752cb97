"""fp8 matmul (``fp8_e4m3fn_fast``): guarded by the device's capability; the kernel path itself checked on
the CPU, where torch implements ``_scaled_mm`` too. CUDA is not exercised by these tests."""
from __future__ import annotations

import pytest
import torch

from core.models.cast_layers import CastLinear, cast_twin, fp8_linear, fp8_matmul_available
from core.models.fp8 import quantize

CPU = torch.device("cpu")


def fp8_layer(in_features=64, out_features=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    layer = cast_twin(torch.nn.Linear(in_features, out_features))
    with torch.no_grad():
        layer.weight = torch.nn.Parameter(quantize(torch.randn(out_features, in_features, generator=g) * 0.1,
                                                   torch.float8_e4m3fn), requires_grad=False)
        layer.bias.copy_(torch.randn(out_features, generator=g) * 0.1)
    return layer


def test_cpu_has_no_fp8_matmul():
    assert not fp8_matmul_available(CPU)


def test_a_fast_layer_on_the_cpu_computes_by_upcasting():
    layer = fp8_layer()
    x = torch.randn(2, 5, 64)
    slow = layer(x)
    layer.fast = True
    assert torch.equal(layer(x), slow)


def test_scaled_mm_path_is_within_input_quantization_of_the_upcast_result():
    layer = fp8_layer()
    x = torch.randn(3, 7, 64)
    fast, slow = fp8_linear(layer, x), layer(x)
    assert fast.shape == slow.shape == (3, 7, 32)
    err = (fast - slow).abs().mean() / slow.abs().mean()
    assert 0 < err < 0.08  # the input is rounded to e4m3 (3 mantissa bits); the weight already was


def test_scaled_mm_path_divides_by_the_files_input_scale_and_applies_the_weight_scale():
    layer = fp8_layer()
    layer.scale_weight = torch.tensor(0.5)
    layer.scale_input = torch.tensor(4.0)
    x = torch.randn(16, 64) * 100  # beyond e4m3's 448 without the input scale
    fast = fp8_linear(layer, x)
    slow = torch.nn.functional.linear(x, layer.weight.float() * 0.5, layer.bias)
    assert (fast - slow).abs().mean() / slow.abs().mean() < 0.08


def test_shapes_the_kernel_cannot_take_fall_back():
    assert fp8_linear(fp8_layer(in_features=40), torch.randn(2, 40)) is None
    e5m2 = fp8_layer()
    e5m2.weight = torch.nn.Parameter(e5m2.weight.float().to(torch.float8_e5m2), requires_grad=False)
    assert fp8_linear(e5m2, torch.randn(2, 64)) is None


def test_cast_twin_keeps_the_layers_parameters():
    plain = torch.nn.Linear(8, 4)
    twin = cast_twin(plain)
    assert isinstance(twin, CastLinear) and twin.weight is plain.weight and twin.bias is plain.bias
    assert list(twin.state_dict()) == ["weight", "bias"]
    torch.testing.assert_close(twin(torch.ones(1, 8)), plain(torch.ones(1, 8)))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float16])
def test_fast_cpu_upcast_equals_torchs_conversion_for_every_e4m3_code_but_nan(dtype):
    from core.models.cast_layers import has_nan_codes, upcast

    codes = torch.arange(256, dtype=torch.uint8)
    codes = codes[(codes & 0x7F) != 0x7F].view(torch.float8_e4m3fn)  # the 254 numbers (±0 included)
    assert not has_nan_codes(codes)
    got = upcast(codes, dtype, nan_free=True)
    assert got.dtype == dtype
    assert torch.equal(got.view(torch.int16 if dtype != torch.float32 else torch.int32),
                       codes.to(dtype).view(torch.int16 if dtype != torch.float32 else torch.int32))


def test_nan_codes_keep_torchs_conversion():
    from core.models.cast_layers import has_nan_codes

    w = torch.tensor([0x7F, 0x01], dtype=torch.uint8).view(torch.float8_e4m3fn)
    assert has_nan_codes(w)
    layer = fp8_layer(in_features=2, out_features=1)
    layer.weight = torch.nn.Parameter(w.reshape(1, 2), requires_grad=False)
    assert not layer.nan_free and torch.isnan(layer.cast_weight(torch.float32, CPU)[0, 0])


def test_flush_to_zero_mode_keeps_the_upcast_exact():
    from core.models.cast_layers import upcast

    codes = torch.arange(1, 8, dtype=torch.uint8).view(torch.float8_e4m3fn)  # e4m3's subnormals
    torch.set_flush_denormal(True)
    try:
        got = upcast(codes, torch.bfloat16, nan_free=True)
    finally:
        torch.set_flush_denormal(False)
    assert torch.equal(got, codes.to(torch.bfloat16)) and bool((got != 0).all())
