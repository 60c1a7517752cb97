"""FLUX.1 Fill: detection from shapes, InpaintModelConditioning, and the model input laid out as diffusers'
FluxFillPipeline lays it out (prepare_mask_latents) — checked on the tokens the transformer receives."""
from __future__ import annotations

import types

import pytest
import torch

from tests import testdata
from tests.flux.flux_testing import (StandInVae, diffusers_twin, flux_conditioning, flux_handle, tiny_flux,
                                     tiny_flux_config)

SHIFT, SCALE = 0.1159, 0.3611  # FLUX's latent format


def fill_config():
    return tiny_flux_config(in_channels=384)


def fill_pipeline_inputs(mask, masked_image_latent, batch: int = 1):
    """(packed masked-image latent, packed mask) from diffusers' own FluxFillPipeline.prepare_mask_latents,
    called on a stand-in pipeline holding what the method reads (the VAE's shift and scale)."""
    from diffusers import FluxFillPipeline

    stand_in = types.SimpleNamespace(
        vae_scale_factor=8, _pack_latents=FluxFillPipeline._pack_latents,
        vae=types.SimpleNamespace(config=types.SimpleNamespace(shift_factor=SHIFT, scaling_factor=SCALE)))
    H, W = mask.shape[-2:]
    mask, image = FluxFillPipeline.prepare_mask_latents(stand_in, mask, masked_image_latent, batch, 16, 1, H, W,
                                                       torch.float32, torch.device("cpu"), None)
    return image, mask


def test_detection_knows_fill_by_its_384_input_channels():
    from core.models.detection import detect

    shapes = {k: tuple(v) for k, v in testdata.manifest("flux1_dev")["keys"].items()}
    shapes["img_in.weight"] = (3072, 384)
    cfg = detect(shapes, name="flux1-fill-dev.safetensors")
    assert (cfg.family, cfg.prediction, cfg.in_channels, cfg.inpaint) == ("flux", "flow", 16, True)
    assert (cfg.unet.in_channels, cfg.unet.out_channels) == (384, 64)


def test_detection_knows_canny_and_depth_by_their_128_input_channels():
    from core.models.detection import detect

    shapes = {k: tuple(v) for k, v in testdata.manifest("flux1_dev")["keys"].items()}
    shapes["img_in.weight"] = (3072, 128)
    cfg = detect(shapes, name="flux1-canny-dev.safetensors")
    assert (cfg.in_channels, cfg.inpaint, cfg.unet.in_channels) == (16, False, 128)


def test_fill_transformer_equals_diffusers_on_the_concatenated_input():
    config = fill_config()
    ours = tiny_flux(config, seed=4)
    ref = diffusers_twin(ours, config)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 96, 4, 6, generator=g)  # noisy latent 16 + masked image 16 + folded mask 64
    context, pooled = torch.randn(1, 3, 20, generator=g), torch.randn(1, 12, generator=g)
    t, guidance = torch.tensor([0.4]), torch.tensor([30.0])
    from diffusers import FluxFillPipeline

    ids = FluxFillPipeline._prepare_latent_image_ids(1, 2, 3, "cpu", torch.float32)
    with torch.no_grad():
        out = ref(hidden_states=FluxFillPipeline._pack_latents(x, 1, 96, 4, 6), encoder_hidden_states=context,
                  pooled_projections=pooled, timestep=t, img_ids=ids, txt_ids=torch.zeros(3, 3),
                  guidance=guidance).sample
        want = FluxFillPipeline._unpack_latents(out, 32, 48, 8)
        got = ours(x, t, context, y=torch.cat([pooled, guidance[:, None]], dim=1))
    assert got.shape == (1, 16, 4, 6)
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())


def test_concat_input_matches_fill_pipelines_prepare_mask_latents():
    from core.models.flux_fill import concat_input
    from core.models.latent_formats import FLUX
    from diffusers import FluxFillPipeline

    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(2, 1, 48, 64, generator=g) > 0.5).float()  # different in every pixel of an 8x8 block
    image = torch.randn(2, 16, 6, 8, generator=g)
    ours = concat_input(80, FLUX, (2, 16, 6, 8), image=image, mask=mask)
    want_image, want_mask = fill_pipeline_inputs(mask, image, batch=2)
    packed = FluxFillPipeline._pack_latents(ours, 2, 80, 6, 8)
    assert torch.allclose(packed, torch.cat([want_image, want_mask], dim=-1), atol=1e-6)


