"""Upscale-model nodes through spandrel, on tiny seeded ESRGAN / Real-ESRGAN files written per test."""
from __future__ import annotations

import math

import pytest
import torch

GC = 32  # ESRGAN's dense-block growth channels, fixed by the architecture


@pytest.fixture()
def spandrel():
    import spandrel  # a requirement: its absence is a failure, not a skip
    return spandrel


# --- tiny state dicts in the published key layouts, seeded random weights ---------------------------

def _conv(sd: dict, key: str, out_c: int, in_c: int):
    sd[f"{key}.weight"] = torch.randn(out_c, in_c, 3, 3) / math.sqrt(in_c * 9)
    sd[f"{key}.bias"] = torch.randn(out_c) * 0.01


def esrgan_old(nf=8, nb=1, scale=4) -> dict:
    """The original ESRGAN repo's layout: one nn.Sequential 'model' (conv, RRDB trunk, upconvs, HR conv, last)."""
    torch.manual_seed(0)
    sd: dict = {}
    _conv(sd, "model.0", nf, 3)
    for b in range(nb):
        for r in (1, 2, 3):
            for i in range(1, 6):
                _conv(sd, f"model.1.sub.{b}.RDB{r}.conv{i}.0", nf if i == 5 else GC, nf + (i - 1) * GC)
    _conv(sd, f"model.1.sub.{nb}", nf, nf)  # trunk conv
    ups = int(math.log2(scale))
    for u in range(1, ups + 1):  # [Upsample, conv, LeakyReLU] per 2x: the conv sits at 3, 6, ...
        _conv(sd, f"model.{3 * u}", nf, nf)
    _conv(sd, f"model.{3 * ups + 2}", nf, nf)  # HR conv
    _conv(sd, f"model.{3 * ups + 4}", 3, nf)  # last conv
    return sd


def rrdbnet_new(nf=8, nb=1, scale=2) -> dict:
    """BasicSR / Real-ESRGAN RRDBNet: a 4x network; x2 and x1 pixel-unshuffle the input first."""
    torch.manual_seed(1)
    sd: dict = {}
    _conv(sd, "conv_first", nf, 3 * {4: 1, 2: 4, 1: 16}[scale])
    for b in range(nb):
        for r in (1, 2, 3):
            for i in range(1, 6):
                _conv(sd, f"body.{b}.rdb{r}.conv{i}", nf if i == 5 else GC, nf + (i - 1) * GC)
    for key in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        _conv(sd, key, nf, nf)
    _conv(sd, "conv_last", 3, nf)
    return sd


def compact(nf=8, num_conv=2, scale=2, channels=3) -> dict:
    """Real-ESRGAN SRVGGNetCompact: 'body' alternates conv and PReLU, then a pixel-shuffle conv."""
    torch.manual_seed(2)
    sd: dict = {}
    _conv(sd, "body.0", nf, channels)
    sd["body.1.weight"] = torch.full((nf,), 0.25)
    for k in range(1, num_conv + 1):
        _conv(sd, f"body.{2 * k}", nf, nf)
        sd[f"body.{2 * k + 1}.weight"] = torch.full((nf,), 0.25)
    _conv(sd, f"body.{2 * num_conv + 2}", channels * scale * scale, nf)
    return sd


@pytest.fixture()
def models_dir(folders):
    d = folders.models_dir / "upscale_models"
    d.mkdir(parents=True)
    return d


def load(models_dir, name: str, sd: dict):
    from core.models.weights import save_safetensors
    from nodes.upscale import UpscaleModelLoader

    save_safetensors(sd, models_dir / name)
    return UpscaleModelLoader().execute(name)[0]


def upscale(model, image):
    from nodes.upscale import ImageUpscaleWithModel

    return ImageUpscaleWithModel().execute(model, image)[0]


class Recording:
    """Stands in for a loaded model and records the size of every piece it is called on."""

    def __init__(self, inner, fail_above: int | None = None):
        self.inner, self.fail_above, self.sizes = inner, fail_above, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, x):
        self.sizes.append(tuple(x.shape[-2:]))
        if self.fail_above is not None and max(x.shape[-2:]) > self.fail_above:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.inner(x)


# --- without spandrel -----------------------------------------------------------------------------

