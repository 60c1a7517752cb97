"""LoRA module names of FLUX.1 transformers, mapped onto the weights of BFL's layout (core/models/flux.py).

Three naming families are in circulation:
- BFL / ComfyUI: ``diffusion_model.double_blocks.0.img_attn.qkv`` and kohya-ss sd-scripts
  ``lora_unet_double_blocks_0_img_attn_qkv`` (generic in core.models.lora.key_map: the module's own path);
  ``<path>.linear1_qkv`` names the q/k/v rows of a single block's fused ``linear1``.
- diffusers / ai-toolkit / SimpleTuner / OneTrainer: diffusers' FluxTransformer2DModel names, prefixed
  ``transformer.``, ``lycoris_`` (dots as underscores) or ``lora_transformer_`` (likewise), or bare.
  diffusers keeps q, k and v (and, in single blocks, the MLP input) as separate Linears that BFL fuses, so
  each of these LoRAs patches a row range of the fused weight: a target ``(key, (start, length))`` in units
  of the weight's input width (= the hidden size; ``length`` None = the rest). The final adaLN's output
  halves are (shift, scale) in BFL's file and (scale, shift) in diffusers': target ``(key, SWAP_HALVES)``.
"""
from __future__ import annotations

SWAP_HALVES = "swap_halves"

_EMBEDDERS = {"time_in": "time_text_embed.timestep_embedder", "vector_in": "time_text_embed.text_embedder",
              "guidance_in": "time_text_embed.guidance_embedder"}

_DOUBLE = {  # diffusers name in transformer_blocks.N -> (BFL name in double_blocks.N, row part)
    "norm1.linear": ("img_mod.lin", None), "norm1_context.linear": ("txt_mod.lin", None),
    "attn.to_q": ("img_attn.qkv", (0, 1)), "attn.to_k": ("img_attn.qkv", (1, 1)),
    "attn.to_v": ("img_attn.qkv", (2, 1)),
    "attn.add_q_proj": ("txt_attn.qkv", (0, 1)), "attn.add_k_proj": ("txt_attn.qkv", (1, 1)),
    "attn.add_v_proj": ("txt_attn.qkv", (2, 1)),
    "attn.to_out.0": ("img_attn.proj", None), "attn.to_add_out": ("txt_attn.proj", None),
    "ff.net.0.proj": ("img_mlp.0", None), "ff.net.2": ("img_mlp.2", None),
    "ff_context.net.0.proj": ("txt_mlp.0", None), "ff_context.net.2": ("txt_mlp.2", None),
}
_SINGLE = {  # diffusers name in single_transformer_blocks.N -> (BFL name in single_blocks.N, row part)
    "norm.linear": ("modulation.lin", None),
    "attn.to_q": ("linear1", (0, 1)), "attn.to_k": ("linear1", (1, 1)), "attn.to_v": ("linear1", (2, 1)),
    "proj_mlp": ("linear1", (3, None)), "proj_out": ("linear2", None),
}
_TOP = {"x_embedder": ("img_in", None), "context_embedder": ("txt_in", None),
        "proj_out": ("final_layer.linear", None), "norm_out.linear": ("final_layer.adaLN_modulation.1", SWAP_HALVES)}


def is_flux(paths) -> bool:
    return any(p.startswith("double_blocks.") for p in paths) and "img_in" in paths


def diffusers_targets(paths) -> dict:
    """``{diffusers module path: (BFL module path, part)}`` for the BFL module paths ``paths`` of one model."""
    paths = set(paths)
    out = {}
    for bfl, dif in _EMBEDDERS.items():
        for a, b in (("in_layer", "linear_1"), ("out_layer", "linear_2")):
            if f"{bfl}.{a}" in paths:
                out[f"{dif}.{b}"] = (f"{bfl}.{a}", None)
    out.update({d: t for d, t in _TOP.items() if t[0] in paths})
    for path in paths:
        parts = path.split(".")
        if len(parts) < 3 or parts[0] not in ("double_blocks", "single_blocks"):
            continue
        n, rest = parts[1], ".".join(parts[2:])
        table, src = (_DOUBLE, "transformer_blocks") if parts[0] == "double_blocks" else (_SINGLE, "single_transformer_blocks")
        for dif, (bfl, part) in table.items():
            if bfl == rest:
                out[f"{src}.{n}.{dif}"] = (path, part)
    return out


def flux_names(paths, key_of) -> dict:
    """Every LoRA module name of the FLUX dialects above -> ``(checkpoint key, part)``; ``key_of(path)``
    gives the checkpoint weight key of a BFL module path."""
    out = {}
    for dif, (path, part) in diffusers_targets(paths).items():
        target = (key_of(path), part)
        flat = dif.replace(".", "_")
        for name in ("transformer." + dif, dif, "lycoris_" + flat, "lora_transformer_" + flat):
            out[name] = target
    for path in paths:
        if path.startswith("single_blocks.") and path.endswith(".linear1"):
            out[path + "_qkv"] = (key_of(path), (0, 3))  # ComfyUI's name for the q/k/v rows only
    return out