def test_concat_input_without_image_or_mask_uses_a_zero_latent_and_repaints_everything():
    from core.models.flux_fill import concat_input
    from core.models.latent_formats import FLUX

    out = concat_input(80, FLUX, (1, 16, 2, 4))
    assert torch.allclose(out[:, :16], torch.full((1, 16, 2, 4), (0 - SHIFT) * SCALE))
    assert torch.equal(out[:, 16:], torch.ones(1, 64, 2, 4))


def test_without_concat_mask_the_latents_noise_mask_is_upscaled_8x_and_folded():
    from core.models.flux_fill import concat_input
    from core.models.latent_formats import FLUX

    noise_mask = torch.tensor([[[[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]]]])
    folded = concat_input(80, FLUX, (1, 16, 2, 4), denoise_mask=noise_mask)[:, 16:]
    up = torch.nn.functional.interpolate(noise_mask, size=(16, 32), mode="bilinear")
    want = torch.empty(1, 64, 2, 4)
    for dy in range(8):
        for dx in range(8):
            want[0, 8 * dy + dx] = up[0, 0, dy::8, dx::8]
    assert torch.allclose(folded, want, atol=1e-6)


def test_canny_depth_concat_is_the_control_images_latent_only():
    from core.models.flux_fill import concat_input
    from core.models.latent_formats import FLUX

    image = torch.randn(1, 16, 2, 2)
    assert torch.allclose(concat_input(16, FLUX, (1, 16, 2, 2), image=image), (image - SHIFT) * SCALE)


def inpaint_inputs(h: int = 48, w: int = 64):
    g = torch.Generator().manual_seed(3)
    pixels = torch.rand(1, h, w, 3, generator=g)
    mask = torch.zeros(1, h, w)
    mask[:, 8:30, 20:50] = 1.0
    return pixels, mask


def test_inpaintmodelconditioning_greys_the_hole_and_puts_latent_and_mask_on_both_conditionings():
    from nodes.inpaint import InpaintModelConditioning

    vae = StandInVae()
    pixels, mask = inpaint_inputs()
    pos, neg = flux_conditioning(), flux_conditioning(seed=1)
    p, n, latent = InpaintModelConditioning().execute(pos, neg, pixels, vae, mask, True)
    masked = vae.calls[0]
    assert torch.all(masked[0, 8:30, 20:50] == 0.5) and torch.equal(masked[0, :8], pixels[0, :8])
    assert torch.equal(latent["samples"], vae.encode(pixels))  # the whole image is what gets sampled
    assert torch.equal(latent["noise_mask"], mask[:, None])
    for cond in (p, n):
        assert torch.equal(cond[0][1]["concat_latent_image"], vae.encode(masked))
        assert torch.equal(cond[0][1]["concat_mask"], mask[:, None])
    assert "concat_mask" not in pos[0][1] and "concat_mask" not in neg[0][1]
    _, _, no_mask = InpaintModelConditioning().execute(pos, neg, pixels, vae, mask, False)
    assert "noise_mask" not in no_mask


def test_inpaintmodelconditioning_centre_crops_sizes_that_are_not_multiples_of_8():
    from nodes.inpaint import InpaintModelConditioning

    vae = StandInVae()
    pixels, mask = inpaint_inputs(50, 67)
    p, _, latent = InpaintModelConditioning().execute(flux_conditioning(), flux_conditioning(), pixels, vae, mask)
    assert vae.calls[0].shape == (1, 48, 64, 3)
    assert torch.equal(vae.calls[0][0, 0, 0], pixels[0, 1, 1])  # (50 % 8) // 2 = 1, (67 % 8) // 2 = 1
    assert p[0][1]["concat_mask"].shape == (1, 1, 48, 64)
    assert latent["noise_mask"].shape == (1, 1, 48, 64)


