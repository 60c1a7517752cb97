"""SD3.5 Large ControlNets: our module equals diffusers' SD3ControlNetModel (the "8b" configuration: no patch
embedder, no context, single-stream blocks) on the same weights; files are told apart by their keys; the
residuals reach the MM-DiT after each joint block as Stability AI's reference adds them."""
from __future__ import annotations

import re

import pytest
import torch

from sd3_reference import diffusers_from_released, inputs, ours, small_config


def _to_diffusers(sd: dict) -> dict:
    """Released (Stability) block names -> diffusers SD3ControlNetModel's, qkv split in three."""
    out = {}
    for key, value in sd.items():
        if key == "control_type":
            continue
        m = re.match(r"transformer_blocks\.(\d+)\.(.+)", key)
        if not m:
            out[key] = value
            continue
        i, rest = m.groups()
        base = f"transformer_blocks.{i}."
        if rest.startswith("attn.qkv."):
            for name, part in zip(("to_q", "to_k", "to_v"), value.chunk(3, dim=0)):
                out[base + f"attn.{name}." + rest.split(".")[-1]] = part
            continue
        renamed = {"adaLN_modulation.1.": "norm1.linear.", "attn.proj.": "attn.to_out.0.",
                   "mlp.fc1.": "ff.net.0.proj.", "mlp.fc2.": "ff.net.2."}
        for old, new in renamed.items():
            if rest.startswith(old):
                out[base + new + rest[len(old):]] = value
                break
        else:
            raise KeyError(key)
    return out


def _diffusers_controlnet(sd: dict, config, blocks: int):
    from diffusers import SD3ControlNetModel

    ref = SD3ControlNetModel(
        sample_size=config.pos_embed_max_size, patch_size=config.patch_size, in_channels=config.in_channels,
        num_layers=blocks, attention_head_dim=config.head_dim, num_attention_heads=config.num_heads,
        joint_attention_dim=None, caption_projection_dim=config.hidden_size, pooled_projection_dim=config.pooled_dim,
        out_channels=config.out_channels, pos_embed_max_size=config.pos_embed_max_size, pos_embed_type=None,
        use_pos_embed=False, force_zeros_for_pooled_projection=False)
    ref.load_state_dict(_to_diffusers(sd), strict=True)
    return ref.eval()


def _ours_controlnet(sd: dict):
    from core.models.sd3_controlnet import load_sd3_controlnet_module

    return load_sd3_controlnet_module(sd, torch.float32)


def test_controlnet_equals_diffusers_sd3_controlnet_model():
    from core.models.tiny import tiny_mmdit_config, tiny_sd3_controlnet_state_dict

    config = tiny_mmdit_config("sd35_large")  # heads of 64 channels, as every release (the files do not say)
    sd = tiny_sd3_controlnet_state_dict(config, blocks=3)
    net, kind = _ours_controlnet(sd)
    ref = _diffusers_controlnet(sd, config, 3)
    g = torch.Generator().manual_seed(2)
    tokens = torch.randn(2, 12, config.hidden_size, generator=g)
    hint = torch.randn(2, 16, 6, 8, generator=g)
    t, y = torch.tensor([900.0, 300.0]), torch.randn(2, config.pooled_dim, generator=g)
    with torch.no_grad():
        got = net(tokens, hint, t, y)
        want = ref(hidden_states=tokens, controlnet_cond=hint, pooled_projections=y, timestep=t).controlnet_block_samples
    assert kind == "canny" and len(got) == len(want) == 3
    for a, b in zip(got, want):
        assert b.abs().mean() > 0.05
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_residuals_reach_the_mmdit_after_each_joint_block_as_diffusers_adds_them():
    config = small_config(depth=4)
    net, sd = ours(config)
    ref = diffusers_from_released(sd, config)
    x, t, ctx, y = inputs(config)
    g = torch.Generator().manual_seed(4)
    res = [torch.randn(2, 12, config.hidden_size, generator=g) * 0.3 for _ in range(config.depth)]
    with torch.no_grad():
        # diffusers adds none after the last (text pre-only) block; the reference and ComfyUI do: leave it out
        got = net(x, t, ctx, y, control={"output": res[:-1] + [None]})
        want = ref(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=y, timestep=t,
                   block_controlnet_hidden_states=res).sample
        plain = net(x, t, ctx, y)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    assert (got - plain).abs().max() > 1e-2


class _StandInVae:
    """A fixed linear 'encoder' (3 px channels -> 16 latent, 8x8 average pool): enough to follow the hint."""

    def __init__(self):
        self.weight = torch.randn(16, 3, generator=torch.Generator().manual_seed(9))
        self.seen = []

    def encode(self, image):
        self.seen.append(image)
        x = torch.nn.functional.avg_pool2d(image.movedim(-1, 1), 8)
        return torch.einsum("oc,bchw->bohw", self.weight, x)


