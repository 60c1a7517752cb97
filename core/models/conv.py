"""``Conv2d`` whose small, wide CPU calls run as one matrix product on the plain weight.

PyTorch's CPU convolution (oneDNN) re-lays the whole weight into its blocked format on every call of a
plain module. For the U-Net's 1280-channel 3×3 convs at the low levels (4×4 and 8×8 latents of a 256 or
512 px image) that copy is most of the call: a 59 MB weight reordered for 32 output positions of work.
Those calls run instead as im2col (``F.unfold``) + one GEMM straight on the stored weight, 1.1–4.5× faster
measured on this project's AVX-512 CPU (bench/sampling.py, bench/controlnet.py; docs/sampling.md), with no
extra memory. Everything else, and every non-CPU device, keeps the library convolution.

The rule is static so a seed gives the same pixels in every process (no per-shape autotuning): weights of
at least ``MIN_WEIGHT`` elements and at most ``MAX_POSITIONS[dtype]`` output positions (batch × H × W).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MIN_WEIGHT = 10_000_000  # 1280·1280·9 = 14.7M and wider take the GEMM; 640·1280·9 = 7.4M does not gain
MAX_POSITIONS = {torch.float32: 256, torch.bfloat16: 128}  # measured crossovers (above: oneDNN wins)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, keys and results within float rounding), faster for small CPU calls."""

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        if self._as_gemm(input, weight):
            return conv2d_gemm(input, weight, bias, self.stride, self.padding, self.dilation)
        return super()._conv_forward(input, weight, bias)

    def _as_gemm(self, x: torch.Tensor, weight: torch.Tensor) -> bool:
        limit = MAX_POSITIONS.get(x.dtype)
        if (limit is None or x.device.type != "cpu" or x.dim() != 4 or weight.dtype != x.dtype
                or self.groups != 1 or self.padding_mode != "zeros" or isinstance(self.padding, str)
                or weight.numel() < MIN_WEIGHT):
            return False
        ho, wo = _out_size(x.shape[-2:], weight.shape[-2:], self.stride, self.padding, self.dilation)
        return x.shape[0] * ho * wo <= limit


def conv2d_gemm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride=(1, 1), padding=(0, 0), dilation=(1, 1)) -> torch.Tensor:
    """``F.conv2d`` (groups 1, zero padding) as im2col + one matrix product; returns a contiguous NCHW tensor."""
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    ho, wo = _out_size(x.shape[-2:], (kh, kw), stride, padding, dilation)
    cols = F.unfold(x, (kh, kw), dilation=dilation, padding=padding, stride=stride)  # [N, C·kh·kw, Ho·Wo]
    cols = cols.transpose(0, 1).reshape(c * kh * kw, n * ho * wo)  # one GEMM over the whole batch
    w = weight.reshape(o, -1)  # [O, C·kh·kw], a view of the stored weight
    out = torch.addmm(bias[:, None], w, cols) if bias is not None else w @ cols  # [O, N·Ho·Wo]
    return out.view(o, n, ho, wo).transpose(0, 1).contiguous()  # the next conv wants plain NCHW


def _out_size(size, kernel, stride, padding, dilation) -> tuple[int, int]:
    return tuple((size[i] + 2 * padding[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in (0, 1))