def test_inpaintmodelconditioning_without_a_vae_names_node_and_input():
    from nodes.inpaint import InpaintModelConditioning

    pixels, mask = inpaint_inputs()
    with pytest.raises(ValueError, match="InpaintModelConditioning, input 'vae'"):
        InpaintModelConditioning().execute(flux_conditioning(), flux_conditioning(), pixels, None, mask)


def test_inpaintmodelconditioning_has_comfyuis_interface():
    from nodes.inpaint import InpaintModelConditioning

    req = InpaintModelConditioning.INPUT_TYPES()["required"]
    assert list(req) == ["positive", "negative", "vae", "pixels", "mask", "noise_mask"]
    assert req["noise_mask"][0] == "BOOLEAN" and req["noise_mask"][1]["default"] is True
    assert InpaintModelConditioning.RETURN_TYPES == ("CONDITIONING", "CONDITIONING", "LATENT")
    assert InpaintModelConditioning.RETURN_NAMES == ("positive", "negative", "latent")
    assert InpaintModelConditioning.FUNCTION == "encode"


def test_fill_model_receives_the_tokens_fill_pipeline_builds(cpu_fp32):
    """Through InpaintModelConditioning and KSampler: the first call's input tokens are
    [noise | masked-image latent | folded mask] exactly as FluxFillPipeline concatenates them."""
    from diffusers import FluxFillPipeline

    from core.sampling.noise import initial_noise
    from nodes.inpaint import InpaintModelConditioning
    from nodes.sampling import KSampler

    config = fill_config()
    net = tiny_flux(config, seed=2)
    model = flux_handle(net, config, "flux1-fill-dev-tiny.safetensors")
    seen = []
    net.img_in.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    vae = StandInVae()
    pixels, mask = inpaint_inputs()
    pos, neg, latent = InpaintModelConditioning().execute(flux_conditioning(guidance=30.0),
                                                          flux_conditioning(seed=1), pixels, vae, mask, True)
    (out,) = KSampler().execute(model, 7, 2, 1.0, "euler", "normal", pos, neg, latent, 1.0)

    want_image, want_mask = fill_pipeline_inputs(mask[:, None], vae.encode(vae.calls[0]))
    noise = initial_noise((1, 16, 6, 8), 7)  # sigma 1 at the start: x is the noise itself
    want = torch.cat([FluxFillPipeline._pack_latents(noise, 1, 16, 6, 8), want_image, want_mask], dim=2)
    assert seen[0].shape == (1, 12, 384)
    assert torch.allclose(seen[0], want, atol=1e-5), float((seen[0] - want).abs().max())
    small = torch.nn.functional.interpolate(latent["noise_mask"], size=(6, 8), mode="bilinear")
    keep = small[0, 0] == 0  # outside the hole the input latent comes back
    assert torch.allclose(out["samples"][0][:, keep], latent["samples"][0][:, keep])


def test_sd_inpainting_unet_takes_the_concat_from_inpaintmodelconditioning(cpu_fp32, tmp_path):
    """SD inpainting U-Nets get [rounded mask at latent size, masked image's latent in model space]."""
    from core.models.checkpoint import load_checkpoint
    from core.models.tiny import write_tiny_checkpoint
    from nodes.inpaint import InpaintModelConditioning
    from nodes.sampling import KSampler

    path = write_tiny_checkpoint(tmp_path / "inpaint.safetensors", "sd15_inpaint")
    model, _, _ = load_checkpoint(path, output_vae=False, unet_dtype=torch.float32, clip_dtype=torch.float32)
    seen = []
    model.unet.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    vae = StandInVae(channels=4)
    pixels, mask = inpaint_inputs()
    cond = [[torch.randn(1, 77, 32), {}]]
    pos, neg, latent = InpaintModelConditioning().execute(cond, cond, pixels, vae, mask, False)
    KSampler().execute(model, 1, 1, 1.0, "euler", "normal", pos, neg, latent, 1.0)

    small = torch.nn.functional.interpolate(mask[:, None], size=(6, 8), mode="bilinear").round()
    masked_latent = vae.encode(vae.calls[0]) * model.latent_format.scale_factor
    assert seen[0].shape[1] == 9
    assert torch.equal(seen[0][:, 4:5], small)
    assert torch.allclose(seen[0][:, 5:], masked_latent, atol=1e-6)
