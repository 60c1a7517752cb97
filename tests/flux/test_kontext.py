"""FLUX.1 Kontext: reference latents appended to the image tokens (equal to diffusers' FluxKontextPipeline
call of FluxTransformer2DModel), their position layouts, and the ReferenceLatent / FluxKontextImageScale nodes."""
from __future__ import annotations

import types

import pytest
import torch

from tests.flux.flux_testing import (diffusers_twin, flux_conditioning, flux_handle, tiny_flux,
                                     tiny_flux_config)


def kontext_pipeline_inputs(noise, ref):
    """Packed tokens and ids exactly as diffusers' FluxKontextPipeline.prepare_latents builds them (its own
    method, called on a stand-in pipeline that has what the method reads: no VAE needed for latents)."""
    from diffusers import FluxKontextPipeline

    stand_in = types.SimpleNamespace(vae_scale_factor=8, latent_channels=noise.shape[1],
                                     _pack_latents=FluxKontextPipeline._pack_latents,
                                     _prepare_latent_image_ids=FluxKontextPipeline._prepare_latent_image_ids)
    B, C, h, w = noise.shape
    packed = FluxKontextPipeline._pack_latents(noise, B, C, h, w)
    latents, image_latents, latent_ids, image_ids = FluxKontextPipeline.prepare_latents(
        stand_in, ref, B, C, h * 8, w * 8, torch.float32, torch.device("cpu"), latents=packed)
    return latents, image_latents, latent_ids, image_ids


@pytest.mark.parametrize("guidance_embed", [True, False], ids=["dev", "schnell-shaped"])
def test_kontext_forward_equals_diffusers_with_the_pipelines_tokens_and_ids(guidance_embed):
    from diffusers import FluxKontextPipeline

    config = tiny_flux_config(guidance=guidance_embed)
    ours = tiny_flux(config, seed=5)
    ref_model = diffusers_twin(ours, config)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 16, 6, 8, generator=g)
    reference = torch.randn(1, 16, 10, 4, generator=g)  # another size and aspect than the image
    context = torch.randn(1, 5, config.context_in_dim, generator=g)
    pooled = torch.randn(1, config.vec_in_dim, generator=g)
    t, guidance = torch.tensor([0.7]), torch.tensor([2.5])
    latents, image_latents, latent_ids, image_ids = kontext_pipeline_inputs(x, reference)
    with torch.no_grad():
        out = ref_model(hidden_states=torch.cat([latents, image_latents], dim=1), encoder_hidden_states=context,
                        pooled_projections=pooled, timestep=t, img_ids=torch.cat([latent_ids, image_ids], dim=0),
                        txt_ids=torch.zeros(context.shape[1], 3),
                        guidance=guidance if guidance_embed else None).sample
        want = FluxKontextPipeline._unpack_latents(out[:, :latents.shape[1]], 6 * 8, 8 * 8, 8)
        y = torch.cat([pooled, guidance[:, None]], dim=1)
        got = ours(x, t, context, y=y, ref_latents=[reference])
        without = ours(x, t, context, y=y)
    assert got.shape == x.shape
    assert float(want.abs().max()) > 0.1
    assert torch.allclose(got, want, atol=1e-4, rtol=0), float((got - want).abs().max())
    assert not torch.allclose(got, without, atol=1e-3)  # the reference really changes the output


def test_one_reference_gets_index_1_at_the_origin_as_in_diffusers():
    from core.models.flux_kontext import reference_positions

    for method in ("offset", "index"):
        assert reference_positions([(10, 4)], method, (6, 8)) == [(1, 0, 0)]


def test_offset_method_places_each_next_reference_beside_or_below():
    from core.models.flux_kontext import reference_positions

    # first (8x12): origin; canvas 8x12. second (8x8): 8+8 > 8+12 is false -> below (row 8); canvas 16x12.
    # third (4x4): 4+16 > 4+12 -> beside (column 12); canvas 16x16.
    got = reference_positions([(8, 12), (8, 8), (4, 4)], "offset", (32, 32))
    assert got == [(1, 0, 0), (1, 8, 0), (1, 0, 12)]


def test_index_method_counts_references_and_uxo_shifts_them_past_the_image():
    from core.models.flux_kontext import reference_positions

    assert reference_positions([(8, 8), (4, 6)], "index", (16, 16)) == [(1, 0, 0), (2, 0, 0)]
    # uxo: index 0, each diagonally after the image (16x20 latent = 8x10 patches = 16x20 pixels) and the ones before
    assert reference_positions([(8, 8), (4, 6)], "uxo", (16, 20)) == [(0, 16, 20), (0, 24, 28)]


def test_unknown_reference_method_is_refused_by_name():
    from core.models.flux_kontext import reference_positions

    with pytest.raises(ValueError, match="reference_latents_method 'sideways'"):
        reference_positions([(8, 8)], "sideways", (8, 8))


