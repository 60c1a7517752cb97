"""CLIP vision (CLIPVisionLoader, CLIPVisionEncode), unCLIPConditioning and the SDXL revision template.

The vision tower is transformers' CLIPVisionModelWithProjection, built from the shapes of the file; it
is checked against a transformers model made directly from a seeded tiny config."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests import testdata

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reference():
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(3)
    config = CLIPVisionConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=1,
                              image_size=48, patch_size=16, projection_dim=20, hidden_act="gelu", layer_norm_eps=1e-5)
    return CLIPVisionModelWithProjection(config).eval()


def test_a_loaded_vision_tower_reproduces_transformers(reference, tmp_path):
    from safetensors.torch import save_file

    from core.models import clip_vision

    path = tmp_path / "cv.safetensors"
    save_file({f"clip_vision.{k}": v.contiguous() for k, v in reference.state_dict().items()
               if not k.endswith("position_ids")}, str(path))
    handle = clip_vision.load(path)
    assert (handle.model.config.num_hidden_layers, handle.image_size, handle.model.config.projection_dim) == (3, 48, 20)
    image = torch.rand(2, 60, 80, 3)
    out = handle.encode_image(image, crop=True)
    with torch.no_grad():
        ref = reference(pixel_values=clip_vision.preprocess(image, 48, True), output_hidden_states=True)
    assert torch.allclose(out.image_embeds, ref.image_embeds, atol=1e-5)
    assert torch.allclose(out.last_hidden_state, ref.last_hidden_state, atol=1e-5)
    assert torch.allclose(out["penultimate_hidden_states"], ref.hidden_states[-2], atol=1e-5)


def test_preprocessing_equals_clips_image_processor_at_the_model_size():
    from transformers import CLIPImageProcessor

    from core.models import clip_vision

    pixels = torch.randint(0, 256, (1, 48, 48, 3)).float() / 255
    ours = clip_vision.preprocess(pixels, 48, crop=True)
    theirs = CLIPImageProcessor(size={"shortest_edge": 48}, crop_size={"height": 48, "width": 48})(
        (pixels[0] * 255).round().to(torch.uint8).numpy(), return_tensors="pt")["pixel_values"]
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_center_crop_keeps_the_middle_and_none_squashes():
    from core.models import clip_vision

    image = torch.zeros(1, 32, 64, 3)
    image[:, :, 16:48] = 1.0  # a white square in the middle of a wide black image
    cropped = clip_vision.preprocess(image, 32, crop=True)
    squashed = clip_vision.preprocess(image, 32, crop=False)
    assert cropped[0, 0].min() > 1.5  # all white after normalisation
    assert squashed[0, 0, :, 0].max() < 0  # black borders kept


def test_unclip_conditioning_appends_an_entry_and_strength_zero_is_a_no_op():
    from nodes.clip_vision import unCLIPConditioning

    cond = [[torch.zeros(1, 77, 8), {"pooled_output": torch.zeros(1, 8)}]]
    out = unCLIPConditioning().execute(cond, "cvo", 0.75, 0.1)[0]
    assert out[0][1]["unclip_conditioning"] == [{"clip_vision_output": "cvo", "strength": 0.75,
                                                 "noise_augmentation": 0.1}]
    again = unCLIPConditioning().execute(out, "cvo2", 1.0, 0.0)[0]
    assert len(again[0][1]["unclip_conditioning"]) == 2 and "unclip_conditioning" not in cond[0][1]
    assert unCLIPConditioning().execute(cond, "cvo", 0.0, 0.0)[0] is cond


def test_unclip_vector_weights_each_image_and_noises_by_the_augmentation():
    from core.models.clip_vision import ClipVisionOutput
    from core.models.unclip import unclip_vector

    embeds = torch.ones(1, 16)
    out = ClipVisionOutput(embeds, torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))
    clean = unclip_vector([{"clip_vision_output": out, "strength": 0.5, "noise_augmentation": 0.0}], 8)
    assert clean.shape == (1, 8) and torch.allclose(clean, torch.full((1, 8), 0.5), atol=0.01)
    noisy = unclip_vector([{"clip_vision_output": out, "strength": 1.0, "noise_augmentation": 1.0}], 8)
    assert (noisy - 1).abs().mean() > 0.3  # level 999: almost pure noise
    two = unclip_vector([{"clip_vision_output": out, "strength": 0.75, "noise_augmentation": 0.0}] * 2, 8)
    assert torch.allclose(two, torch.full((1, 8), 1.5), atol=0.02)


def test_sdxl_revision_template_runs_headless(tmp_path):
    from PIL import Image

    from core.models.tiny import write_tiny_checkpoint, write_tiny_clip_vision

    write_tiny_checkpoint(tmp_path / "models" / "checkpoints" / "sd_xl_base_1.0.safetensors", "sdxl")
    write_tiny_clip_vision(tmp_path / "models" / "clip_vision" / "clip_vision_g.safetensors")
    for i, colour in ((1, (200, 40, 40)), (2, (40, 40, 200))):
        path = tmp_path / "input" / f"sdxl_revision_text_prompts_ref_image{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (48, 40), colour).save(path)
    ui = testdata.workflow("clip_vision/sdxl_revision_text_prompts.ui.json")
    cmd = [sys.executable, str(REPO / "main.py"), "run", str(ui), "--base-directory", str(tmp_path), "--cpu",
           "--no-progress", "--set", "5.width=64", "--set", "5.height=64", "--set", "3.steps=2"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    png = next(Path(line) for line in done.stdout.splitlines() if line.endswith(".png"))
    from core.workflow.formats import read_png_text

    prompt = json.loads(read_png_text(png.read_bytes())["prompt"])
    assert prompt["37"]["inputs"]["conditioning"] == ["19", 0] and prompt["19"]["inputs"]["strength"] == 0.75


def test_sdxl_vector_takes_the_image_embedding_in_place_of_the_pooled_text():
    from core.models.clip_vision import ClipVisionOutput
    from core.sampling.guidance import sdxl_adm

    out = ClipVisionOutput(torch.full((1, 32), 2.0), torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))
    opts = {"pooled_output": torch.zeros(1, 32),
            "unclip_conditioning": [{"clip_vision_output": out, "strength": 1.0, "noise_augmentation": 0.0}]}
    y = sdxl_adm(opts, 32 + 6 * 256, (8, 8), 1)
    assert torch.allclose(y[:, :32], torch.full((1, 32), 2.0), atol=0.02)
    assert torch.equal(y[:, 32:], sdxl_adm({"pooled_output": torch.zeros(1, 32)}, 32 + 6 * 256, (8, 8), 1)[:, 32:])


def tiny_style_state(width=64, context=32, tokens=4, layers=2, seed=0):
    from core.models.style_model import StyleAdapter

    torch.manual_seed(seed)
    model = StyleAdapter(width, context, 8, layers, tokens)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return model.state_dict()


def test_style_adapter_loads_from_its_keys_and_matches_a_reference_forward():
    """The adapter's forward, written out with torch's own attention and layer norm on the same weights."""
    from core.models.style_model import load_state_dict

    sd = tiny_style_state()
    assert any(k.startswith("transformer_layes.1.attn.in_proj_weight") for k in sd)
    style = load_state_dict(sd)
    hidden = torch.randn(2, 5, 64)
    got = style.get_cond({"last_hidden_state": hidden})
    assert got.shape == (2, 4, 32)
    F = torch.nn.functional
    x = torch.cat([hidden, sd["style_embedding"].expand(2, -1, -1)], 1)
    x = F.layer_norm(x, (64,), sd["ln_pre.weight"], sd["ln_pre.bias"])
    for i in range(2):
        p = f"transformer_layes.{i}."
        h = F.layer_norm(x, (64,), sd[p + "ln_1.weight"], sd[p + "ln_1.bias"])
        q, k, v = (h @ w.T + b for w, b in zip(sd[p + "attn.in_proj_weight"].chunk(3), sd[p + "attn.in_proj_bias"].chunk(3)))
        split = lambda t: t.reshape(2, -1, 8, 8).transpose(1, 2)  # noqa: E731
        a = F.scaled_dot_product_attention(split(q), split(k), split(v)).transpose(1, 2).reshape(2, -1, 64)
        x = x + a @ sd[p + "attn.out_proj.weight"].T + sd[p + "attn.out_proj.bias"]
        h = F.layer_norm(x, (64,), sd[p + "ln_2.weight"], sd[p + "ln_2.bias"]) @ sd[p + "mlp.c_fc.weight"].T + sd[p + "mlp.c_fc.bias"]
        x = x + (h * torch.sigmoid(1.702 * h)) @ sd[p + "mlp.c_proj.weight"].T + sd[p + "mlp.c_proj.bias"]
    want = F.layer_norm(x[:, -4:], (64,), sd["ln_post.weight"], sd["ln_post.bias"]) @ sd["proj"]
    assert torch.allclose(got, want, atol=1e-5)


def test_style_model_apply_appends_the_style_tokens_to_every_prompt():
    from core.models.style_model import load_state_dict
    from nodes.style_model import StyleModelApply

    style = load_state_dict(tiny_style_state())
    cond = [[torch.zeros(1, 77, 32), {"pooled_output": None}]]
    out = StyleModelApply().execute(cond, style, {"last_hidden_state": torch.randn(2, 5, 64)}, 0.5, "multiply")[0]
    assert out[0][0].shape == (1, 77 + 2 * 4, 32)
    full = style.get_cond({"last_hidden_state": torch.randn(1, 5, 64)})
    assert full.shape == (1, 4, 32)


def test_style_model_loader_names_a_file_that_is_not_a_style_model():
    from core.models.style_model import load_state_dict

    with pytest.raises(ValueError, match="FLUX Redux"):
        load_state_dict({"redux_down.weight": torch.zeros(2, 2)}, "redux.safetensors")