def test_missing_spandrel_gives_an_error_naming_the_node_and_the_install(monkeypatch):
    import builtins

    from nodes.upscale import _spandrel as need

    real = builtins.__import__

    def refuse(name, *a, **k):
        if name == "spandrel":
            raise ImportError("No module named 'spandrel'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", refuse)
    with pytest.raises(RuntimeError, match="UpscaleModelLoader: .*pip install spandrel"):
        need("UpscaleModelLoader")


# --- loading --------------------------------------------------------------------------------------

@pytest.mark.parametrize("build, scale", [(lambda: esrgan_old(scale=4), 4), (lambda: esrgan_old(scale=2), 2),
                                          (lambda: rrdbnet_new(scale=2), 2), (lambda: rrdbnet_new(scale=4), 4)],
                         ids=["esrgan-old-x4", "esrgan-old-x2", "realesrgan-new-x2plus", "realesrgan-new-x4"])
def test_esrgan_files_in_old_and_new_key_layouts_load_and_upscale(spandrel, models_dir, build, scale):
    model = load(models_dir, "tiny.safetensors", build())
    assert model.architecture.id == "ESRGAN" and model.scale == scale
    image = torch.rand(1, 22, 30, 3)  # not a multiple of 4: the x2plus unshuffle pads and crops
    out = upscale(model, image)
    assert out.shape == (1, 22 * scale, 30 * scale, 3) and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1 and out.std() > 0.01


def test_a_real_esrgan_pth_with_params_ema_nesting_loads(spandrel, models_dir):
    from nodes.upscale import UpscaleModelLoader

    torch.save({"params_ema": compact(scale=4), "params": {}}, models_dir / "realesr-general-x4v3.pth")
    model = UpscaleModelLoader().execute("realesr-general-x4v3.pth")[0]
    assert model.architecture.id == "Compact" and model.scale == 4


def test_compact_file_loads_and_upscales_a_batch(spandrel, models_dir):
    model = load(models_dir, "compact_x2.safetensors", compact(scale=2))
    assert model.architecture.id == "Compact" and model.scale == 2
    image = torch.rand(2, 20, 16, 3)
    out = upscale(model, image)
    assert out.shape == (2, 40, 32, 3)
    assert 0 <= out.min() and out.max() <= 1
    # SRVGGNetCompact adds the nearest-upscaled input to its residual: the output follows the image
    base = image.repeat_interleave(2, 1).repeat_interleave(2, 2)
    assert torch.corrcoef(torch.stack([out.flatten(), base.flatten()]))[0, 1] > 0.5


def test_rgba_input_is_upscaled_as_rgb(spandrel, models_dir):
    model = load(models_dir, "compact_x2.safetensors", compact(scale=2))
    rgb = torch.rand(1, 12, 12, 3)
    rgba = torch.cat([rgb, torch.ones(1, 12, 12, 1)], dim=-1)
    assert torch.equal(upscale(model, rgba), upscale(model, rgb))


def test_a_single_channel_model_takes_luma_and_gives_grey_rgb(spandrel, models_dir):
    model = load(models_dir, "grey_x2.safetensors", compact(scale=2, channels=1))
    assert model.input_channels == 1
    out = upscale(model, torch.rand(1, 12, 10, 3))
    assert out.shape == (1, 24, 20, 3)
    assert torch.equal(out[..., 0], out[..., 1]) and torch.equal(out[..., 0], out[..., 2])


def test_the_combo_lists_the_model_files(spandrel, models_dir):
    from nodes.upscale import UpscaleModelLoader

    (models_dir / "sub").mkdir()
    (models_dir / "readme.txt").write_text("not a model")
    for name in ("b_x4.safetensors", "a_x2.pth", "sub/c.safetensors"):
        (models_dir / name).write_bytes(b"x")
    assert UpscaleModelLoader.INPUT_TYPES()["required"]["model_name"][0] == [
        "a_x2.pth", "b_x4.safetensors", "sub/c.safetensors"]


def test_a_corrupt_file_names_the_node_and_the_file(spandrel, models_dir):
    from nodes.upscale import UpscaleModelLoader

    (models_dir / "broken.safetensors").write_bytes(b"\x09\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError,
                       match=r"UpscaleModelLoader, input 'model_name': 'broken\.safetensors'.*not valid JSON"):
        UpscaleModelLoader().execute("broken.safetensors")