def test_reference_position_ids_are_offsets_in_patches():
    model = tiny_flux(tiny_flux_config())
    _, ids = model.patchify(torch.zeros(1, 16, 4, 6), index=1, h_offset=8, w_offset=3)
    ids = ids[0].reshape(2, 3, 3)
    assert ids[..., 0].unique().tolist() == [1.0]
    assert ids[:, 0, 1].tolist() == [4.0, 5.0]  # 8 latent rows = 4 patch rows
    assert ids[0, :, 2].tolist() == [2.0, 3.0, 4.0]  # 3 latent columns round to 2 patches, as ComfyUI


def test_referencelatent_appends_to_every_entry_and_leaves_the_input_alone():
    from nodes.flux import ReferenceLatent

    cond = [[torch.zeros(1, 2, 4), {"guidance": 2.5}], [torch.ones(1, 2, 4), {}]]
    a, b = torch.randn(1, 16, 4, 4), torch.randn(1, 16, 2, 6)
    (once,) = ReferenceLatent().execute(cond, {"samples": a})
    (twice,) = ReferenceLatent().execute(once, {"samples": b})
    assert [len(o["reference_latents"]) for _, o in twice] == [2, 2]
    assert twice[0][1]["reference_latents"][0] is a and twice[0][1]["reference_latents"][1] is b
    assert twice[0][1]["guidance"] == 2.5
    assert all("reference_latents" not in o for _, o in cond) and len(once[0][1]["reference_latents"]) == 1


def test_referencelatent_without_a_latent_passes_the_conditioning_through():
    from nodes.flux import ReferenceLatent

    cond = [[torch.zeros(1, 2, 4), {}]]
    assert ReferenceLatent().execute(cond)[0] is cond
    with pytest.raises(ValueError, match="ReferenceLatent, input 'latent'"):
        ReferenceLatent().execute(cond, torch.zeros(1, 16, 2, 2))


@pytest.mark.parametrize("size, expected", [((1000, 1000), (1024, 1024)), ((1920, 1080), (1392, 752)),
                                            ((600, 1400), (672, 1568)), ((1200, 900), (1184, 880))])
def test_kontext_image_scale_picks_the_trained_size_of_nearest_aspect(size, expected):
    from nodes.flux import FluxKontextImageScale

    # 1920/1080 = 1.778: 1392/752 = 1.851 (0.073 away) beats 1328/800 = 1.66 (0.118 away);
    # 1200/900 = 1.333: 1184/880 = 1.345 beats 1104/944 = 1.169 and 1248/832 = 1.5
    w, h = size
    (out,) = FluxKontextImageScale().execute(torch.rand(1, h, w, 3))
    assert (out.shape[2], out.shape[1]) == expected and out.shape[-1] == 3


def test_kontext_nodes_have_comfyuis_interfaces():
    from nodes.flux import FluxKontextImageScale, FluxKontextMultiReferenceLatentMethod, ReferenceLatent

    assert ReferenceLatent.INPUT_TYPES() == {"required": {"conditioning": ("CONDITIONING",)},
                                             "optional": {"latent": ("LATENT",)}}
    assert ReferenceLatent.RETURN_TYPES == ("CONDITIONING",)
    assert FluxKontextImageScale.INPUT_TYPES()["required"] == {"image": ("IMAGE",)}
    combo = FluxKontextMultiReferenceLatentMethod.INPUT_TYPES()["required"]["reference_latents_method"]
    assert combo[0] == ["offset", "index", "uxo/uno"]


def test_multi_reference_method_node_sets_the_method_the_model_reads():
    from nodes.flux import FluxKontextMultiReferenceLatentMethod

    cond = [[torch.zeros(1, 2, 4), {}]]
    (out,) = FluxKontextMultiReferenceLatentMethod().execute(cond, "uxo/uno")
    assert out[0][1]["reference_latents_method"] == "uxo" and cond[0][1] == {}


