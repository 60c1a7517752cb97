"""LoRA files onto our LDM-layout models: module-name maps, patches per checkpoint key, exact merging.

A LoRA names the modules it changes in one of several dialects; :func:`key_map` lists, for every
weight of a model, each name it can appear under, and :func:`lora_patches` turns a file into the
``{checkpoint key: [patch]}`` dict that ModelHandle/ClipHandle ``.patches`` hold (core.models.patcher).
Names in the wild, all accepted:

- U-Net: kohya ``lora_unet_<diffusers path, . → _>`` and ``lora_unet_<LDM path, . → _>``; PEFT and
  diffusers ``unet.<diffusers path>``; old attention processors ``<diffusers path>`` with no prefix;
  ``diffusion_model.<LDM path>`` / full checkpoint keys.
- text encoders: ``lora_te_`` (SD1/SD2), ``lora_te1_``/``lora_te2_`` (SDXL), PEFT ``text_encoder.`` /
  ``text_encoder_2.``, each followed by the transformers CLIP path. OpenCLIP towers (SD2, SDXL's bigG)
  fuse q/k/v in ``in_proj_weight``; their q/k/v LoRAs become row-slice patches of it. FLUX.1 / SD3.5
  text encoders (``text_encoders.*``): core/models/lora_dit_text.py.

Merging the patches into the weights (in place, exact restore) is core.models.patcher.MergedPatches.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import re

import torch

from core.models.lora_dit_text import dit_text_names
from core.models.lora_formats import FullPatch, LoraPatch, SlicePatch, parse_adapters

log = logging.getLogger(__name__)

UNET_PREFIXES = ("model.diffusion_model.",)
CLIP_PREFIXES = (  # (checkpoint prefix, tower index among the model's text encoders)
    ("cond_stage_model.transformer.", 0),  # SD1 CLIP-L (HF layout, then text_model.)
    ("cond_stage_model.model.", 0),  # SD2 OpenCLIP-H
    ("conditioner.embedders.0.transformer.", 0),  # SDXL CLIP-L
    ("conditioner.embedders.1.model.", 1),  # SDXL OpenCLIP-bigG
)

_RES = {"in_layers.0": "norm1", "in_layers.2": "conv1", "emb_layers.1": "time_emb_proj",
        "out_layers.0": "norm2", "out_layers.3": "conv2", "skip_connection": "conv_shortcut"}
_TOP = {"time_embed.0": "time_embedding.linear_1", "time_embed.2": "time_embedding.linear_2",
        "label_emb.0.0": "add_embedding.linear_1", "label_emb.0.2": "add_embedding.linear_2",
        "input_blocks.0.0": "conv_in", "out.0": "conv_norm_out", "out.2": "conv_out"}


# --- U-Net: LDM names -> diffusers names ------------------------------------------------------------

def _unet_blocks(paths: list) -> tuple[dict, dict]:
    """Input/output block index -> (diffusers block, position), derived from which blocks resample."""
    def indices(prefix):
        return sorted({int(p.split(".")[1]) for p in paths if p.startswith(prefix)})

    down = {n for n in indices("input_blocks.") if any(p.startswith(f"input_blocks.{n}.0.op") for p in paths)}
    up = {n for n in indices("output_blocks.")
          if any(re.match(rf"output_blocks\.{n}\.\d+\.conv(\.|$)", p) for p in paths)}
    inputs, level, i = {}, 0, 0
    for n in indices("input_blocks."):
        if n == 0:
            continue
        inputs[n] = (f"down_blocks.{level}", "down" if n in down else i)
        if n in down:
            level, i = level + 1, 0
        else:
            i += 1
    outputs, level, i = {}, 0, 0
    for n in indices("output_blocks."):
        outputs[n] = (f"up_blocks.{level}", i)
        if n in up:
            level, i = level + 1, 0
        else:
            i += 1
    return inputs, outputs


def _resnet_leaf(rest: str) -> str:
    for ldm, diff in _RES.items():
        if rest == ldm or rest.startswith(ldm + "."):
            return diff + rest[len(ldm):]
    return rest


def unet_diffusers_names(module_paths) -> dict:
    """LDM module path (``input_blocks.1.1.proj_in``) -> diffusers path (``down_blocks.0.attentions.0.proj_in``)."""
    paths = list(module_paths)
    inputs, outputs = _unet_blocks(paths)
    out = {}
    for path in paths:
        parts = path.split(".")
        head = ".".join(parts[:2]) if parts[0] != "label_emb" else ".".join(parts[:3])
        if head in _TOP:
            out[path] = _TOP[head] + path[len(head):]
            continue
        if parts[0] == "input_blocks" and int(parts[1]) in inputs:
            block, pos = inputs[int(parts[1])]
            layer, rest = parts[2], ".".join(parts[3:])
            if pos == "down":
                out[path] = f"{block}.downsamplers.0.conv" + rest[len("op"):]
            elif layer == "0":
                out[path] = f"{block}.resnets.{pos}.{_resnet_leaf(rest)}"
            else:
                out[path] = f"{block}.attentions.{pos}.{rest}"
        elif parts[0] == "middle_block":
            layer, rest = int(parts[1]), ".".join(parts[2:])
            out[path] = (f"mid_block.attentions.0.{rest}" if layer == 1 and not rest.startswith(tuple(_RES))
                         else f"mid_block.resnets.{layer // 2}.{_resnet_leaf(rest)}")
        elif parts[0] == "output_blocks" and int(parts[1]) in outputs:
            block, pos = outputs[int(parts[1])]
            layer, rest = parts[2], ".".join(parts[3:])
            if layer == "0":
                out[path] = f"{block}.resnets.{pos}.{_resnet_leaf(rest)}"
            elif rest.startswith("conv"):
                out[path] = f"{block}.upsamplers.0.{rest}"
            else:
                out[path] = f"{block}.attentions.{pos}.{rest}"
    return out


# --- names a LoRA may use for each weight -----------------------------------------------------------

def _flat(path: str) -> str:
    return path.replace(".", "_")


def key_map(checkpoint_keys) -> dict:
    """``{LoRA module name: (checkpoint weight key, row slice or None)}`` for a model's weights.

    ``checkpoint_keys`` are full checkpoint keys (U-Net and/or text encoders); only ``.weight`` and
    OpenCLIP ``in_proj_weight`` entries are targets.
    """
    keys = list(checkpoint_keys)
    out: dict = {}
    unet = {k[len(p):-len(".weight")]: k for k in keys for p in UNET_PREFIXES
            if k.startswith(p) and k.endswith(".weight")}
    diffusers = unet_diffusers_names(unet)
    for ldm, key in unet.items():
        target = (key, None)
        out["lora_unet_" + _flat(ldm)] = target
        out["diffusion_model." + ldm] = target
        out[key[: -len(".weight")]] = target
        if ldm in diffusers:
            name = diffusers[ldm]
            out["lora_unet_" + _flat(name)] = target
            out["unet." + name] = target
            out.setdefault(name, target)
    towers = sorted({i for k in keys for p, i in CLIP_PREFIXES if k.startswith(p)})
    for k in keys:
        for prefix, tower in CLIP_PREFIXES:
            if k.startswith(prefix):
                for hf_path, target in _clip_targets(k, k[len(prefix):]):
                    for name in _clip_names(hf_path, tower, len(towers)):
                        out[name] = target
    out.update(dit_text_names(keys))  # FLUX / SD3.5 text encoders (text_encoders.*)
    return out


_OC_BLOCK = {"attn.out_proj.weight": "self_attn.out_proj", "mlp.c_fc.weight": "mlp.fc1",
             "mlp.c_proj.weight": "mlp.fc2"}


def _clip_targets(key: str, rest: str):
    """(transformers path of a CLIP module, (checkpoint key, row slice)) for one text-encoder weight."""
    if rest.startswith("text_model.") and rest.endswith(".weight"):
        yield rest[: -len(".weight")], (key, None)
    elif m := re.fullmatch(r"transformer\.resblocks\.(\d+)\.(.+)", rest):  # OpenCLIP
        n, sub = m.groups()
        base = f"text_model.encoder.layers.{n}."
        if sub == "attn.in_proj_weight":
            for i, proj in enumerate(("q_proj", "k_proj", "v_proj")):
                yield base + "self_attn." + proj, (key, i)
        elif sub in _OC_BLOCK:
            yield base + _OC_BLOCK[sub], (key, None)


def _clip_names(hf_path: str, tower: int, n_towers: int):
    if tower == 0:
        yield "lora_te_" + _flat(hf_path)
        yield "text_encoder." + hf_path
    yield f"lora_te{tower + 1}_" + _flat(hf_path)
    yield ("text_encoder." if tower == 0 else f"text_encoder_{tower + 1}.") + hf_path


# --- file -> patches --------------------------------------------------------------------------------

def lora_patches(lora_sd: dict, kmap: dict, strength: float, weight_shapes: dict | None = None) -> tuple[dict, list]:
    """``({checkpoint key: [patch]}, [file keys that match nothing])`` for one LoRA at ``strength``.

    ``kmap`` comes from :func:`key_map`; ``weight_shapes`` (``{key: shape}``) sizes q/k/v slices of
    fused OpenCLIP weights. Strength 0 gives no patches (the model passes through unchanged).
    """
    adapters, unknown = parse_adapters(lora_sd)
    patches: dict = {}
    unmatched = list(unknown)
    for name, adapter in adapters.items():
        target = kmap.get(name)
        if target is None:
            unmatched.append(name)
            continue
        if strength == 0:
            continue
        key, part = target
        for patch, k in ((adapter.weight, key), (adapter.bias, key[: -len("weight")] + "bias")):
            if patch is None:
                continue
            patch = dataclasses.replace(patch, strength=strength * patch.strength)
            if part is not None:
                rows = (weight_shapes or {}).get(key, (None,))[0]
                if rows is None:
                    raise ValueError(f"LoRA module {name!r} patches a third of {key!r}, whose shape is unknown")
                patch = SlicePatch(patch, part * rows // 3, rows // 3)
            patches.setdefault(k, []).append(patch)
    return patches, sorted(unmatched)


def add_patches(base: dict, new: dict) -> dict:
    """Stack patch dicts (a new dict; the lists of ``base`` are not changed)."""
    out = {k: list(v) for k, v in base.items()}
    for k, v in new.items():
        out.setdefault(k, []).extend(v)
    return out


def _clip_slice_rows(clip) -> dict:
    """Rows of each fused OpenCLIP ``in_proj_weight`` (3 × width), from the encoders' configs, no weights read."""
    shapes = {}
    for enc in getattr(clip, "encoders", ()):
        for key in enc.checkpoint_keys():
            if key.endswith("attn.in_proj_weight"):
                shapes[key] = (3 * enc.width, enc.width)
    return shapes


