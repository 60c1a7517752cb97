"""fp8 weight storage: 1 byte per Linear/Conv weight, computed in the compute dtype layer by layer, files
already in fp8 (plain and "scaled") kept as stored, UNETLoader's weight_dtype values."""
from __future__ import annotations

import pytest
import torch

from core.models.cast_layers import FP8_DTYPES, cast_layers
from core.models.fp8 import quantize, storage_for
from fp8_toys import inputs, layer_weight_keys, relative_error, tiny_flux, write


def load(path, weight_dtype="default"):
    from core.models.checkpoint import load_unet

    return load_unet(path, weight_dtype=weight_dtype)


def run(net, config=None):
    with torch.no_grad():
        return net(*inputs(config))


@pytest.fixture()
def reference(tmp_path):
    """(float32 tiny FLUX, its file)."""
    net = tiny_flux()
    return net, write(net.state_dict(), tmp_path / "flux-tiny.safetensors")


@pytest.mark.parametrize("weight_dtype,fmt", [("fp8_e4m3fn", torch.float8_e4m3fn), ("fp8_e5m2", torch.float8_e5m2),
                                              ("fp8_e4m3fn_fast", torch.float8_e4m3fn)])
def test_weight_dtype_stores_every_linear_weight_in_one_byte(reference, cpu_fp32, weight_dtype, fmt):
    net, path = reference
    model = load(path, weight_dtype)
    params = dict(model.unet.named_parameters())
    keys = layer_weight_keys(net)
    assert keys and all(params[k].dtype == fmt and params[k].element_size() == 1 for k in keys)
    assert all(p.dtype == torch.float32 for k, p in params.items() if k not in keys)  # biases, norms
    assert model.dtype == torch.float32  # what the sampler casts latents to


