"""Loader and VAE nodes: inputs as docs/comfy-api.md §6, files from the model folders, errors naming node and input."""
from __future__ import annotations

import pytest
import torch

from core import paths


@pytest.fixture()
def folders(tmp_path, tiny_checkpoint, cpu_fp32):
    import shutil

    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    (tmp_path / "models" / "vae").mkdir(parents=True)
    shutil.copy(tiny_checkpoint("sd15"), tmp_path / "models" / "checkpoints" / "tiny.safetensors")
    old = paths.get()
    yield paths.configure(base=tmp_path)
    paths.folders = old


def test_node_inputs_follow_the_reference():
    from nodes.loaders import CheckpointLoaderSimple, UNETLoader, VAELoader
    from nodes.vae import VAEDecode, VAEDecodeTiled, VAEEncode, VAEEncodeTiled

    assert list(CheckpointLoaderSimple.INPUT_TYPES()["required"]) == ["ckpt_name"]
    assert CheckpointLoaderSimple.RETURN_TYPES == ("MODEL", "CLIP", "VAE")
    assert list(UNETLoader.INPUT_TYPES()["required"]) == ["unet_name", "weight_dtype"]
    assert list(VAELoader.INPUT_TYPES()["required"]) == ["vae_name"]
    assert list(VAEDecode.INPUT_TYPES()["required"]) == ["samples", "vae"]
    assert list(VAEEncode.INPUT_TYPES()["required"]) == ["pixels", "vae"]
    tiled = VAEDecodeTiled.INPUT_TYPES()["required"]
    assert list(tiled) == ["samples", "vae", "tile_size", "overlap", "temporal_size", "temporal_overlap"]
    assert tiled["tile_size"][1] == {"default": 512, "min": 64, "max": 4096, "step": 32}
    assert VAEEncodeTiled.INPUT_TYPES()["required"]["tile_size"][1]["step"] == 64


def test_checkpoint_combo_lists_the_folder(folders):
    from nodes.loaders import CheckpointLoaderSimple

    assert CheckpointLoaderSimple.INPUT_TYPES()["required"]["ckpt_name"][0] == ["tiny.safetensors"]


def test_load_decode_encode_round_trip_through_nodes(folders):
    from nodes.loaders import CheckpointLoaderSimple
    from nodes.vae import VAEDecode, VAEEncode

    model, clip, vae = CheckpointLoaderSimple().execute("tiny.safetensors")
    assert model.config.family == "sd1" and clip is not None
    (image,) = VAEDecode().execute(vae, {"samples": torch.randn(1, 4, 4, 4)})
    assert image.shape == (1, 32, 32, 3)
    (latent,) = VAEEncode().execute(vae, image)
    assert latent["samples"].shape == (1, 4, 4, 4)


def test_missing_file_error_names_node_and_input(folders):
    from nodes.loaders import CheckpointLoaderSimple

    with pytest.raises(ValueError, match=r"CheckpointLoaderSimple, input 'ckpt_name':.*nope\.safetensors"):
        CheckpointLoaderSimple().execute("nope.safetensors")


def test_corrupt_file_error_names_node_input_and_file(folders):
    from nodes.loaders import VAELoader

    (folders.models_dir / "vae" / "bad.safetensors").write_bytes(b"garbage!")
    with pytest.raises(ValueError, match=r"VAELoader, input 'vae_name': cannot load 'bad\.safetensors'"):
        VAELoader().execute("bad.safetensors")
