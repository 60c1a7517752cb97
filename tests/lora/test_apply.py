"""LoRA patches on real (tiny) MODEL/CLIP handles: exact values, stacking, strengths and bit-exact restore."""
import pytest
import torch

from core import devices
from core.models.lora import key_map, load_lora_for_models
from core.models.patcher import MergedPatches
from core.models.patcher import resolve

from tests.lora.lora_testfiles import kohya_lora_for

UNET = "model.diffusion_model."


def _shapes(model, clip):
    shapes = {UNET + k: tuple(v.shape) for k, v in model.unet.state_dict().items()}
    shapes.update({k: tuple(v.shape) for k, v in clip.state_dict().items()})
    return shapes


def _lora(model, clip, seed=0, alpha=2.0, prefix="lora_"):
    shapes = _shapes(model, clip)
    return kohya_lora_for(shapes, key_map(shapes), prefix, seed=seed, alpha=alpha)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.unet.state_dict().items()}


def _expected(base, lora, strength, name, key, alpha=2.0):
    down, up = lora[name + ".lora_down.weight"], lora[name + ".lora_up.weight"]
    return base + strength * (alpha / down.shape[0]) * (up.flatten(1) @ down.flatten(1)).reshape(base.shape)


@pytest.mark.parametrize("name,key", [
    ("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", "input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"),
    ("lora_unet_down_blocks_0_attentions_0_proj_in", "input_blocks.1.1.proj_in.weight"),  # conv 1x1
    ("lora_unet_down_blocks_0_resnets_0_conv1", "input_blocks.1.0.in_layers.2.weight"),  # conv 3x3 (LoCon)
])
@pytest.mark.parametrize("strength", [1.0, -0.5, 0.3])
def test_active_model_has_w_plus_scaled_up_down(tiny_models, name, key, strength):
    model, clip = tiny_models("sd15")
    lora = _lora(model, clip)
    before = _weights(model)
    patched, _, unmatched = load_lora_for_models(model, clip, lora, strength, 1.0)
    assert unmatched == []
    with devices.manager.activate(patched):
        got = patched.unet.state_dict()[key].clone()
    assert torch.allclose(got, _expected(before[key], lora, strength, name, key), atol=1e-6)
    assert torch.equal(model.unet.state_dict()[key], before[key])


def test_clip_patches_follow_strength_clip(tiny_models):
    model, clip = tiny_models("sd15")
    lora = _lora(model, clip)
    _, patched_clip, _ = load_lora_for_models(model, clip, lora, 1.0, 0.7)
    key = "cond_stage_model.transformer.text_model.encoder.layers.1.mlp.fc1.weight"
    name = "lora_te_text_model_encoder_layers_1_mlp_fc1"
    base = clip.state_dict()[key].clone()
    assert len(patched_clip.patches[key]) == 1
    delta = patched_clip.patches[key][0].delta(base)
    assert torch.allclose(base + delta, _expected(base, lora, 0.7, name, key), atol=1e-6)
    assert clip.patches == {}


def test_two_loras_stack(tiny_models):
    model, clip = tiny_models("sd15")
    a, b = _lora(model, clip, seed=1), _lora(model, clip, seed=2)
    key, name = "input_blocks.1.1.proj_out.weight", "lora_unet_down_blocks_0_attentions_0_proj_out"
    before = _weights(model)[key]
    m1, c1, _ = load_lora_for_models(model, clip, a, 0.8, 1.0)
    m2, _, _ = load_lora_for_models(m1, c1, b, -1.2, 1.0)
    with devices.manager.activate(m2):
        got = m2.unet.state_dict()[key].clone()
    expected = _expected(before, a, 0.8, name, key) + _expected(before, b, -1.2, name, key) - before
    assert torch.allclose(got, expected, atol=1e-6)


def test_strength_zero_adds_no_patches(tiny_models):
    model, clip = tiny_models("sd15")
    patched, patched_clip, _ = load_lora_for_models(model, clip, _lora(model, clip), 0.0, 0.0)
    assert patched.patches == {} and patched_clip.patches == {}