def test_fp8_model_computes_exactly_what_the_dequantized_weights_give(reference, cpu_fp32):
    """Storage is the only approximation: layer by layer the upcast weight is the stored one."""
    net, path = reference
    model = load(path, "fp8_e4m3fn")
    dequantized = tiny_flux()
    dequantized.load_state_dict({k: v.float() for k, v in model.unet.state_dict().items()})
    torch.testing.assert_close(run(model.unet), run(dequantized), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("weight_dtype,bound", [("fp8_e4m3fn", 0.08), ("fp8_e5m2", 0.16)])
def test_fp8_output_is_within_fp8_rounding_of_the_float32_model(reference, cpu_fp32, weight_dtype, bound):
    # e4m3 keeps 3 mantissa bits (relative rounding <= 2^-4), e5m2 keeps 2 (<= 2^-3)
    net, path = reference
    err = relative_error(run(load(path, weight_dtype).unet), run(net))
    assert 1e-4 < err < bound  # not bit-equal (it really is 8-bit) and not more than fp8 rounding


def test_default_keeps_full_precision_files_as_they_are(reference, cpu_fp32):
    net, path = reference
    model = load(path, "default")
    assert not cast_layers(model.unet)
    torch.testing.assert_close(run(model.unet), run(net), atol=0, rtol=0)


def test_file_saved_in_fp8_round_trips_and_stays_8_bit(reference, tmp_path, cpu_fp32):
    net, _ = reference
    keys = set(layer_weight_keys(net))
    sd = {k: quantize(v, torch.float8_e4m3fn) if k in keys else v for k, v in net.state_dict().items()}
    model = load(write(sd, tmp_path / "flux-tiny-fp8.safetensors"), "default")
    params = dict(model.unet.named_parameters())
    for k in keys:
        assert params[k].dtype == torch.float8_e4m3fn
        assert torch.equal(params[k].view(torch.uint8), sd[k].view(torch.uint8))  # bytes as stored
    quantized_on_load = load(write(net.state_dict(), tmp_path / "f32.safetensors"), "fp8_e4m3fn")
    torch.testing.assert_close(run(model.unet), run(quantized_on_load.unet), atol=0, rtol=0)


def test_an_e4m3_file_is_not_requantized_to_e5m2(reference, tmp_path, cpu_fp32):
    net, _ = reference
    keys = set(layer_weight_keys(net))
    sd = {k: quantize(v, torch.float8_e4m3fn) if k in keys else v for k, v in net.state_dict().items()}
    model = load(write(sd, tmp_path / "e4m3.safetensors"), "fp8_e5m2")
    assert all(p.dtype == torch.float8_e4m3fn for k, p in model.unet.named_parameters() if k in keys)


def scaled_file(net, path, marker_elements: int = 0):
    """ComfyUI-style scaled fp8: per Linear weight scale = amax / 448, stored = W / scale in e4m3."""
    sd = {}
    for k, v in net.state_dict().items():
        if k in set(layer_weight_keys(net)):
            scale = v.abs().max() / 448.0
            sd[k] = quantize(v / scale, torch.float8_e4m3fn)
            sd[k[:-len("weight")] + "scale_weight"] = scale.reshape(()).float()
        else:
            sd[k] = v
    sd["scaled_fp8"] = torch.zeros(marker_elements, dtype=torch.float8_e4m3fn)
    return write(sd, path), sd


def test_scaled_fp8_layers_compute_with_stored_times_scale(tmp_path, cpu_fp32):
    net = tiny_flux()
    path, sd = scaled_file(net, tmp_path / "scaled.safetensors")
    model = load(path)
    layer = model.unet.double_blocks[0].img_attn.qkv
    assert layer.weight.dtype == torch.float8_e4m3fn
    expected = sd["double_blocks.0.img_attn.qkv.weight"].float() * sd["double_blocks.0.img_attn.qkv.scale_weight"]
    torch.testing.assert_close(layer.cast_weight(torch.float32, torch.device("cpu")), expected, atol=0, rtol=0)
    assert "double_blocks.0.img_attn.qkv.scale_weight" not in model.unet.state_dict()  # keys stay the release's


def test_scales_keep_small_weights_that_plain_fp8_would_flush(tmp_path, cpu_fp32):
    """Weights of magnitude ~1e-3 sit in e4m3's subnormal range; a per-tensor scale restores their precision."""
    net = tiny_flux()
    with torch.no_grad():
        for k in layer_weight_keys(net):
            net.get_parameter(k).mul_(0.01)
    scaled, _ = scaled_file(net, tmp_path / "scaled.safetensors")
    plain = write(net.state_dict(), tmp_path / "plain.safetensors")
    want = run(net)
    err_scaled = relative_error(run(load(scaled).unet), want)
    err_plain = relative_error(run(load(plain, "fp8_e4m3fn").unet), want)
    assert err_scaled < 0.08 and err_scaled < 0.5 * err_plain


def test_scaled_marker_with_two_elements_turns_fp8_matmul_off_and_others_on(tmp_path, cpu_fp32):
    net = tiny_flux()
    path_on, sd_on = scaled_file(net, tmp_path / "on.safetensors", marker_elements=0)
    path_off, sd_off = scaled_file(net, tmp_path / "off.safetensors", marker_elements=2)
    assert storage_for(sd_on, "").fast and storage_for(sd_on, "").scaled
    assert not storage_for(sd_off, "").fast
    fast_layers = [m.fast for m in cast_layers(load(path_on).unet).values() if isinstance(m, torch.nn.Linear)]
    assert fast_layers and all(fast_layers)


def test_unknown_weight_dtype_is_refused_with_the_values():
    with pytest.raises(ValueError, match="weight_dtype 'fp4'.*fp8_e4m3fn_fast"):
        storage_for({}, "", "fp4", "UNETLoader")


def test_quantize_clamps_to_the_formats_range_instead_of_overflowing():
    big = torch.tensor([1e6, -1e6, 3.0])
    assert quantize(big, torch.float8_e5m2).float().tolist() == [57344.0, -57344.0, 3.0]
    assert quantize(big, torch.float8_e4m3fn).float().tolist() == [448.0, -448.0, 3.0]


def test_u_net_convolutions_are_stored_in_fp8_too(tiny_sd15, cpu_fp32):
    """By module type, not per family: the SD U-Net's Conv2d and Linear layers both become 8-bit."""
    from core.models.checkpoint import load_unet_from_state_dict
    from core.models.weights import load_file

    sd, meta = load_file(tiny_sd15)
    model = load_unet_from_state_dict(sd, "tiny sd15", meta, weight_dtype="fp8_e4m3fn")
    convs = [m for m in model.unet.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.dtype in FP8_DTYPES for m in convs)
    x = torch.randn(1, 4, 8, 8)
    ctx = torch.randn(1, 3, model.config.unet.context_dim)
    with torch.no_grad():
        out = model.unet(x, torch.tensor([500.0]), ctx)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_unet_loader_node_passes_weight_dtype(folders, reference, cpu_fp32):
    import shutil
    from pathlib import Path

    from nodes.loaders import UNETLoader

    _, path = reference
    folder = Path(folders.folder_paths("diffusion_models")[0])
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, folder / "flux-tiny.safetensors")
    (model,) = UNETLoader().execute("flux-tiny.safetensors", "fp8_e5m2")
    assert model.unet.img_in.weight.dtype == torch.float8_e5m2 and model.dtype == torch.float32




