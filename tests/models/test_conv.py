"""core.models.conv: small, wide CPU convolutions as one GEMM on the plain weight."""
import pytest
import torch
import torch.nn.functional as F

from core.models.conv import MIN_WEIGHT, Conv2d, conv2d_gemm
from core.models.unet import UNetConfig, UNetModel


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 1, 1), (1, 0, 1), (1, 2, 2), (2, 0, 1)])
@pytest.mark.parametrize("bias", [True, False])
def test_gemm_conv_equals_library_conv(stride, padding, dilation, bias):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 6, 7, 9, generator=gen)
    w = torch.randn(5, 6, 3, 3, generator=gen)
    b = torch.randn(5, generator=gen) if bias else None
    pair = lambda v: (v, v)  # noqa: E731
    got = conv2d_gemm(x, w, b, pair(stride), pair(padding), pair(dilation))
    want = F.conv2d(x, w, b, stride, padding, dilation)
    assert got.shape == want.shape and got.is_contiguous()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_gemm_conv_handles_a_1x1_kernel():
    x, w = torch.randn(2, 8, 4, 4), torch.randn(3, 8, 1, 1)
    torch.testing.assert_close(conv2d_gemm(x, w, None), F.conv2d(x, w), rtol=1e-5, atol=1e-5)


def _wide(stride=1):
    """The U-Net's 1280-channel 3x3 conv shape (14.7M weights), small enough to build quickly on meta."""
    conv = Conv2d(1280, 1280, 3, padding=1, stride=stride, device="meta")
    assert conv.weight.numel() >= MIN_WEIGHT
    return conv


@pytest.mark.parametrize("batch,size,stride,dtype,expected", [
    (2, 4, 1, torch.float32, True),  # 32 positions: the weight reorder dominates oneDNN's call
    (2, 8, 1, torch.float32, True),  # 128
    (4, 8, 1, torch.float32, True),  # 256, the fp32 limit
    (2, 16, 1, torch.float32, False),  # 512: oneDNN wins
    (2, 16, 2, torch.float32, True),  # stride 2: 8x8 outputs
    (2, 8, 1, torch.bfloat16, True),
    (4, 8, 1, torch.bfloat16, False),  # 256 > the bf16 limit
    (2, 4, 1, torch.float16, False),  # no measured CPU gain: left to the library
])
def test_gemm_is_chosen_for_wide_weights_and_few_output_positions(batch, size, stride, dtype, expected):
    conv = _wide(stride)
    x = torch.empty(batch, 1280, size, size, dtype=dtype)
    assert conv._as_gemm(x, conv.weight.to(dtype)) is expected


def test_narrow_weights_and_other_devices_keep_the_library_conv():
    narrow = Conv2d(320, 320, 3, padding=1)
    assert not narrow._as_gemm(torch.empty(1, 320, 2, 2), narrow.weight)
    wide = _wide()
    assert not wide._as_gemm(torch.empty(2, 1280, 4, 4, device="meta"), wide.weight)
    grouped = Conv2d(1280, 1280 * 4, 3, padding=1, groups=2, device="meta")
    assert not grouped._as_gemm(torch.empty(2, 1280, 4, 4), grouped.weight)


def test_module_on_the_gemm_path_matches_the_library_conv():
    torch.manual_seed(0)
    conv = Conv2d(1280, 1280, 3, padding=1)
    x = torch.randn(2, 1280, 4, 4)
    assert conv._as_gemm(x, conv.weight)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, 1, 1), rtol=1e-4, atol=1e-5)


def test_every_unet_3x3_conv_is_the_fast_conv_with_unchanged_keys():
    with torch.device("meta"):
        unet = UNetModel(UNetConfig())
    convs = {n: m for n, m in unet.named_modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)}
    assert convs and all(type(m) is Conv2d for m in convs.values())
    assert "input_blocks.0.0.weight" in unet.state_dict() and "middle_block.0.in_layers.2.weight" in unet.state_dict()
