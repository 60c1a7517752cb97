"""GLIGEN: the released key layout loads, and the grounding tokens, gated self-attention and a U-Net
with fusers equal diffusers' GLIGEN (GLIGENTextBoundingboxProjection, GatedSelfAttentionDense,
UNet2DConditionModel(attention_type="gated")) given the same weights and boxes."""
import pytest
import torch

from core.models import gligen as G
from core.models.tiny import fill_random
from core.models.unet import UNetConfig, UNetModel
from tests.gligen.gligen_testfiles import gligen_shapes, tiny_gligen_state_dict, transformer_block_paths

diffusers = pytest.importorskip("diffusers")

# a small SD1.x-shaped U-Net whose text width is CLIP-L's, so GLIGEN's SD1.x head rule (8 heads) holds
CFG = UNetConfig.from_levels(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, depth_per_level=(1, 1),
                             depth_middle=1, context_dim=768, num_heads=8)


def _boxes(n=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    lo = torch.rand(1, n, 2, generator=gen) * 0.5
    boxes = torch.zeros(1, G.MAX_OBJECTS, 4)
    boxes[:, :n] = torch.cat([lo, lo + 0.1 + torch.rand(1, n, 2, generator=gen) * 0.4], dim=-1)
    masks = torch.zeros(1, G.MAX_OBJECTS)
    masks[:, :n] = 1
    embeds = torch.zeros(1, G.MAX_OBJECTS, 768)
    embeds[:, :n] = torch.randn(1, n, 768, generator=gen)
    return boxes, masks, embeds


def test_fourier_embedding_equals_diffusers():
    from diffusers.models.embeddings import get_fourier_embeds_from_boundingbox

    boxes = _boxes()[0]
    torch.testing.assert_close(G.fourier_embedding(boxes), get_fourier_embeds_from_boundingbox(8, boxes))


def test_position_net_equals_diffusers_text_box_projection():
    from diffusers.models.embeddings import GLIGENTextBoundingboxProjection

    sd = {k[len("position_net."):]: v for k, v in tiny_gligen_state_dict(CFG, pooled_dim=768).items()
          if k.startswith("position_net.")}
    sd["null_positive_feature"] = torch.randn(768)  # nonzero nulls: the masked slots must use them
    sd["null_position_feature"] = torch.randn(64)
    ours = G.PositionNet(768, 768)
    ours.load_state_dict(sd)
    ref = GLIGENTextBoundingboxProjection(positive_len=768, out_dim=768)
    ref.load_state_dict(sd)
    boxes, masks, embeds = _boxes()
    with torch.inference_mode():
        torch.testing.assert_close(ours(boxes, masks, embeds), ref(boxes=boxes, masks=masks, positive_embeddings=embeds),
                                   atol=1e-5, rtol=1e-5)


def test_gated_self_attention_equals_diffusers():
    from diffusers.models.attention import GatedSelfAttentionDense

    sd = {k.split(".fuser.")[1]: v for k, v in tiny_gligen_state_dict(CFG).items()
          if k.startswith("output_blocks.0.1.transformer_blocks.0.fuser.")}  # width 64
    ours = G.GatedSelfAttentionDense(64, 768, 8, 8)
    ours.load_state_dict(sd)
    ref = GatedSelfAttentionDense(64, 768, 8, 8)
    ref.load_state_dict(sd)
    gen = torch.Generator().manual_seed(3)
    x, objs = torch.randn(2, 49, 64, generator=gen), torch.randn(2, 30, 768, generator=gen)
    with torch.inference_mode():
        out = ours(x, objs)
        torch.testing.assert_close(out, ref(x, objs), atol=1e-5, rtol=1e-5)
    assert (out - x).abs().max() > 1e-2  # the gates are open: the layer does something


def test_released_key_layout_loads_with_and_without_the_unet_prefix():
    for prefix in ("", "model.diffusion_model."):
        handle = G.load_state_dict(tiny_gligen_state_dict(CFG, prefix=prefix))
        assert handle.model.paths == transformer_block_paths(CFG)  # U-Net execution order
        assert handle.model.key_dim == 768


def test_full_size_sd15_gligen_layout_builds_with_sd1_heads():
    from core.models.detection import detect
    from tests.testdata import manifest

    cfg = detect(manifest("sd15")["keys"]).unet
    sd = {k: torch.empty(v, device="meta") for k, v in gligen_shapes(cfg, 768, 768).items()}
    gligen = G.load_state_dict(sd).model
    assert len(gligen.module_list) == 16  # 6 input, 1 middle, 9 output transformers
    widths = [f.linear.out_features for f in gligen.module_list]
    assert widths == [320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 1280, 640, 640, 640, 320, 320, 320]
    assert all(f.attn.heads == 8 for f in gligen.module_list)


def test_a_file_that_is_not_gligen_is_refused_with_its_keys():
    with pytest.raises(ValueError, match="not a GLIGEN file"):
        G.load_state_dict({"input_blocks.0.0.weight": torch.zeros(1)}, "x.safetensors")


def test_wrong_shapes_are_refused_naming_the_fuser():
    sd = tiny_gligen_state_dict(CFG)
    sd["input_blocks.1.1.transformer_blocks.0.fuser.norm1.weight"] = torch.ones(5)
    with pytest.raises(ValueError, match=r"input_blocks\.1\.1\.transformer_blocks\.0\.fuser.*norm1\.weight"):
        G.load_state_dict(sd)


def test_objects_normalise_latent_boxes_and_fill_the_unused_slots_with_nulls():
    gligen = G.load_state_dict(tiny_gligen_state_dict(CFG, pooled_dim=32)).model
    pooled = torch.randn(1, 32)
    objs = gligen.objects([(pooled, 4, 2, 1, 3)], (8, 16), batch=2)
    boxes = torch.zeros(1, 30, 4)
    boxes[0, 0] = torch.tensor([3 / 16, 1 / 8, 5 / 16, 5 / 8])  # x1, y1, x2, y2
    masks = torch.zeros(1, 30)
    masks[0, 0] = 1
    embeds = torch.zeros(1, 30, 32)
    embeds[0, 0] = pooled[0]
    with torch.inference_mode():
        expected = gligen.position_net(boxes, masks, embeds)
    assert objs.shape == (2, 30, 768)
    torch.testing.assert_close(objs, expected.repeat(2, 1, 1))


def test_a_pooled_width_the_model_does_not_take_is_explained():
    gligen = G.load_state_dict(tiny_gligen_state_dict(CFG, pooled_dim=32)).model
    with pytest.raises(ValueError, match="pooled embedding has 1024 values, the model takes 32"):
        gligen.objects([(torch.zeros(1, 1024), 4, 4, 0, 0)], (8, 8), 1)


def _diffusers_gligen_unet(unet: UNetModel, gligen_sd: dict):
    """diffusers' gated U-Net with our U-Net's weights (its own converter) and the GLIGEN fusers placed on
    the diffusers block that holds the same attention weights."""
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    from tests.models.test_vs_diffusers import diffusers_unet_config

    config = {**diffusers_unet_config(unet.config), "attention_type": "gated"}
    sd = unet.state_dict()
    converted = convert_ldm_unet_checkpoint({"model.diffusion_model." + k: v for k, v in sd.items()}, config)
    by_tensor = {id(v): k for k, v in converted.items()}
    for key, value in gligen_sd.items():
        if key.startswith("position_net."):
            converted[key] = value
            continue
        path, rest = key.split(".fuser.")
        target = by_tensor[id(sd[path + ".attn1.to_q.weight"])][:-len("attn1.to_q.weight")]
        converted[f"{target}fuser.{rest}"] = value
    ref = UNet2DConditionModel(**config)
    ref.load_state_dict(converted, strict=True)
    return ref.eval()


def test_unet_with_gligen_fusers_equals_diffusers_gated_unet():
    with torch.device("meta"):
        unet = UNetModel(CFG)
    fill_random(unet, seed=5)
    gligen_sd = tiny_gligen_state_dict(CFG, pooled_dim=768, seed=6)
    gligen = G.load_state_dict(gligen_sd).model
    ref = _diffusers_gligen_unet(unet, gligen_sd)
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 4, 8, 8, generator=gen)
    t = torch.tensor([500.0, 20.0])
    ctx = torch.randn(2, 77, 768, generator=gen)
    pooled = torch.randn(2, 768, generator=gen)
    # two boxes in latent units (h, w, y, x) on an 8x8 latent
    params = [(pooled[0:1], 4, 3, 1, 2), (pooled[1:2], 2, 6, 5, 0)]
    objs = gligen.objects(params, (8, 8), batch=2)
    boxes = torch.zeros(2, 30, 4)
    boxes[:, 0] = torch.tensor([2 / 8, 1 / 8, 5 / 8, 5 / 8])
    boxes[:, 1] = torch.tensor([0.0, 5 / 8, 6 / 8, 7 / 8])
    masks = torch.zeros(2, 30)
    masks[:, :2] = 1
    embeds = torch.zeros(2, 30, 768)
    embeds[:, 0], embeds[:, 1] = pooled[0], pooled[1]
    with torch.inference_mode():
        plain = unet(x, t, ctx)
        ours = unet(x, t, ctx, patches={"middle_patch": [G.GligenPatch(gligen, objs)]})
        theirs = ref(x, t, encoder_hidden_states=ctx,
                     cross_attention_kwargs={"gligen": {"boxes": boxes, "masks": masks,
                                                        "positive_embeddings": embeds}}).sample
    assert (ours - plain).abs().max() > 1e-3  # the fusers change the prediction
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)