def test_handle_gives_each_joint_block_its_residual_from_the_vae_encoded_hint(cpu_fp32, tmp_path):
    from core.models.controlnet import load_controlnet
    from core.models.latent_formats import SD3
    from core.models.sd3_controlnet import SD3ControlNetHandle
    from core.models.tiny import tiny_mmdit_config, write_tiny_sd3, write_tiny_sd3_controlnet
    from core.models.checkpoint import load_unet

    main = load_unet(write_tiny_sd3(tmp_path / "sd35.safetensors", unet_only=True))
    config = tiny_mmdit_config("sd35_large")
    handle = load_controlnet(write_tiny_sd3_controlnet(tmp_path / "sd3.5_large_controlnet_canny.safetensors", "canny"))
    assert isinstance(handle, SD3ControlNetHandle) and handle.kind == "canny"
    vae = _StandInVae()
    image = torch.rand(1, 64, 48, 3, generator=torch.Generator().manual_seed(1))
    bound = handle.apply(image, 1.0, vae=vae)
    x = torch.randn(2, 16, 8, 6, generator=torch.Generator().manual_seed(2))
    sigma = torch.tensor([0.8, 0.8])
    y = torch.randn(2, 2048, generator=torch.Generator().manual_seed(3))
    control = bound.get_control(x, sigma, {"c_crossattn": None, "y": y, "model": main}, 2)

    # independently: diffusers' controlnet on the main model's own patch embedding of x, hint preprocessed
    # for canny (x * 127.5 + 0.5), VAE-encoded, into the SD3 latent space
    from core.models.tiny import tiny_sd3_controlnet_state_dict, tiny_mmdit_state_dict

    ref_main = diffusers_from_released(tiny_mmdit_state_dict(config, 0), config)
    ref_cn = _diffusers_controlnet(tiny_sd3_controlnet_state_dict(blocks=2, kind="canny"), config, 2)
    hint = SD3.process_in(vae.encode(image * 127.5 + 0.5)).repeat(2, 1, 1, 1)
    with torch.no_grad():
        want = ref_cn(hidden_states=ref_main.pos_embed(x), controlnet_cond=hint, pooled_projections=y,
                      timestep=sigma * 1000).controlnet_block_samples
    # 3 joint blocks, 2 residuals: block i takes residual i // (3 // 2)
    assert len(control["output"]) == 3
    for i, got in enumerate(control["output"]):
        torch.testing.assert_close(got, want[min(i, 1)], atol=1e-4, rtol=1e-4)


def test_apply_advanced_without_vae_is_refused_naming_the_input(cpu_fp32, tmp_path):
    from core.models.controlnet import load_controlnet
    from core.models.tiny import write_tiny_sd3_controlnet
    from nodes.controlnet import ControlNetApplyAdvanced

    handle = load_controlnet(write_tiny_sd3_controlnet(tmp_path / "sd3.5_large_controlnet_depth.safetensors", "depth"))
    cond = [[torch.zeros(1, 2, 4096), {}]]
    with pytest.raises(ValueError, match="ControlNetApplyAdvanced, input 'vae'"):
        ControlNetApplyAdvanced().execute(cond, cond, handle, torch.zeros(1, 16, 16, 3), 1.0, 0.0, 1.0)


def test_diffusers_format_sd3_controlnets_are_refused_with_the_reason(tmp_path):
    from core.models.sd3_controlnet import config_from_state_dict

    sd = {"pos_embed_input.proj.weight": torch.zeros(8, 16, 2, 2), "controlnet_blocks.0.weight": torch.zeros(8, 8),
          "transformer_blocks.0.attn.to_q.weight": torch.zeros(8, 8)}
    with pytest.raises(ValueError, match="diffusers-format SD3 ControlNets .* not supported"):
        config_from_state_dict(sd, "SD3 ControlNet x.safetensors")


def _sample(model, positive, negative, steps=3):
    from core.sampling.sample import common_ksampler

    latent = {"samples": torch.zeros(1, 16, 8, 8)}
    return common_ksampler(model, 7, steps, 3.0, "euler", "simple", positive, negative, latent)["samples"]


def test_ksampler_with_apply_controlnet_runs_and_follows_strength_and_range(cpu_fp32, tmp_path):
    from core.models.checkpoint import load_unet
    from core.models.controlnet import load_controlnet
    from core.models.tiny import write_tiny_sd3, write_tiny_sd3_controlnet
    from nodes.controlnet import ControlNetApplyAdvanced

    model = load_unet(write_tiny_sd3(tmp_path / "sd35.safetensors", unet_only=True))
    handle = load_controlnet(write_tiny_sd3_controlnet(tmp_path / "sd3.5_large_controlnet_blur.safetensors", "blur"))
    g = torch.Generator().manual_seed(0)
    pos = [[torch.randn(1, 4, 4096, generator=g), {"pooled_output": torch.randn(1, 2048, generator=g)}]]
    neg = [[torch.zeros(1, 4, 4096), {"pooled_output": torch.zeros(1, 2048)}]]
    image = torch.rand(1, 64, 64, 3, generator=g)
    vae = _StandInVae()
    plain = _sample(model, pos, neg)
    on = _sample(model, *ControlNetApplyAdvanced().execute(pos, neg, handle, image, 0.8, 0.0, 1.0, vae))
    off = _sample(model, *ControlNetApplyAdvanced().execute(pos, neg, handle, image, 0.0, 0.0, 1.0, vae))
    # a range no step's sigma falls in: the ControlNet never runs
    late = _sample(model, *ControlNetApplyAdvanced().execute(pos, neg, handle, image, 0.8, 0.999, 1.0, vae))
    assert torch.isfinite(on).all() and (on - plain).abs().max() > 1e-3
    assert torch.equal(off, plain) and torch.equal(late, plain)
    assert len(vae.seen) == 1  # the hint is encoded once per job, not per step
