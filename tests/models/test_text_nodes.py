"""Text nodes (docs/comfy-api.md §6): inputs in ComfyUI's order, conditioning dicts, loaders reading model folders."""
import pytest
import torch
from safetensors.torch import save_file

from core import paths
from core.models.clip import OPENCLIP, TextEncoderConfig
from core.models.text_encoder import clip_from_checkpoint
from core.models.tiny import random_text_encoder_state_dict
from nodes.text import (CLIPLoader, CLIPSetLastLayer, CLIPTextEncode, CLIPTextEncodeSDXL, CLIPTextEncodeSDXLRefiner,
                        DualCLIPLoader)

TINY_L = TextEncoderConfig(hidden_size=32, num_layers=2, intermediate_size=64)
TINY_G = TextEncoderConfig(hidden_size=64, num_layers=2, intermediate_size=128, activation="gelu", projection_dim=64,
                           layout=OPENCLIP, has_logit_scale=True)


@pytest.fixture(scope="module")
def l_weights():
    return random_text_encoder_state_dict(TINY_L, seed=11)


@pytest.fixture(scope="module")
def g_weights():
    return random_text_encoder_state_dict(TINY_G, seed=12)


@pytest.fixture()
def models_dir(tmp_path):
    folders = paths.configure(base=tmp_path)
    yield folders.models_dir
    paths.configure()


@pytest.fixture(scope="module")
def sd1(l_weights):
    sd = {"cond_stage_model.transformer." + k: v for k, v in l_weights.items()}
    return clip_from_checkpoint(sd, "sd1", dtype=torch.float32, device="cpu")


@pytest.fixture(scope="module")
def sdxl(l_weights, g_weights):
    sd = {**{"conditioner.embedders.0.transformer." + k: v for k, v in l_weights.items()},
          **{"conditioner.embedders.1.model." + k: v for k, v in g_weights.items()}}
    return clip_from_checkpoint(sd, "sdxl", dtype=torch.float32, device="cpu")


def input_names(cls):
    spec = cls.INPUT_TYPES()
    return list(spec["required"]) + list(spec.get("optional", {}))


@pytest.mark.parametrize("cls,names", [
    (CLIPTextEncode, ["text", "clip"]),
    (CLIPTextEncodeSDXL, ["clip", "width", "height", "crop_w", "crop_h", "target_width", "target_height", "text_g", "text_l"]),
    (CLIPTextEncodeSDXLRefiner, ["ascore", "width", "height", "text", "clip"]),
    (CLIPSetLastLayer, ["clip", "stop_at_clip_layer"]),
    (CLIPLoader, ["clip_name", "type", "device"]),
    (DualCLIPLoader, ["clip_name1", "clip_name2", "type", "device"]),
], ids=lambda x: x.__name__ if isinstance(x, type) else None)
def test_inputs_are_in_comfyui_order(cls, names):
    assert input_names(cls) == names


def test_prompt_widgets_are_multiline_with_dynamic_prompts():
    opts = CLIPTextEncode.INPUT_TYPES()["required"]["text"][1]
    assert opts["multiline"] and opts["dynamicPrompts"]


def test_stop_at_clip_layer_range():
    assert CLIPSetLastLayer.INPUT_TYPES()["required"]["stop_at_clip_layer"][1] == {"default": -1, "min": -24, "max": -1, "step": 1}


def test_clip_text_encode_returns_conditioning_with_pooled_output(sd1):
    (cond,) = CLIPTextEncode().execute(sd1, "a cat")
    assert len(cond) == 1
    tensor, extra = cond[0]
    assert tensor.shape == (1, 77, 32) and extra["pooled_output"].shape == (1, 32)


def test_clip_text_encode_without_clip_names_the_node():
    with pytest.raises(ValueError, match="CLIPTextEncode, input 'clip'"):
        CLIPTextEncode().execute(None, "a cat")


