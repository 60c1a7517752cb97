"""Fixtures for the FLUX.1 / SD3.5 text-encoder tests: tiny towers written as the files users have."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_te_dir(tmp_path_factory):
    """A folder holding clip_l, clip_g, t5xxl_fp16 and t5xxl_fp8_e4m3fn_scaled .safetensors (tiny, seed 0)."""
    from core.models.tiny import TINY_TEXT_ENCODER_FILES, write_tiny_text_encoder

    root = tmp_path_factory.mktemp("tiny_text_encoders")
    for name in TINY_TEXT_ENCODER_FILES:
        write_tiny_text_encoder(root / name)
    return root


@pytest.fixture()
def text_encoders_folder(tmp_path, tiny_te_dir):
    """Model folders whose ``text_encoders`` folder holds the tiny files (links)."""
    from core import paths

    old = paths.get()
    folders = paths.configure(base=tmp_path)
    target = folders.models_dir / "text_encoders"
    target.mkdir(parents=True, exist_ok=True)
    for f in tiny_te_dir.iterdir():
        (target / f.name).symlink_to(f)
    yield target
    paths.folders = old
