"""The CLIP value: tokenize and encode prompts with the text encoder(s) of one model family.

``ClipHandle`` is what CLIP sockets carry (docs/contracts.md). Its method names are the ones ComfyUI
plugins call: ``tokenize``, ``encode_from_tokens``, ``clone``, ``clip_layer``, ``add_patches``.

Per family (docs/comfy-api.md §7 and the checkpoint manifests):

| family | encoders (token key: checkpoint prefix) | pad | default layer | final norm | cond width | pooled |
|---|---|---|---|---|---|---|
| sd1 | l: cond_stage_model.transformer. | 49407 | last | yes | 768 | l (unprojected) |
| sd2 | h: cond_stage_model.model. | 0 | penultimate | yes | 1024 | h projected |
| sdxl | l: conditioner.embedders.0.transformer., g: conditioner.embedders.1.model. | 49407 / 0 | penultimate | no | 768+1280 | g projected |
| sdxl_refiner | g: conditioner.embedders.0.model. | 0 | penultimate | no | 1280 | g projected |
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

import torch

from core.models import prompt as prompt_syntax
from core.models.comfy_methods import ClipMethods
from core.models.clip import ClipTextEncoder, config_from_state_dict, load_encoder, to_checkpoint, to_module_keys
from core.models.tokenizer import END_OF_TEXT, START_OF_TEXT, get_tokenizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderRole:
    name: str  # token-dict key, as ComfyUI names it: "l", "h", "g"
    pad_token: int
    layer: int  # default output layer (negative index)
    final_norm: bool
    activation: str  # used when the weights come in transformers' layout (OpenCLIP layout implies gelu)
    embedding_key: str  # key in per-encoder embedding files
    projected_pooled: bool = True  # FLUX and SD3 take CLIP-L's pooled vector before text_projection

    @property
    def empty_chunk(self) -> list:
        return prompt_syntax.empty_chunk(start=START_OF_TEXT, end=END_OF_TEXT, pad=self.pad_token)


SD1_L = EncoderRole("l", END_OF_TEXT, -1, True, "quick_gelu", "clip_l")
SD2_H = EncoderRole("h", 0, -2, True, "gelu", "clip_h")
SDXL_L = EncoderRole("l", END_OF_TEXT, -2, False, "quick_gelu", "clip_l")
SDXL_G = EncoderRole("g", 0, -2, False, "gelu", "clip_g")

# family -> [(role, checkpoint prefix)]; the last encoder gives the pooled output
FAMILIES = {
    "sd1": [(SD1_L, "cond_stage_model.transformer.")],
    "sd2": [(SD2_H, "cond_stage_model.model.")],
    "sdxl": [(SDXL_L, "conditioner.embedders.0.transformer."), (SDXL_G, "conditioner.embedders.1.model.")],
    "sdxl_refiner": [(SDXL_G, "conditioner.embedders.0.model.")],
}


def default_device() -> torch.device:
    """Where text-encoder weights are kept between encodes (they move to the compute device to run)."""
    from core import devices

    return devices.offload_device()


def default_dtype() -> torch.dtype:
    from core import devices

    return devices.text_encoder_dtype(devices.get_torch_device())


class Encoder:
    """One loaded text tower with its role and the checkpoint prefix its weights are named under."""

    def __init__(self, role: EncoderRole, model: ClipTextEncoder, prefix: str):
        self.role = role
        self.model = model
        self.prefix = prefix
        self._lookups: dict = {}

    @property
    def width(self) -> int:
        return self.model.config.hidden_size

    def embedding_lookup(self, dirs):
        from core.models.embeddings import EmbeddingLookup

        key = tuple(str(d) for d in dirs)
        if key not in self._lookups:
            self._lookups[key] = EmbeddingLookup(dirs, width=self.width, key=self.role.embedding_key)
        return self._lookups[key]

    def checkpoint_keys(self) -> list:
        # Mapped on meta copies: OpenCLIP's fused in_proj would otherwise be concatenated for real.
        shapes = {k: torch.empty(v.shape, device="meta") for k, v in self.model.state_dict().items()}
        return [self.prefix + k for k in to_checkpoint(shapes, self.model.config.layout)]

    def checkpoint_shapes(self) -> dict:
        """Checkpoint key (with prefix) -> shape of every weight, read on meta copies."""
        shapes = {k: torch.empty(v.shape, device="meta") for k, v in self.model.state_dict().items()}
        return {self.prefix + k: tuple(v.shape) for k, v in to_checkpoint(shapes, self.model.config.layout).items()}

    def get_weight(self, key: str) -> torch.Tensor:
        """A weight by its checkpoint name without prefix (a fused OpenCLIP in_proj is rebuilt as a copy)."""
        layout = self.model.config.layout
        names = to_module_keys({key: torch.empty(3, device="meta")}, layout)  # which module tensors hold it
        params = self.model.state_dict()
        return to_checkpoint({name: params[name] for name in names}, layout)[key]

    def weight_pieces(self, key: str) -> list:
        """Module tensors (views) whose dim-0 concatenation is checkpoint weight ``key`` (prefix removed).

        OpenCLIP's fused ``in_proj_weight`` is the q, k, v projections stacked; ``text_projection`` is
        stored transposed (a transposed view is returned). Patches merge into these in place.
        """
        layout = self.model.config.layout
        probe = to_module_keys({key: torch.empty(6, 5, device="meta")}, layout)
        params = dict(self.model.named_parameters())
        pieces = []
        for name, shape_probe in probe.items():
            t = params[name]
            pieces.append(t.t() if shape_probe.shape == (5, 6) and t.ndim == 2 else t)
        return pieces


class ClipHandle(ClipMethods):
    """A CLIP value: one or two text encoders, the clip-skip choice, embedding folders and weight patches."""

    def __init__(self, encoders: list[Encoder], family: str, embedding_dirs=None):
        self.encoders = encoders  # shared by clones; never mutated except by patching inside encode
        self.family = family
        self.embedding_dirs = embedding_dirs  # None: the configured "embeddings" folders
        self.layer_idx: int | None = None
        self.patches: dict = {}  # checkpoint key -> [patch] (core.models.patcher contract)
        self.device = None  # None: the compute device (CLIPLoader's device="cpu" sets cpu)

    @property
    def tokenizer(self):
        return get_tokenizer()  # loaded on first use: encode_from_tokens never needs it

    # --- ComfyUI's CLIP interface -------------------------------------------------------------
    def clone(self) -> "ClipHandle":
        other = copy.copy(self)
        other.patches = {k: list(v) for k, v in self.patches.items()}
        return other

    def clip_layer(self, layer_idx: int) -> None:
        self.layer_idx = int(layer_idx)

    def tokenize(self, text: str, return_word_ids: bool = False) -> dict:
        """``{"l"|"h"|"g": [chunk, ...]}`` with chunks of 77 ``(token, weight)`` pairs.

        ``return_word_ids`` (ComfyUI's flag, used by prompt-weighting plugins): ``(token, weight, word id)``
        triples, word ids counting words from 1 and 0 for start, end and padding tokens."""
        dirs = self._embedding_dirs()
        tokens = {}
        for enc in self.encoders:
            find = enc.embedding_lookup(dirs) if dirs else None
            tokens[enc.role.name] = clip_chunks(text, enc.role, self.tokenizer.encode, find, return_word_ids)
        return tokens

    def encode_from_tokens(self, tokens: dict, return_pooled=False, return_dict: bool = False):
        tokens = self._equal_chunk_counts(tokens)
        from core import devices

        conds, pooled = [], None
        with devices.manager.activate(self, self.device):
            for enc in self.encoders:
                chunks = tokens.get(enc.role.name)
                if chunks is None:
                    raise ValueError(f"CLIP ({self.family}): tokens have no {enc.role.name!r} entry "
                                     f"(got {sorted(tokens)}); tokenize with this CLIP")
                cond, pooled = self._encode_one(enc, chunks)
                conds.append(cond)
        cond = torch.cat(conds, dim=-1)
        if return_dict:
            return {"cond": cond, "pooled_output": pooled}
        return (cond, pooled) if return_pooled else cond

    def encode_from_tokens_scheduled(self, tokens: dict, add_dict: dict | None = None) -> list:
        cond, pooled = self.encode_from_tokens(tokens, return_pooled=True)
        return [[cond, {"pooled_output": pooled, **(add_dict or {})}]]

    def encode(self, text: str) -> list:
        """CONDITIONING ``[[cond [1, 77n, D], {"pooled_output": [1, P]}]]`` for ``text``."""
        return self.encode_from_tokens_scheduled(self.tokenize(text))

    def add_patches(self, patches: dict, strength_patch: float = 1.0, strength_model: float = 1.0) -> list:
        """Add ``{checkpoint key: patch}`` (contract of core.models.patcher); returns the keys this CLIP has."""
        from core.models.patcher import add_patches

        return add_patches(self.patches, set(self.checkpoint_keys()), patches, strength_patch, strength_model)

    def checkpoint_keys(self) -> list:
        return [k for enc in self.encoders for k in enc.checkpoint_keys()]

    def state_dict(self) -> dict:
        """Weights in checkpoint naming (what ``CheckpointSave`` writes)."""
        out = {}
        for enc in self.encoders:
            for k, v in to_checkpoint(enc.model.state_dict(), enc.model.config.layout).items():
                out[enc.prefix + k] = v
        return out

    # --- internals ------------------------------------------------------------------------------
    def _embedding_dirs(self) -> list:
        if self.embedding_dirs is not None:
            return list(self.embedding_dirs)
        from core import paths

        try:
            return paths.get().folder_paths("embeddings")
        except KeyError:
            return []

    def _equal_chunk_counts(self, tokens: dict) -> dict:
        """SDXL encodes l and g side by side; the shorter chunk list is padded with empty chunks."""
        if len(self.encoders) < 2:
            return tokens
        n = max(len(tokens.get(enc.role.name, ())) for enc in self.encoders)
        out = dict(tokens)
        for enc in self.encoders:
            chunks = list(tokens.get(enc.role.name, ()))
            out[enc.role.name] = chunks + [enc.role.empty_chunk] * (n - len(chunks))
        return out

    @torch.no_grad()
    def _encode_one(self, enc: Encoder, chunks: list):
        """``[1, 77n, C]`` hidden states (weighted) and the pooled vector of the first chunk."""
        model = enc.model
        chunks = list(chunks) or [enc.role.empty_chunk]
        sections = len(chunks)
        ids, weights, injected = unpack_chunks(chunks)
        has_weights = any(w != 1.0 for row in weights for w in row)
        if has_weights:
            # Reference §7: weighted tokens are interpolated against the empty prompt at the same position.
            empty = [t for t, _ in enc.role.empty_chunk]
            length = max(len(row) for row in ids)
            ids.append((empty + [enc.role.pad_token] * length)[:length])
        device = next(model.parameters()).device
        dtype = model.transformer.embeddings.token_embedding.weight.dtype
        id_tensor = torch.tensor(ids, dtype=torch.long, device=device)
        embeds = model.token_embeddings(id_tensor)
        for b, j, vector in injected:
            embeds[b, j] = vector.to(device=device, dtype=dtype)
        eot = (id_tensor == END_OF_TEXT).int().argmax(dim=1)
        layer = self.layer_idx if self.layer_idx is not None else enc.role.layer
        hidden, pooled = model(embeds, layer=layer, final_norm=enc.role.final_norm, pooled_index=eot,
                               project=enc.role.projected_pooled)
        hidden, pooled = hidden.float().cpu(), pooled.float().cpu()
        z = hidden[:sections]
        if has_weights:
            w = torch.tensor(weights, dtype=torch.float32)[..., None]  # [sections, T, 1]
            empty_z = hidden[-1:]
            z = torch.where(w != 1.0, empty_z + (z - empty_z) * w, z)
        return z.reshape(1, -1, z.shape[-1]), pooled[0:1]

    # --- device manager hooks (core.devices.manager.activate) -----------------------------------
    def modules(self) -> list:
        return [enc.model for enc in self.encoders]

    def on_activate(self) -> None:
        """Merge ``self.patches`` into the shared weights in place; :meth:`on_deactivate` restores them exactly."""
        from core.models.patcher import MergedPatches

        self._merged = None
        if self.patches:
            self._merged = MergedPatches(self.patches, lambda key: self._pieces(key))

    def on_deactivate(self) -> None:
        merged, self._merged = getattr(self, "_merged", None), None
        if merged is not None:
            merged.restore()

    def _pieces(self, key: str) -> list:
        """The module tensors whose row-concatenation is checkpoint weight ``key`` (views, no copies)."""
        enc, local = self._owner(key)
        return enc.weight_pieces(local)

    def _owner(self, key: str):
        for enc in self.encoders:
            if key.startswith(enc.prefix):
                return enc, key[len(enc.prefix):]
        raise KeyError(f"CLIP ({self.family}): patch key {key!r} belongs to no text encoder")


def clip_chunks(text: str, role: EncoderRole, encode_word, find=None, return_word_ids: bool = False) -> list:
    """``text`` as 77-token chunks of ``(token, weight)`` pairs for one CLIP tower (``(token, weight, word
    id)`` triples with ``return_word_ids``: words count from 1, start/end/padding are 0)."""
    words = prompt_syntax.tokenize_prompt(text, encode_word, find)
    if return_word_ids:
        words = [[(*item, i + 1) for item in word] for i, word in enumerate(words)]
    chunks = prompt_syntax.pack_chunks(words, start=START_OF_TEXT, end=END_OF_TEXT, pad=role.pad_token)
    if return_word_ids:
        chunks = [[item if len(item) == 3 else (*item, 0) for item in chunk] for chunk in chunks]
    return chunks


def unpack_chunks(chunks):
    """``(ids, weights, injected)`` rows of token chunks; an embedding vector in a chunk becomes id 0 plus
    ``(row, position, vector)`` in ``injected``, to replace that token embedding."""
    ids, weights, injected = [], [], []
    for b, chunk in enumerate(chunks):
        row_ids, row_w = [], []
        for j, item in enumerate(chunk):
            token, weight = item[0], float(item[1])
            if isinstance(token, torch.Tensor) and token.ndim >= 1:
                injected.append((b, j, token))
                row_ids.append(0)  # placeholder id; its embedding is replaced by the vector
            else:
                row_ids.append(int(token))
            row_w.append(weight)
        ids.append(row_ids)
        weights.append(row_w)
    return ids, weights, injected


# --- loading ------------------------------------------------------------------------------------
def clip_from_checkpoint(state_dict: dict, family: str, *, dtype=None, device=None,
                         embedding_dirs=None) -> ClipHandle:
    """The CLIP of a whole single-file checkpoint (``family`` "sd1" | "sd2" | "sdxl" | "sdxl_refiner", or a
    DiT family whose file bundles ``text_encoders.*``: "sd3", "flux", "flux_schnell")."""
    if family in BUNDLED_FAMILIES:
        build = _resolve(BUNDLED_FAMILIES[family])
        return build(state_dict, family, dtype=dtype, device=device, embedding_dirs=embedding_dirs)
    if family not in FAMILIES:
        known = ", ".join([*FAMILIES, *BUNDLED_FAMILIES])
        raise ValueError(f"text encoder: unknown model family {family!r} (known: {known})")
    device = torch.device(device) if device is not None else default_device()
    dtype = dtype or default_dtype()
    encoders = []
    for role, prefix in FAMILIES[family]:
        part = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if not part:
            raise ValueError(f"text encoder: the {family} checkpoint has no weights under {prefix!r}")
        model = _encoder_from_checkpoint(part, role, dtype, device, f"{family} text encoder {role.name} ({prefix})")
        encoders.append(Encoder(role, model, prefix))
    return ClipHandle(encoders, family, embedding_dirs)


def _encoder_from_checkpoint(part: dict, role: EncoderRole, dtype, device, where: str) -> ClipTextEncoder:
    """What ``clip.load_encoder`` does, the checkpoint loader's fast way: built on meta without running
    transformers' initialisers, tensors set straight into their modules (half the time)."""
    from core.models.building import fill_module, on_meta

    config = config_from_state_dict(part, activation=role.activation)
    model = fill_module(on_meta(lambda: ClipTextEncoder(config)), to_module_keys(part, config.layout), "",
                        dtype, device, where, whole=True)
    # transformers' non-persistent position_ids buffer is in no file
    model.transformer.embeddings.position_ids = torch.arange(config.max_positions, device=device)[None]
    return model


# Prefixes under which text-encoder weights appear in files extracted from checkpoints.
_EXTRACTED_PREFIXES = ("cond_stage_model.transformer.", "cond_stage_model.model.", "conditioner.embedders.0.transformer.",
                       "conditioner.embedders.1.model.", "conditioner.embedders.0.model.")


def _standalone(sd: dict) -> dict:
    """A text-encoder file's tensors without any wrapping prefix (HF ``text_model.`` may stay)."""
    for prefix in _EXTRACTED_PREFIXES:
        part = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        if part:
            return part
    if any(k.startswith("transformer.text_model.") for k in sd):
        return {k[len("transformer."):]: v for k, v in sd.items() if k.startswith("transformer.")}
    return sd


# CLIPLoader / DualCLIPLoader / TripleCLIPLoader ``type`` -> "module:function" that builds the CLIP from the
# files' state dicts: ``fn(state_dicts, *, dtype, device, embedding_dirs) -> CLIP``, the file count checked by
# ``fn``; ``dtype`` None means each tower's own default. A model family adds its type with one line here; its
# module is imported only when the type is used.
CLIP_TYPES = {
    "stable_diffusion": "core.models.text_encoder:clip_stable_diffusion",
    "sdxl": "core.models.text_encoder:clip_sdxl",
    "sd3": "core.models.dit_text_loaders:clip_sd3",
    "flux": "core.models.dit_text_loaders:clip_flux",
    "lumina2": "core.models.qwen3_text:clip_lumina2",  # Qwen3-4B for Z-Image
    "flux2": "core.models.qwen3_text:clip_flux2",  # Qwen3 for FLUX.2 [klein]
}
# model family -> "module:function" building the CLIP of a checkpoint whose text encoders sit under
# ``text_encoders.*``: ``fn(state_dict, family, *, dtype, device, embedding_dirs)``
BUNDLED_FAMILIES = {
    "sd3": "core.models.dit_text_loaders:clip_from_bundle",
    "flux": "core.models.dit_text_loaders:clip_from_bundle",
    "flux_schnell": "core.models.dit_text_loaders:clip_from_bundle",
}


def _resolve(ref: str):
    """The function a "module:function" reference of CLIP_TYPES / BUNDLED_FAMILIES names (imported on use,
    so this module never imports the family modules that build on it)."""
    import importlib

    module_name, function = ref.split(":")
    return getattr(importlib.import_module(module_name), function)


def clip_from_files(paths_or_state_dicts, clip_type: str = "stable_diffusion", *, dtype=None, device=None,
                    embedding_dirs=None):
    """The CLIP of standalone text-encoder files (paths or state dicts) for a loader ``type`` (CLIP_TYPES)."""
    if clip_type not in CLIP_TYPES:
        raise ValueError(f"text encoder type {clip_type!r} is not supported (supported: {', '.join(CLIP_TYPES)})")
    items = paths_or_state_dicts if isinstance(paths_or_state_dicts, (list, tuple)) else [paths_or_state_dicts]
    sds = []
    for item in items:
        if isinstance(item, dict):
            sds.append(_standalone(item))
        else:
            from core.models.weights import load_file

            sd, _meta = load_file(item)
            sds.append(_standalone(sd))
    device = torch.device(device) if device is not None else default_device()
    return _resolve(CLIP_TYPES[clip_type])(sds, dtype=dtype, device=device, embedding_dirs=embedding_dirs)


def _refuse_t5(sds: list) -> None:
    if any("encoder.block.0.layer.0.SelfAttention.q.weight" in sd for sd in sds):
        raise ValueError("a T5 text encoder is not a CLIP of this type: for FLUX use DualCLIPLoader type 'flux' "
                         "(clip_l + t5xxl), for SD3 CLIPLoader/DualCLIPLoader/TripleCLIPLoader type 'sd3'")


def clip_stable_diffusion(sds: list, *, dtype=None, device, embedding_dirs=None) -> ClipHandle:
    """One CLIP-L (SD1), OpenCLIP-H (SD2) or OpenCLIP bigG (the SDXL refiner's) file."""
    from core.models.clip import OPENCLIP, detect_layout

    if len(sds) != 1:
        raise ValueError(f"text encoder type stable_diffusion takes one file, got {len(sds)}")
    _refuse_t5(sds)
    dtype = dtype or default_dtype()
    config = config_from_state_dict(sds[0])
    openclip = detect_layout(sds[0]) == OPENCLIP
    if config.num_layers > 30:  # OpenCLIP bigG alone: ComfyUI makes it the SDXL refiner's CLIP
        prefix = "conditioner.embedders.0.model." if openclip else "conditioner.embedders.0.transformer."
        model = load_encoder(sds[0], dtype=dtype, device=device, activation=SDXL_G.activation,
                             where="text encoder (sdxl_refiner)")
        return ClipHandle([Encoder(SDXL_G, model, prefix)], "sdxl_refiner", embedding_dirs)
    is_h = openclip or config.hidden_size == 1024
    role, family = (SD2_H, "sd2") if is_h else (SD1_L, "sd1")
    prefix = "cond_stage_model.model." if openclip else "cond_stage_model.transformer."
    model = load_encoder(sds[0], dtype=dtype, device=device, activation=role.activation,
                         where=f"text encoder ({family})")
    return ClipHandle([Encoder(role, model, prefix)], family, embedding_dirs)


def clip_sdxl(sds: list, *, dtype=None, device, embedding_dirs=None) -> ClipHandle:
    """CLIP-L + OpenCLIP-bigG, in either order (the wider tower is G)."""
    from core.models.clip import OPENCLIP, detect_layout

    if len(sds) != 2:
        raise ValueError(f"text encoder type sdxl takes two files (CLIP-L and CLIP-G), got {len(sds)}")
    _refuse_t5(sds)
    dtype = dtype or default_dtype()
    widths = [config_from_state_dict(sd).hidden_size for sd in sds]
    l_sd, g_sd = (sds[1], sds[0]) if widths[0] > widths[1] else (sds[0], sds[1])
    encoders = []
    g_prefix = ("conditioner.embedders.1.model." if detect_layout(g_sd) == OPENCLIP
                else "conditioner.embedders.1.transformer.")
    for role, prefix, sd in ((SDXL_L, "conditioner.embedders.0.transformer.", l_sd), (SDXL_G, g_prefix, g_sd)):
        model = load_encoder(sd, dtype=dtype, device=device, activation=role.activation,
                             where=f"sdxl text encoder {role.name}")
        encoders.append(Encoder(role, model, prefix))
    return ClipHandle(encoders, "sdxl", embedding_dirs)