def test_sdxl_encode_adds_size_conditioning_and_encodes_each_text_with_its_encoder(sdxl):
    (cond,) = CLIPTextEncodeSDXL().execute(sdxl, 1024, 768, 8, 16, 2048, 1536, "a red fox", "a dog")
    tensor, extra = cond[0]
    assert {k: extra[k] for k in ("width", "height", "crop_w", "crop_h", "target_width", "target_height")} == \
        {"width": 1024, "height": 768, "crop_w": 8, "crop_h": 16, "target_width": 2048, "target_height": 1536}
    torch.testing.assert_close(tensor[..., :32], sdxl.encode_from_tokens(sdxl.tokenize("a dog"))[..., :32])
    torch.testing.assert_close(tensor[..., 32:], sdxl.encode_from_tokens(sdxl.tokenize("a red fox"))[..., 32:])
    _, pooled = sdxl.encode_from_tokens(sdxl.tokenize("a red fox"), return_pooled=True)
    torch.testing.assert_close(extra["pooled_output"], pooled)


def test_refiner_encode_adds_aesthetic_score_and_size(sdxl):
    (cond,) = CLIPTextEncodeSDXLRefiner().execute(sdxl, 2.5, 640, 512, "a cat")
    extra = cond[0][1]
    assert (extra["aesthetic_score"], extra["width"], extra["height"]) == (2.5, 640, 512)
    assert "pooled_output" in extra


def test_set_last_layer_returns_a_changed_copy(sd1):
    (skipped,) = CLIPSetLastLayer().execute(sd1, -2)
    assert skipped is not sd1 and skipped.layer_idx == -2 and sd1.layer_idx is None
    assert not torch.allclose(CLIPTextEncode().execute(skipped, "a cat")[0][0][0], CLIPTextEncode().execute(sd1, "a cat")[0][0][0])


def test_clip_loader_reads_the_text_encoders_folder(models_dir, l_weights, sd1):
    (models_dir / "text_encoders").mkdir(parents=True)
    save_file(l_weights, str(models_dir / "text_encoders" / "clip_l.safetensors"))
    assert CLIPLoader.INPUT_TYPES()["required"]["clip_name"][0] == ["clip_l.safetensors"]
    (clip,) = CLIPLoader().execute("clip_l.safetensors", "stable_diffusion")
    torch.testing.assert_close(clip.encode_from_tokens(clip.tokenize("a cat")),
                               sd1.encode_from_tokens(sd1.tokenize("a cat")), atol=1e-5, rtol=1e-5)


def test_clip_loader_refuses_other_model_types_by_name(models_dir):
    with pytest.raises(ValueError, match="CLIPLoader, input 'type': 'stable_cascade'"):
        CLIPLoader().execute("x.safetensors", "stable_cascade")


def test_clip_loader_names_a_missing_file(models_dir):
    with pytest.raises(FileNotFoundError, match="CLIPLoader, input 'clip_name'"):
        CLIPLoader().execute("missing.safetensors", "stable_diffusion")


def test_dual_clip_loader_builds_sdxl_from_l_and_g_files(models_dir, l_weights, g_weights):
    (models_dir / "clip").mkdir(parents=True)  # the legacy folder name is searched too
    save_file(l_weights, str(models_dir / "clip" / "l.safetensors"))
    save_file(g_weights, str(models_dir / "clip" / "g.safetensors"))
    (clip,) = DualCLIPLoader().execute("g.safetensors", "l.safetensors", "sdxl")
    cond, pooled = clip.encode_from_tokens(clip.tokenize("a cat"), return_pooled=True)
    assert cond.shape == (1, 77, 32 + 64) and pooled.shape == (1, 64)


def test_prompt_embeddings_come_from_the_embeddings_folder(models_dir, l_weights, sd1):
    (models_dir / "embeddings").mkdir(parents=True)
    cat_row = l_weights["text_model.embeddings.token_embedding.weight"][2368]
    save_file({"emb": cat_row[None].clone()}, str(models_dir / "embeddings" / "kitty.safetensors"))
    (with_embedding,) = CLIPTextEncode().execute(sd1, "a embedding:kitty")
    (with_word,) = CLIPTextEncode().execute(sd1, "a cat")
    torch.testing.assert_close(with_embedding[0][0], with_word[0][0], atol=1e-4, rtol=1e-4)
