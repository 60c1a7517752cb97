"""BFL FLUX key layout -> diffusers' FluxTransformer2DModel, written here from the two module trees so the
equivalence test loads diffusers' model from OUR state dict (diffusers' own single-file converter
hard-codes the full-size hidden width, so it cannot convert a tiny model)."""
from __future__ import annotations

import torch

_EMBEDDERS = {"time_in": "time_text_embed.timestep_embedder", "vector_in": "time_text_embed.text_embedder",
              "guidance_in": "time_text_embed.guidance_embedder"}


def _linear(out: dict, sd: dict, src: str, dst: str) -> None:
    out[f"{dst}.weight"] = sd[f"{src}.weight"]
    if f"{src}.bias" in sd:
        out[f"{dst}.bias"] = sd[f"{src}.bias"]


def _split(out: dict, sd: dict, src: str, dsts: list, sizes: list) -> None:
    for suffix in ("weight", "bias"):
        for dst, part in zip(dsts, torch.split(sd[f"{src}.{suffix}"], sizes, dim=0)):
            out[f"{dst}.{suffix}"] = part.clone()


def bfl_to_diffusers(sd: dict, depth: int, depth_single: int, hidden: int) -> dict:
    out: dict = {}
    for bfl, dif in _EMBEDDERS.items():
        if f"{bfl}.in_layer.weight" in sd:
            _linear(out, sd, f"{bfl}.in_layer", f"{dif}.linear_1")
            _linear(out, sd, f"{bfl}.out_layer", f"{dif}.linear_2")
    _linear(out, sd, "txt_in", "context_embedder")
    _linear(out, sd, "img_in", "x_embedder")
    for i in range(depth):
        s, d = f"double_blocks.{i}", f"transformer_blocks.{i}"
        _linear(out, sd, f"{s}.img_mod.lin", f"{d}.norm1.linear")
        _linear(out, sd, f"{s}.txt_mod.lin", f"{d}.norm1_context.linear")
        _split(out, sd, f"{s}.img_attn.qkv", [f"{d}.attn.to_q", f"{d}.attn.to_k", f"{d}.attn.to_v"], [hidden] * 3)
        _split(out, sd, f"{s}.txt_attn.qkv", [f"{d}.attn.add_q_proj", f"{d}.attn.add_k_proj",
                                              f"{d}.attn.add_v_proj"], [hidden] * 3)
        out[f"{d}.attn.norm_q.weight"] = sd[f"{s}.img_attn.norm.query_norm.scale"]
        out[f"{d}.attn.norm_k.weight"] = sd[f"{s}.img_attn.norm.key_norm.scale"]
        out[f"{d}.attn.norm_added_q.weight"] = sd[f"{s}.txt_attn.norm.query_norm.scale"]
        out[f"{d}.attn.norm_added_k.weight"] = sd[f"{s}.txt_attn.norm.key_norm.scale"]
        _linear(out, sd, f"{s}.img_mlp.0", f"{d}.ff.net.0.proj")
        _linear(out, sd, f"{s}.img_mlp.2", f"{d}.ff.net.2")
        _linear(out, sd, f"{s}.txt_mlp.0", f"{d}.ff_context.net.0.proj")
        _linear(out, sd, f"{s}.txt_mlp.2", f"{d}.ff_context.net.2")
        _linear(out, sd, f"{s}.img_attn.proj", f"{d}.attn.to_out.0")
        _linear(out, sd, f"{s}.txt_attn.proj", f"{d}.attn.to_add_out")
    for i in range(depth_single):
        s, d = f"single_blocks.{i}", f"single_transformer_blocks.{i}"
        mlp = sd[f"{s}.linear1.weight"].shape[0] - 3 * hidden
        _linear(out, sd, f"{s}.modulation.lin", f"{d}.norm.linear")
        _split(out, sd, f"{s}.linear1", [f"{d}.attn.to_q", f"{d}.attn.to_k", f"{d}.attn.to_v", f"{d}.proj_mlp"],
               [hidden, hidden, hidden, mlp])
        out[f"{d}.attn.norm_q.weight"] = sd[f"{s}.norm.query_norm.scale"]
        out[f"{d}.attn.norm_k.weight"] = sd[f"{s}.norm.key_norm.scale"]
        _linear(out, sd, f"{s}.linear2", f"{d}.proj_out")
    _linear(out, sd, "final_layer.linear", "proj_out")
    # BFL's final adaLN emits (shift, scale); diffusers' AdaLayerNormContinuous (scale, shift)
    for suffix in ("weight", "bias"):
        shift, scale = sd[f"final_layer.adaLN_modulation.1.{suffix}"].chunk(2, dim=0)
        out[f"norm_out.linear.{suffix}"] = torch.cat([scale, shift], dim=0)
    return out
