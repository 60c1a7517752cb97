"""Upscale-model nodes through spandrel (skipped where spandrel cannot be imported)."""
import pytest
import torch

from core import paths


def _spandrel():
    try:
        import spandrel  # noqa: F401
        from spandrel.architectures.ESRGAN import ESRGAN
    except Exception as e:  # ImportError, or torchvision built for another torch
        pytest.skip(f"spandrel unavailable: {e}")
    return ESRGAN


def test_missing_spandrel_gives_an_error_naming_the_node(monkeypatch):
    import builtins

    from nodes.upscale import _spandrel as need

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda n, *a, **k: (_ for _ in ()).throw(ImportError("nope"))
                        if n == "spandrel" else real(n, *a, **k))
    with pytest.raises(RuntimeError, match="UpscaleModelLoader.*spandrel"):
        need("UpscaleModelLoader")


def test_esrgan_file_loads_and_tiles_match_a_whole_pass(tmp_path, monkeypatch):
    ESRGAN = _spandrel()
    from safetensors.torch import save_file

    from nodes.upscale import ImageUpscaleWithModel, UpscaleModelLoader, upscale_tiled

    torch.manual_seed(0)
    net = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2)
    (tmp_path / "models/upscale_models").mkdir(parents=True)
    save_file(net.state_dict(), str(tmp_path / "models/upscale_models/tiny_x2.safetensors"))
    monkeypatch.setattr(paths, "folders", paths.Folders(base=tmp_path))
    (model,) = UpscaleModelLoader().execute("tiny_x2.safetensors")
    image = torch.rand(1, 40, 24, 3)
    (out,) = ImageUpscaleWithModel().execute(model, image)
    assert out.shape == (1, 80, 48, 3)
    tiled = upscale_tiled(model, image, tile=16, overlap=4)
    assert torch.allclose(out, tiled, atol=0.05)  # seams differ only by the receptive field at tile edges