def test_ksampler_feeds_reference_latents_to_the_network_in_model_space(cpu_fp32):
    """KSampler with a ReferenceLatent conditioning equals an Euler loop written here over the raw network,
    given the reference brought into the model's latent space (FLUX: (z - 0.1159) * 0.3611)."""
    from core.sampling.noise import initial_noise
    from core.sampling.sample import ksampler_sigmas
    from nodes.flux import ReferenceLatent
    from nodes.sampling import KSampler

    config = tiny_flux_config()
    model = flux_handle(tiny_flux(config, seed=1), config)
    reference = torch.randn(1, 16, 4, 6, generator=torch.Generator().manual_seed(4))
    (cond,) = ReferenceLatent().execute(flux_conditioning(guidance=2.5), {"samples": reference})
    latent = {"samples": torch.zeros(1, 16, 4, 4)}
    (out,) = KSampler().execute(model, 3, 4, 1.0, "euler", "simple", cond, cond, latent, 1.0)
    (plain,) = KSampler().execute(model, 3, 4, 1.0, "euler", "simple", flux_conditioning(guidance=2.5), cond,
                                  latent, 1.0)

    sigmas = ksampler_sigmas(model, 4, "euler", "simple")
    context, opts = cond[0]
    y = torch.cat([opts["pooled_output"], torch.tensor([[2.5]])], dim=1)
    shift, scale = 0.1159, 0.3611
    ref_in = (reference - shift) * scale
    x = sigmas[0] * initial_noise((1, 16, 4, 4), 3) + (1 - sigmas[0]) * (torch.zeros(1, 16, 4, 4) - shift) * scale
    with torch.no_grad():
        for i in range(len(sigmas) - 1):
            v = model.unet(x, sigmas[i:i + 1], context, y=y, ref_latents=[ref_in])
            x = x + v * (sigmas[i + 1] - sigmas[i])
    assert torch.allclose(out["samples"], x / scale + shift, atol=1e-4)
    assert not torch.allclose(out["samples"], plain["samples"], atol=1e-3)


def test_positive_and_negative_with_different_references_each_get_their_own(cpu_fp32):
    """Entries whose reference latents differ in shape run in separate calls; same shapes share one."""
    from nodes.flux import ReferenceLatent
    from nodes.sampling import KSampler

    config = tiny_flux_config()
    net = tiny_flux(config, seed=1)
    model = flux_handle(net, config)
    shapes = []
    net.register_forward_pre_hook(lambda m, args, kw: shapes.append(
        (args[0].shape[0], tuple(tuple(r.shape) for r in kw.get("ref_latents") or ()))), with_kwargs=True)
    (pos,) = ReferenceLatent().execute(flux_conditioning(), {"samples": torch.randn(1, 16, 4, 6)})
    (neg,) = ReferenceLatent().execute(flux_conditioning(seed=1), {"samples": torch.randn(1, 16, 2, 2)})
    latent = {"samples": torch.zeros(1, 16, 4, 4)}
    KSampler().execute(model, 3, 1, 4.0, "euler", "simple", pos, neg, latent, 1.0)
    assert sorted(shapes) == [(1, ((1, 16, 2, 2),)), (1, ((1, 16, 4, 6),))]
    shapes.clear()
    (neg,) = ReferenceLatent().execute(flux_conditioning(seed=1), {"samples": torch.randn(1, 16, 4, 6)})
    KSampler().execute(model, 3, 1, 4.0, "euler", "simple", pos, neg, latent, 1.0)
    assert shapes == [(2, ((2, 16, 4, 6),))]


def test_a_model_function_wrapper_sees_the_reference_latents_and_passes_them_on(cpu_fp32):
    """Plugins' set_model_unet_function_wrapper gets ComfyUI's ``c`` dict with ``ref_latents`` and calls
    ``apply_model(input, timestep, **c)``: the result is the unwrapped one."""
    from nodes.flux import ReferenceLatent
    from nodes.sampling import KSampler

    config = tiny_flux_config()
    model = flux_handle(tiny_flux(config, seed=1), config)
    (cond,) = ReferenceLatent().execute(flux_conditioning(guidance=2.5), {"samples": torch.randn(1, 16, 4, 6)})
    latent = {"samples": torch.zeros(1, 16, 4, 4)}
    seen = []

    def wrapper(apply_model, args):
        seen.append(sorted(args["c"]))
        return apply_model(args["input"], args["timestep"], **args["c"])

    wrapped = model.clone()
    wrapped.set_model_unet_function_wrapper(wrapper)
    (a,) = KSampler().execute(wrapped, 3, 2, 1.0, "euler", "simple", cond, cond, latent, 1.0)
    (b,) = KSampler().execute(model, 3, 2, 1.0, "euler", "simple", cond, cond, latent, 1.0)
    assert seen and "ref_latents" in seen[0]
    assert torch.equal(a["samples"], b["samples"])


def test_a_reference_with_batch_1_serves_every_item_of_a_batch():
    model = tiny_flux(tiny_flux_config())
    g = torch.Generator().manual_seed(0)
    x, ref = torch.randn(2, 16, 4, 4, generator=g), torch.randn(1, 16, 2, 6, generator=g)
    ctx, y, t = torch.randn(2, 3, 20, generator=g), torch.randn(2, 13, generator=g), torch.tensor([0.5, 0.3])
    with torch.no_grad():
        both = model(x, t, ctx, y=y, ref_latents=[ref])
        second = model(x[1:], t[1:], ctx[1:], y=y[1:], ref_latents=[ref])
    assert torch.allclose(both[1:], second, atol=1e-5)