def test_an_unsupported_architecture_names_the_node_and_the_file(spandrel, models_dir):
    from core.models.weights import save_safetensors
    from nodes.upscale import UpscaleModelLoader

    save_safetensors({"encoder.proj.weight": torch.zeros(4, 4)}, models_dir / "lora.safetensors")
    with pytest.raises(ValueError, match=r"UpscaleModelLoader, input 'model_name': 'lora\.safetensors'.*"
                                         r"not an upscale model.*encoder\.proj\.weight"):
        UpscaleModelLoader().execute("lora.safetensors")


def test_a_missing_file_names_the_node_and_the_input(spandrel, models_dir):
    from nodes.upscale import UpscaleModelLoader

    with pytest.raises(FileNotFoundError, match="UpscaleModelLoader, input 'model_name'.*gone.pth"):
        UpscaleModelLoader().execute("gone.pth")


# --- tiling ---------------------------------------------------------------------------------------

def test_tiles_equal_a_whole_pass_away_from_overlaps_and_within_tolerance_inside(spandrel, models_dir):
    from core.models.vae_tiling import tile_starts
    from nodes.upscale import upscale as tiled

    model = load(models_dir, "compact_x2.safetensors", compact(scale=2))  # receptive radius 4 px < overlap
    image = torch.rand(1, 40, 56, 3)
    whole = tiled(model, image, tile=64)
    pieces = tiled(model, image, tile=32, overlap=16)
    covered = torch.zeros(40, 56)
    for y in tile_starts(40, 32, 16):
        for x in tile_starts(56, 32, 16):
            covered[y:y + 32, x:x + 32] += 1
    overlap = (covered > 1).repeat_interleave(2, 0).repeat_interleave(2, 1)
    assert 0.2 < overlap.float().mean() < 0.9
    diff = (whole - pieces).abs()[0].amax(-1)
    assert diff[~overlap].max() < 1e-5
    # inside, each tile's zero-padded edge is faded out linearly: small differences remain, no seam
    assert diff[overlap].max() < 0.1 and diff[overlap].mean() < 0.01


def test_a_large_image_is_processed_in_tiles_no_larger_than_the_tile_size(spandrel, models_dir):
    from nodes.upscale import TILE

    model = Recording(load(models_dir, "compact_x2.safetensors", compact(scale=2)))
    out = upscale(model, torch.rand(1, 1200, 900, 3))
    assert out.shape == (1, 2400, 1800, 3)
    assert len(model.sizes) == 6 and max(max(s) for s in model.sizes) <= TILE


def test_out_of_memory_retries_with_smaller_tiles(spandrel, models_dir):
    model = Recording(load(models_dir, "compact_x2.safetensors", compact(scale=2)), fail_above=128)
    image = torch.rand(1, 300, 260, 3)
    out = upscale(model, image)
    assert model.sizes[0] == (300, 260) and max(max(s) for s in model.sizes[-4:]) <= 128  # 512 -> 256 -> 128
    assert out.shape == (1, 600, 520, 3)


def test_out_of_memory_at_the_smallest_tile_is_a_clear_error(spandrel, models_dir):
    model = Recording(load(models_dir, "compact_x2.safetensors", compact(scale=2)), fail_above=16)
    with pytest.raises(MemoryError, match="ImageUpscaleWithModel: out of memory on cpu even in 128px tiles"):
        upscale(model, torch.rand(1, 300, 260, 3))


def test_tiling_reports_progress_and_stops_on_interrupt(spandrel, models_dir):
    from core.execution.progress import InterruptFlag, Interrupted, JobContext, job_context
    from nodes.upscale import upscale as tiled

    model = Recording(load(models_dir, "compact_x2.safetensors", compact(scale=2)))
    flag, events = InterruptFlag(), []

    def emit(kind, data):
        events.append((kind, data["value"], data["max"]))
        flag.set()  # the user presses Cancel while the first tile finishes

    with job_context(JobContext(prompt_id="p", node_id="7", interrupt=flag, emit=emit)):
        with pytest.raises(Interrupted):
            tiled(model, torch.rand(1, 40, 40, 3), tile=16, overlap=4)  # 3 x 3 tiles
    assert events == [("progress", 1, 9)] and len(model.sizes) == 1