_KEY_MAPS: dict = {}  # frozenset of model keys -> key_map (read only); a LoRA stack maps once per model


def _key_map_for(keys: frozenset) -> dict:
    kmap = _KEY_MAPS.get(keys)
    if kmap is None:
        if len(_KEY_MAPS) >= 4:
            _KEY_MAPS.pop(next(iter(_KEY_MAPS)))
        kmap = _KEY_MAPS[keys] = key_map(sorted(keys))
    return kmap


def _with_strength(patch, strength: float):
    """The patch with ``strength`` folded in (keeps it factored for the merge), else wrapped as before."""
    if strength == 1.0:
        return patch
    if isinstance(patch, SlicePatch):
        return dataclasses.replace(patch, inner=_with_strength(patch.inner, strength))
    if dataclasses.is_dataclass(patch) and hasattr(patch, "strength"):
        return dataclasses.replace(patch, strength=strength * patch.strength)
    from core.models.patcher import ScaledPatch

    return ScaledPatch(strength, patch)


def patch_fits(patch, shape) -> bool:
    """Does ``patch`` produce a ΔW of ``shape``? Checked on the meta device: the same code that merges
    or applies the patch runs on shapes alone, so a LoRA trained for another model is caught here and
    not as a matmul error deep inside sampling."""
    weight = torch.empty(tuple(shape), device="meta")
    try:
        if tuple(patch.delta(weight).shape) != tuple(shape):
            return False
        factors = getattr(patch, "low_rank", None)
        pair = factors(weight) if factors is not None else None
        if pair is not None:
            up, down = pair
            cols = math.prod(shape[1:])
            return up.shape[0] == shape[0] and up.shape[1] == down.shape[0] and down.shape[1] == cols
    except (RuntimeError, ValueError, IndexError):
        return False
    return True