def test_sdxl_lora_reaches_both_text_encoders_and_the_unet(tiny_models):
    model, clip = tiny_models("sdxl")
    lora = _lora(model, clip)
    assert any(k.startswith("lora_te1_") for k in lora) and any(k.startswith("lora_te2_") for k in lora)
    # q/k/v of the OpenCLIP tower are slices of one fused weight: write them as kohya names too
    shapes = _shapes(model, clip)
    gen = torch.Generator().manual_seed(3)
    for name, (key, part) in key_map(shapes).items():
        if name.startswith("lora_te2_") and part is not None:
            width = shapes[key][1]
            lora[name + ".lora_down.weight"] = torch.randn(4, width, generator=gen)
            lora[name + ".lora_up.weight"] = torch.randn(width, 4, generator=gen)
    patched, patched_clip, unmatched = load_lora_for_models(model, clip, lora, 1.0, 1.0)
    assert unmatched == []
    assert any(k.startswith("conditioner.embedders.0.") for k in patched_clip.patches)
    assert any(k.endswith("attn.in_proj_weight") for k in patched_clip.patches)
    assert len(patched.patches) > 0


def test_unknown_modules_are_reported_by_name(tiny_models, caplog):
    model, clip = tiny_models("sd15")
    lora = {"lora_unet_no_such_block.lora_down.weight": torch.zeros(2, 4),
            "lora_unet_no_such_block.lora_up.weight": torch.zeros(4, 2)}
    _, _, unmatched = load_lora_for_models(model, clip, lora, 1.0, 1.0, name="LoraLoader 'x'")
    assert unmatched == ["lora_unet_no_such_block"]
    assert "lora_unet_no_such_block" in caplog.text


