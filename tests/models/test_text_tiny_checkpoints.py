"""The text encoders of the team's tiny checkpoints (core.models.tiny) load and fit their tiny U-Nets."""
import pytest
import torch

from core.models import tiny
from core.models.detection import detect
from core.models.text_encoder import clip_from_checkpoint

TINY_FAMILIES = {"sd15": "sd1", "sd21v": "sd2", "sdxl": "sdxl", "sd15_inpaint": "sd1"}


@pytest.mark.parametrize("tiny_family", sorted(TINY_FAMILIES))
def test_tiny_checkpoint_clip_matches_its_unet(tiny_family):
    sd, metadata = tiny.tiny_state_dict(tiny_family, seed=0)
    config = detect(sd, metadata)
    assert config.family == TINY_FAMILIES[tiny_family]
    clip = clip_from_checkpoint(sd, config.family, dtype=torch.float32, device="cpu", embedding_dirs=[])
    ((cond, extra),) = clip.encode("a (tiny:1.2) cat " * 30)
    assert cond.shape == (1, 154, config.unet.context_dim)
    assert torch.isfinite(cond).all()
    if config.adm_in_channels:
        assert extra["pooled_output"].shape[-1] + 6 * 256 == config.adm_in_channels