def _weight_shapes(model, clip) -> dict:
    """Checkpoint key -> shape of every weight of the handles (no weights copied)."""
    from core.models.handles import UNET_PREFIX

    shapes = {}
    if model is not None:
        shapes.update((UNET_PREFIX + k, tuple(p.shape)) for k, p in model.unet.named_parameters())
    for enc in getattr(clip, "encoders", ()) if clip is not None else ():
        shapes.update(enc.checkpoint_shapes())
    return shapes


def _describe_shape(patch) -> str:
    inner = getattr(patch, "inner", patch)
    if isinstance(inner, LoraPatch):
        return f"up {tuple(inner.up.shape)} x down {tuple(inner.down.shape)}"
    if isinstance(inner, FullPatch):
        return f"diff {tuple(inner.diff.shape)}"
    return type(inner).__name__


def load_lora_for_models(model, clip, lora_sd: dict, strength_model: float, strength_clip: float,
                         name: str = "LoRA") -> tuple:
    """``(model', clip', [unmatched names])``: clones of the handles with the LoRA's patches added.

    Either handle may be None. A file key that names no weight of the given handles is returned (and
    logged) by name, never dropped silently.
    """
    model_keys = set(model.weight_keys()) if model is not None else set()
    clip_keys = set(clip.checkpoint_keys()) if clip is not None else set()
    kmap = _key_map_for(frozenset(model_keys | clip_keys))
    patches, unmatched = lora_patches(lora_sd, kmap, 1.0, _clip_slice_rows(clip) if clip is not None else None)
    new_model = model.clone() if model is not None else None
    new_clip = clip.clone() if clip is not None else None
    rounds: dict = {}  # handle -> [{key: patch}, ...]: one add_patches call per round, not per key
    shapes = _weight_shapes(model, clip)
    mismatched = []
    for key in list(patches):
        shape = shapes.get(key)
        if shape is not None and not all(patch_fits(p, shape) for p in patches[key]):
            mismatched.append(f"{key} (LoRA {_describe_shape(patches[key][0])}, model weight {shape})")
            del patches[key]
    if mismatched:
        log.warning("%s: %d weights do not fit this model's shapes and were skipped (a LoRA made for another "
                    "model?): %s", name, len(mismatched), "; ".join(mismatched[:10]) + (" ..." if len(mismatched) > 10 else ""))
    for key, plist in patches.items():
        if key in model_keys:
            handle, strength = new_model, strength_model
        elif key in clip_keys:
            handle, strength = new_clip, strength_clip
        else:  # a bias of a weight the map knows, absent in this model
            unmatched.append(key)
            continue
        if strength == 0:
            continue
        per_handle = rounds.setdefault(id(handle), (handle, []))[1]
        for i, patch in enumerate(plist):
            if i == len(per_handle):
                per_handle.append({})
            per_handle[i][key] = _with_strength(patch, strength)
    for handle, per_handle in rounds.values():
        for batch in per_handle:
            handle.add_patches(batch)
    if unmatched:
        log.warning("%s: %d keys match no weight of this model and were not applied: %s", name, len(unmatched),
                    ", ".join(unmatched[:20]) + (" ..." if len(unmatched) > 20 else ""))
    return new_model, new_clip, unmatched