def test_activation_restores_the_base_weights(tiny_models):
    model, clip = tiny_models("sd15")
    before = _weights(model)
    patched, _, _ = load_lora_for_models(model, clip, _lora(model, clip, alpha=8.0), 0.77, 1.0)
    with devices.manager.activate(patched):
        assert not torch.equal(model.unet.input_blocks[1][1].proj_in.weight, before["input_blocks.1.1.proj_in.weight"])
    after = _weights(model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_restore_is_bit_identical_after_100_cycles(tiny_models):
    model, clip = tiny_models("sd15")
    before = _weights(model)
    patched, _, _ = load_lora_for_models(model, clip, _lora(model, clip, alpha=8.0), 0.77, 1.0)
    for _ in range(100):
        MergedPatches.into_module(model.unet, patched.patches, UNET).restore()
    after = _weights(model)
    assert all(torch.equal(before[k].view(torch.uint8), after[k].view(torch.uint8)) for k in before)


def ExactMerge(params, patches):  # the patcher over a plain {key: tensor} dict
    return MergedPatches(patches, lambda key: [params[key]] if key in params else None)


def _relative_lora(weight, relative, rank=8):
    """A LoRA patch whose delta elements are about ``relative`` times the weight's (typical: 0.3-3 %)."""
    from core.models.lora_formats import LoraPatch

    torch.manual_seed(1)
    up, down = torch.randn(weight.shape[0], rank), torch.randn(rank, *weight.shape[1:])
    strength = relative * weight.float().std().item() / rank ** 0.5
    return LoraPatch(up, down, alpha=float(rank), strength=strength)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_exact_merge_restores_bits_and_keeps_a_small_undo_log(dtype):
    torch.manual_seed(0)
    params = {"w": (torch.randn(64, 96) * 0.05).to(dtype), "c": (torch.randn(32, 16, 3, 3) * 0.05).to(dtype)}
    originals = {k: v.clone() for k, v in params.items()}
    patches = {k: [_relative_lora(v, 0.01)] for k, v in params.items()}
    weight_bytes = sum(v.numel() * v.element_size() for v in params.values())
    for _ in range(100):
        merge = ExactMerge(params, patches)
        assert not torch.equal(params["w"], originals["w"])
        assert merge.saved_bytes < 0.15 * weight_bytes
        merge.restore()
    assert all(torch.equal(params[k].view(torch.uint8), originals[k].view(torch.uint8)) for k in params)


def test_undo_log_never_exceeds_the_weight_even_for_huge_deltas():
    w = torch.randn(64, 96, dtype=torch.float16)
    original = w.clone()
    merge = ExactMerge({"w": w}, {"w": [_relative_lora(w, 50.0)]})
    assert merge.saved_bytes <= w.numel() * w.element_size()
    merge.restore()
    assert torch.equal(w.view(torch.int16), original.view(torch.int16))


def test_merging_a_weight_larger_than_one_chunk_restores_exactly(monkeypatch):
    from core.models import patcher

    monkeypatch.setattr(patcher, "CPU_CHUNK_ELEMENTS", 100)  # 7 rows of 13 per chunk, 17 chunks
    w = torch.randn(120, 13, dtype=torch.bfloat16)
    original = w.clone()
    patch = _relative_lora(w, 0.05)
    merge = ExactMerge({"w": w}, {"w": [patch]})
    assert torch.equal(w, (original.float() + patch.delta(original)).to(torch.bfloat16))
    merge.restore()
    assert torch.equal(w.view(torch.int16), original.view(torch.int16))


def test_strength_model_scales_the_weight_and_restores_exactly():
    from core.models.patcher import WeightScale

    w = torch.randn(32, 48)
    original = w.clone()
    patch = _relative_lora(w, 0.02)
    merge = ExactMerge({"w": w}, {"w": [WeightScale(0.6), patch]})
    assert torch.allclose(w, 0.6 * original + patch.delta(original), atol=1e-6)
    merge.restore()
    assert torch.equal(w.view(torch.int32), original.view(torch.int32))


def test_restore_uses_the_merge_thread_count():
    w = torch.randn(256, 512)
    original = w.clone()
    threads = torch.get_num_threads()
    merge = ExactMerge({"w": w}, {"w": [_relative_lora(w, 0.01, rank=32)]})
    torch.set_num_threads(1 if threads > 1 else 2)
    try:
        merge.restore()
        assert torch.get_num_threads() == (1 if threads > 1 else 2)  # the caller's setting is given back
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(w, original)


def test_exact_merge_merged_value_is_w_plus_delta():
    from core.models.lora_formats import LoraPatch

    w = torch.randn(8, 8)
    base = w.clone()
    patch = LoraPatch(torch.randn(8, 2), torch.randn(2, 8), alpha=1.0, strength=0.5)
    ExactMerge({"w": w}, {"w": [patch]})
    assert torch.equal(w, base + patch.delta(base))


def test_exact_merge_refuses_a_restore_that_would_not_be_exact():
    class Drifting:
        calls = 0

        def delta(self, weight):
            Drifting.calls += 1
            return torch.full(weight.shape, 0.1 * Drifting.calls)

    w = torch.randn(4, 4)
    merge = ExactMerge({"w": w}, {"w": [Drifting()]})
    with pytest.raises(RuntimeError, match="bit for bit"):
        merge.restore()


def test_resolve_finds_the_weight_the_patch_key_names(tiny_models):
    model, _ = tiny_models("sd15")
    t = resolve(model.unet, UNET + "input_blocks.1.1.proj_in.weight", UNET)
    assert t is model.unet.input_blocks[1][1].proj_in.weight


def test_clip_merge_patches_fused_openclip_rows_in_place_and_restores_exactly(tiny_models):
    model, clip = tiny_models("sdxl")
    key = next(k for k in clip.checkpoint_keys() if k.endswith("attn.in_proj_weight"))
    enc, local = clip._owner(key)
    before = {k: v.detach().clone() for k, v in clip.state_dict().items()}
    fused = enc.get_weight(local).clone()
    rows = fused.shape[0] // 3
    from core.models.lora_formats import LoraPatch, SlicePatch

    k_patch = SlicePatch(LoraPatch(torch.randn(rows, 2), torch.randn(2, fused.shape[1]), strength=0.1), rows, rows)
    patched = clip.clone()
    patched.add_patches({key: k_patch})
    with devices.manager.activate(patched):
        merged = enc.get_weight(local)
        assert torch.equal(merged[:rows], fused[:rows]) and torch.equal(merged[2 * rows:], fused[2 * rows:])
        assert torch.allclose(merged[rows:2 * rows], fused[rows:2 * rows] + k_patch.delta(fused)[rows:2 * rows], atol=1e-6)
    after = clip.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_clip_patch_changes_the_encoding_only_while_active(tiny_models):
    model, clip = tiny_models("sd15")
    tokens = clip.tokenize("a photo of a cat")
    plain = clip.encode_from_tokens(tokens)
    _, patched, _ = load_lora_for_models(model, clip, _lora(model, clip, alpha=8.0), 0.0, 1.0)
    assert not torch.allclose(patched.encode_from_tokens(tokens), plain)
    assert torch.equal(clip.encode_from_tokens(tokens), plain)


def test_loader_folds_strength_into_factored_patches(tiny_models):
    model, clip = tiny_models("sd15")
    patched, patched_clip, _ = load_lora_for_models(model, clip, _lora(model, clip), 0.6, 0.3)
    for handle, strength in ((patched, 0.6), (patched_clip, 0.3)):
        plists = list(handle.patches.values())
        assert plists and all(hasattr(p, "low_rank") and p.strength == pytest.approx(strength)
                              for plist in plists for p in plist)


def test_loading_a_lora_lists_the_model_keys_a_fixed_number_of_times(tiny_models, monkeypatch):
    from core.models.handles import ModelHandle

    calls = []
    real = ModelHandle.weight_keys
    monkeypatch.setattr(ModelHandle, "weight_keys", lambda self: calls.append(1) or real(self))
    model, clip = tiny_models("sd15")
    patched, _, _ = load_lora_for_models(model, clip, _lora(model, clip), 0.8, 1.0)
    assert len(patched.patches) > 10 and len(calls) <= 2  # not once per patched weight


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_mixed_patch_kinds_on_one_weight_merge_to_their_sum_and_restore_exactly(dtype, monkeypatch):
    from core.models import patcher
    from core.models.lora_formats import FullPatch, LohaPatch

    monkeypatch.setattr(patcher, "CPU_CHUNK_ELEMENTS", 200)  # 8 rows of 24 per chunk
    torch.manual_seed(0)
    w = (torch.randn(40, 24) * 0.05).to(dtype)
    original = w.clone()
    gen = torch.Generator().manual_seed(2)
    two_loras = [_relative_lora(w, 0.02), _relative_lora(w, 0.03, rank=4)]  # one product for both
    full = FullPatch(torch.randn(40, 24, generator=gen) * 1e-3)  # by rows
    loha = LohaPatch(*(torch.randn(*s, generator=gen) * 0.1 for s in ((40, 2), (2, 24), (40, 2), (2, 24))),
                     alpha=2.0)  # whole delta only
    deltas = [*two_loras, full, loha]
    expected = 0.9 * original.float() + sum(p.delta(original) for p in deltas)
    ulp = torch.finfo(dtype).eps * float(expected.abs().max())
    for _ in range(20):
        merge = ExactMerge({"w": w}, {"w": [patcher.WeightScale(0.9), *deltas]})
        assert torch.allclose(w.float(), expected, atol=ulp)
        merge.restore()
    assert torch.equal(w.view(torch.uint8), original.view(torch.uint8))


def test_low_rank_factors_give_the_patch_delta():
    from core.models.lora_formats import LohaPatch, LoraPatch, SlicePatch

    torch.manual_seed(0)
    locon = LoraPatch(torch.randn(6, 2, 1, 1), torch.randn(2, 3, 1, 1), alpha=1.0, mid=torch.randn(2, 2, 3, 3),
                      strength=0.5)
    w = torch.zeros(6, 3, 3, 3)
    up, down = locon.low_rank(w)
    assert torch.allclose((up @ down).reshape(w.shape), locon.delta(w), atol=1e-6)
    q_of_fused = SlicePatch(LoraPatch(torch.randn(4, 2), torch.randn(2, 6), alpha=1.0, strength=0.5), 4, 4)
    fused = torch.zeros(12, 6)
    up, down = q_of_fused.low_rank(fused)
    assert torch.allclose(up @ down, q_of_fused.delta(fused), atol=1e-6)
    loha = LohaPatch(torch.randn(4, 2), torch.randn(2, 6), torch.randn(4, 2), torch.randn(2, 6))
    assert SlicePatch(loha, 4, 4).low_rank(fused) is None


def test_add_patches_keeps_tuple_and_scaled_patches_low_rank():
    """Tuples become LowRankPatch and strength_patch wraps them without losing the one-GEMM merge."""
    from core.models.patcher import LowRankPatch, ScaledPatch, WeightScale, add_patches

    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, 5, generator=gen)
    up, down = torch.randn(6, 2, generator=gen), torch.randn(2, 5, generator=gen)
    store = {}
    applied = add_patches(store, {"a", "b"}, {"a": (1.0, up, down), "c": (1.0, up, down)})
    assert applied == ["a"] and isinstance(store["a"][0], LowRankPatch) and "c" not in store
    add_patches(store, {"a"}, {"a": (1.0, up, down, 4.0)}, strength_patch=0.5, strength_model=0.8)
    scale, scaled = store["a"][1:]
    assert isinstance(scale, WeightScale) and scale.strength == 0.8 and isinstance(scaled, ScaledPatch)
    f_up, f_down = scaled.low_rank(w)
    torch.testing.assert_close(f_up @ f_down, 0.5 * 2.0 * up @ down)  # alpha 4 / rank 2
    torch.testing.assert_close(scaled.delta(w), f_up @ f_down)
