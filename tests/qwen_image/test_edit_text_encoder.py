"""Qwen-Image-Edit prompts: images go through the Qwen2.5-VL vision tower in place of <|image_pad|>, equal to
diffusers' QwenImageEditPipeline / QwenImageEditPlusPipeline prompt embeddings on a tiny encoder."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from qwen_toys import diffusers_pipeline, tiny_clip


def _picture(w: int, h: int, seed: int) -> tuple:
    """A PIL image whose size is already a multiple of 28 (no resize on either side) and the same as IMAGE."""
    rgb = np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return Image.fromarray(rgb), torch.from_numpy(rgb).float()[None] / 255.0


def test_edit_prompt_with_one_image_equals_qwen_image_edit_pipeline():
    from diffusers import QwenImageEditPipeline

    clip = tiny_clip(seed=3)
    pipe = diffusers_pipeline(QwenImageEditPipeline, clip, with_processor=True)
    pil, image = _picture(56, 84, seed=1)
    with torch.no_grad():
        want, _mask = pipe._get_qwen_prompt_embeds("make it blue", image=pil, device="cpu")
    got = clip.encode_from_tokens(clip.tokenize("make it blue", images=[image]))
    assert got.shape == want.shape
    assert torch.allclose(got, want.float(), atol=1e-4, rtol=0), float((got - want).abs().max())


def test_edit_plus_prompt_with_two_images_equals_qwen_image_edit_plus_pipeline():
    from diffusers import QwenImageEditPlusPipeline

    from core.models.qwen_vl_text import PICTURE, TEMPLATE_EDIT_PLUS

    clip = tiny_clip(seed=4)
    pipe = diffusers_pipeline(QwenImageEditPlusPipeline, clip, with_processor=True)
    (pil1, im1), (pil2, im2) = _picture(56, 56, seed=2), _picture(84, 28, seed=3)
    with torch.no_grad():
        want, _mask = pipe._get_qwen_prompt_embeds("swap them", image=[pil1, pil2], device="cpu")
    text = PICTURE.format(1) + PICTURE.format(2) + "swap them"
    got = clip.encode_from_tokens(clip.tokenize(text, images=[im1, im2], llama_template=TEMPLATE_EDIT_PLUS))
    assert got.shape == want.shape
    assert torch.allclose(got, want.float(), atol=1e-4, rtol=0), float((got - want).abs().max())


def test_the_image_changes_the_embeddings():
    clip = tiny_clip(seed=5)
    _, a = _picture(56, 56, seed=1)
    _, b = _picture(56, 56, seed=2)
    ea = clip.encode_from_tokens(clip.tokenize("x", images=[a]))
    eb = clip.encode_from_tokens(clip.tokenize("x", images=[b]))
    assert float((ea - eb).abs().max()) > 1e-3


def test_an_encoder_without_vision_tower_refuses_images():
    clip = tiny_clip(vision=False)
    _, image = _picture(56, 56, seed=1)
    with pytest.raises(ValueError, match="no vision tower"):
        clip.encode_from_tokens(clip.tokenize("x", images=[image]))