def test_fp8_unet_flag_makes_default_store_in_fp8(reference):
    from core import devices

    _, path = reference
    devices.configure({"cpu": True, "force_fp32": True, "fp8_e5m2_unet": True})
    try:
        model = load(path, "default")
    finally:
        devices.configure(None)
    assert model.unet.img_in.weight.dtype == torch.float8_e5m2


def test_flags_parse_into_the_storage_setting():
    from core import devices
    from core.cli.flags import parse_args

    devices.configure(parse_args(["--fp8_e4m3fn-unet", "--cpu"]))
    try:
        assert devices.unet_weight_storage() == "fp8_e4m3fn"
    finally:
        devices.configure(None)
    assert devices.unet_weight_storage() == "default"


def test_plugins_asking_comfy_sd_for_an_fp8_dtype_get_fp8_storage_not_fp8_compute(reference, cpu_fp32):
    from core.compat.comfy import sd as comfy_sd

    _, path = reference
    model = comfy_sd.load_diffusion_model(str(path), model_options={"dtype": torch.float8_e4m3fn,
                                                                     "fp8_optimizations": True})
    assert model.unet.img_in.weight.dtype == torch.float8_e4m3fn and model.dtype == torch.float32
    assert model.unet.img_in.fast
    assert torch.isfinite(run(model.unet)).all()


def test_sd35_mmdit_is_stored_in_fp8_by_the_same_rule(tmp_path, cpu_fp32):
    """Another DiT family, no fp8 code of its own: its Linear layers become 8-bit cast layers."""
    from core.models.checkpoint import load_checkpoint
    from core.models.tiny import write_tiny_sd3

    path = write_tiny_sd3(tmp_path / "sd3.5_tiny.safetensors")
    full, _, _ = load_checkpoint(path, output_clip=False, output_vae=False)
    fp8, _, _ = load_checkpoint(path, output_clip=False, output_vae=False, unet_weight_dtype="fp8_e4m3fn")
    linears = [m for m in fp8.unet.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(m.weight.dtype == torch.float8_e4m3fn for m in linears)
    cfg = full.unet.config
    g = torch.Generator().manual_seed(0)
    args = (torch.randn(1, 16, 8, 8, generator=g), torch.tensor([500.0]),
            torch.randn(1, 6, cfg.context_in_dim, generator=g), torch.randn(1, cfg.pooled_dim, generator=g))
    with torch.no_grad():
        want, got = full.unet(*args), fp8.unet(*args)
    assert 0 < relative_error(got, want) < 0.1


def test_weight_scale_spelling_is_read_like_scale_weight(tmp_path, cpu_fp32):
    net = tiny_flux()
    _, sd = scaled_file(net, tmp_path / "a.safetensors")
    renamed = {(k[:-len("scale_weight")] + "weight_scale" if k.endswith(".scale_weight") else k): v for k, v in sd.items()}
    a, b = load(tmp_path / "a.safetensors"), load(write(renamed, tmp_path / "b.safetensors"))
    assert b.unet.double_blocks[0].img_attn.qkv.scale_weight is not None
    torch.testing.assert_close(run(b.unet), run(a.unet), atol=0, rtol=0)
