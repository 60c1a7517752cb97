"""CFG batching of prompts of different lengths: Qwen-Image's text tokens have positions, so a shorter prompt
is never repeated to the longer one's length (each runs on its own, as ComfyUI's equal-shape rule does); for other
models the repeat stays within ComfyUI's 4x bound."""
from __future__ import annotations

import torch

from core.models.detection import ModelConfig
from core.models.handles import ModelHandle
from core.models.latent_formats import LatentFormat
from core.sampling.model_sampling import FlowSchedule


class RecordingNet(torch.nn.Module):
    def __init__(self, positional_text: bool):
        super().__init__()
        self.positional_text = positional_text
        self.dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)
        self.context_shapes: list = []

    def forward(self, x, timesteps, context, y=None, control=None):
        self.context_shapes.append(tuple(context.shape[:2]))
        return context.mean(dim=(1, 2)).reshape(-1, 1, 1, 1).expand_as(x)  # depends on the prompt's tokens


def _run(net, pos_tokens: int, neg_tokens: int):
    from core.sampling.sample import common_ksampler

    handle = ModelHandle(net, ModelConfig(family="qwen_image", prediction="flow", unet=None, in_channels=16),
                         LatentFormat(name="id16", scale_factor=1.0, latent_channels=16), name="recording")
    handle.model_sampling = FlowSchedule(3.1, multiplier=1.0)
    g = torch.Generator().manual_seed(0)
    positive = [[torch.randn(1, pos_tokens, 8, generator=g), {}]]
    negative = [[torch.randn(1, neg_tokens, 8, generator=g), {}]]
    common_ksampler(handle, 1, 2, 4.0, "euler", "simple", positive, negative, {"samples": torch.zeros(1, 16, 4, 4)})
    return net.context_shapes


def test_prompts_of_different_lengths_run_separately_on_a_positional_text_model():
    shapes = _run(RecordingNet(positional_text=True), 7, 3)
    assert set(shapes) == {(1, 7), (1, 3)}


def test_equal_lengths_still_share_one_forward():
    shapes = _run(RecordingNet(positional_text=True), 5, 5)
    assert shapes == [(2, 5), (2, 5)]


def test_other_models_repeat_a_prompt_at_most_four_times():
    assert _run(RecordingNet(positional_text=False), 8, 4) == [(2, 8), (2, 8)]  # 2x: one batch
    assert set(_run(RecordingNet(positional_text=False), 77, 5)) == {(1, 77), (1, 5)}  # 77x: separate
