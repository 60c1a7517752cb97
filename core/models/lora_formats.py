"""The LoRA-family file formats in circulation, parsed into weight patches with ``delta(weight)``.

A file is a flat state dict of ``<module name>.<part>`` tensors. :func:`parse_adapters` groups them by
module name and turns each group into one patch object (the contract of core.models.patcher: ``delta``
returns the float32 change of the weight, strength and alpha scaling applied):

- LoRA (Hu et al. 2021, eq. 3): kohya ``lora_down/lora_up[/lora_mid]/alpha``, PEFT ``lora_A/lora_B``,
  diffusers ``lora.down/lora.up`` and ``lora_linear_layer.down/up``, old attention processors
  ``processor.to_q_lora.down/up``. ΔW = (alpha / rank) · up @ down; conv kernels flatten to matrices.
- LoHa (LyCORIS; Hyeon-Woo et al. 2022, FedPara): ΔW = (alpha / rank) · (w1a @ w1b) ⊙ (w2a @ w2b).
- LoKr (LyCORIS; Yeh et al. 2024): ΔW = (alpha / rank) · kron(w1, w2), each factor whole or low-rank
  ``a @ b``; the alpha scaling applies only when a factor is low-rank (rank = that factor's inner size).
- full (LyCORIS ``diff``/``diff_b``): ΔW = diff.
Tucker cores (``lora_mid``, ``hada_t1/t2``, ``lokr_t2``) of the conv variants are contracted too.
The module name keeps whatever prefix the file uses; core.models.lora maps it to a checkpoint key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch

# Suffix spellings of a LoRA's (down, up) pair, by convention.
_LORA_PAIRS = (
    (".lora_down.weight", ".lora_up.weight"),  # kohya-ss / LyCORIS LoCon
    (".lora_A.weight", ".lora_B.weight"),  # PEFT
    (".lora.down.weight", ".lora.up.weight"),  # diffusers after convert_state_dict_to_diffusers
    (".lora_linear_layer.down.weight", ".lora_linear_layer.up.weight"),  # diffusers text encoder
    ("_lora.down.weight", "_lora.up.weight"),  # old attn processors: ...processor.to_q_lora.down.weight
)
_LORA_MID = ".lora_mid.weight"
_LOHA = ("hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b")
_OLD_PROCESSOR = re.compile(r"\.processor\.(to_q|to_k|to_v|to_out)$")


def _f32(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.to(device=like.device, dtype=torch.float32)


def _scale(alpha, rank: int | None) -> float:
    if alpha is None or rank is None:
        return 1.0
    return float(alpha) / rank


def _tucker(core: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rebuild a conv kernel [out, in, kh, kw] from a Tucker core [r, r, kh, kw], a [out, r], b [r, in]."""
    return torch.einsum("ijkl,jr,ip->prkl", core, b, a)


@dataclass
class LoraPatch:
    """kohya/PEFT/diffusers LoRA, optionally with a Tucker ``mid`` core (LoCon conv)."""

    up: torch.Tensor  # [out, r] or [out, r, 1, 1]
    down: torch.Tensor  # [r, in] or [r, in, kh, kw]
    alpha: float | None = None
    mid: torch.Tensor | None = None  # [r, r, kh, kw]
    strength: float = 1.0

    def _down(self, weight: torch.Tensor) -> torch.Tensor:
        down = _f32(self.down, weight)
        if self.mid is not None:
            # up(mid(down(x))) with 1x1 down/up: kernel[o,i,k,l] = Σ up[o,a] mid[a,b,k,l] down[b,i]
            down = torch.einsum("abkl,bi->aikl", _f32(self.mid, weight), down.flatten(1))  # [r, in, kh, kw]
        return down.flatten(1)

    def low_rank(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(up, down)``, float32 ``[out, r]`` and ``[r, in·kh·kw]``, scale folded into ``up``: ΔW = up @ down."""
        rank = self.down.shape[0]
        scale = self.strength * _scale(self.alpha if self.alpha is not None else rank, rank)
        return _f32(self.up, weight).flatten(1) * scale, self._down(weight)

    def delta_rows(self, weight: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` of ΔW: only those rows of ``up`` enter the product (merging by chunks)."""
        rank = self.down.shape[0]
        scale = self.strength * _scale(self.alpha if self.alpha is not None else rank, rank)
        up = _f32(self.up[start:stop], weight).flatten(1)
        return ((up * scale) @ self._down(weight)).reshape(stop - start, *weight.shape[1:])

    def delta(self, weight: torch.Tensor) -> torch.Tensor:
        return self.delta_rows(weight, 0, weight.shape[0])


@dataclass
class LohaPatch:
    w1a: torch.Tensor
    w1b: torch.Tensor
    w2a: torch.Tensor
    w2b: torch.Tensor
    alpha: float | None = None
    t1: torch.Tensor | None = None
    t2: torch.Tensor | None = None
    strength: float = 1.0

    def delta(self, weight: torch.Tensor) -> torch.Tensor:
        rank = self.w1b.shape[0]
        scale = self.strength * _scale(self.alpha if self.alpha is not None else rank, rank)
        if self.t1 is not None:
            m1 = _tucker(_f32(self.t1, weight), _f32(self.w1a, weight), _f32(self.w1b, weight))
            m2 = _tucker(_f32(self.t2, weight), _f32(self.w2a, weight), _f32(self.w2b, weight))
        else:
            m1 = _f32(self.w1a, weight) @ _f32(self.w1b, weight).flatten(1)
            m2 = _f32(self.w2a, weight) @ _f32(self.w2b, weight).flatten(1)
        return (scale * (m1 * m2)).reshape(weight.shape)


@dataclass
class LokrPatch:
    w1: torch.Tensor | None = None
    w1a: torch.Tensor | None = None
    w1b: torch.Tensor | None = None
    w2: torch.Tensor | None = None
    w2a: torch.Tensor | None = None
    w2b: torch.Tensor | None = None
    t2: torch.Tensor | None = None
    alpha: float | None = None
    strength: float = 1.0

    def delta(self, weight: torch.Tensor) -> torch.Tensor:
        rank = None
        if self.w1 is not None:
            w1 = _f32(self.w1, weight)
        else:
            rank = self.w1b.shape[0]
            w1 = _f32(self.w1a, weight) @ _f32(self.w1b, weight)
        if self.w2 is not None:
            w2 = _f32(self.w2, weight)
        else:
            rank = self.w2b.shape[0]
            if self.t2 is not None:
                w2 = _tucker(_f32(self.t2, weight), _f32(self.w2a, weight), _f32(self.w2b, weight))
            else:
                w2 = _f32(self.w2a, weight) @ _f32(self.w2b, weight).flatten(1)
                if weight.ndim == 4:  # [out2, in2*kh*kw] -> [out2, in2, kh, kw]
                    w2 = w2.reshape(w2.shape[0], -1, *weight.shape[2:])
        if weight.ndim == 4 and w1.ndim == 2:
            w1 = w1[:, :, None, None]  # kron over the channel axes only; the kernel comes from w2
            if w2.ndim == 2:
                w2 = w2.reshape(w2.shape[0], -1, *weight.shape[2:])
        scale = self.strength * _scale(self.alpha, rank)
        return (scale * torch.kron(w1, w2)).reshape(weight.shape)


@dataclass
class FullPatch:
    diff: torch.Tensor
    strength: float = 1.0

    def delta_rows(self, weight: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        return self.strength * _f32(self.diff.reshape(weight.shape)[start:stop], weight)

    def delta(self, weight: torch.Tensor) -> torch.Tensor:
        return self.delta_rows(weight, 0, weight.shape[0])


@dataclass
class SlicePatch:
    """A patch of rows ``start:start+length`` of a fused weight (OpenCLIP ``in_proj_weight`` = [q; k; v])."""

    inner: object
    start: int
    length: int

    def delta(self, weight: torch.Tensor) -> torch.Tensor:
        if weight.shape[0] == self.length:  # a handle that keeps q/k/v split patches the slice itself
            return self.inner.delta(weight)
        out = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
        out[self.start:self.start + self.length] = self.inner.delta(weight[self.start:self.start + self.length])
        return out

    def low_rank(self, weight: torch.Tensor):
        """The inner patch's factors with ``up`` zero outside the slice's rows; None if it has none."""
        inner = getattr(self.inner, "low_rank", None)
        if inner is None:
            return None
        if weight.shape[0] == self.length:
            return inner(weight)
        factors = inner(weight[self.start:self.start + self.length])
        if factors is None:
            return None
        up, down = factors
        full = torch.zeros((weight.shape[0], up.shape[1]), dtype=up.dtype, device=up.device)
        full[self.start:self.start + self.length] = up
        return full, down

    def delta_rows(self, weight: torch.Tensor, start: int, stop: int):
        if weight.shape[0] == self.length:
            rows = getattr(self.inner, "delta_rows", None)
            return rows(weight, start, stop) if rows is not None else None
        rows = getattr(self.inner, "delta_rows", None)
        if rows is None:
            return None
        out = torch.zeros((stop - start, *weight.shape[1:]), dtype=torch.float32, device=weight.device)
        lo, hi = max(start, self.start), min(stop, self.start + self.length)
        if lo < hi:  # the part of these rows that lies inside the slice
            part = weight[self.start:self.start + self.length]
            out[lo - start:hi - start] = rows(part, lo - self.start, hi - self.start)
        return out


@dataclass
class HalvesSwappedPatch:
    """A patch whose ΔW rows come in the other order of two halves: diffusers' final adaLN emits
    (scale, shift) where BFL's FLUX weight has (shift, scale)."""

    inner: object

    @staticmethod
    def _swap(t: torch.Tensor) -> torch.Tensor:
        half = t.shape[0] // 2
        return torch.cat([t[half:], t[:half]], dim=0)

    def delta(self, weight: torch.Tensor) -> torch.Tensor:
        return self._swap(self.inner.delta(self._swap(weight)))

    def low_rank(self, weight: torch.Tensor):
        inner = getattr(self.inner, "low_rank", None)
        factors = inner(self._swap(weight)) if inner is not None else None
        return None if factors is None else (self._swap(factors[0]), factors[1])

    def delta_rows(self, weight: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        return self.delta(weight)[start:stop]


@dataclass
class Adapter:
    """One module's patch as read from the file: ``patch`` for the weight, ``bias`` (or None)."""

    weight: object | None
    bias: object | None = None


def _alpha(sd: dict, name: str):
    t = sd.get(name + ".alpha")
    return None if t is None else float(t.float().item())


def parse_adapters(sd: dict) -> tuple[dict, list]:
    """Group a LoRA-family state dict by module: ``({module name: Adapter}, [keys not understood])``.

    Old attention-processor names (``X.processor.to_q_lora``) come back as ``X.to_q`` (``to_out`` as
    ``to_out.0``) so every format names the module it patches the same way.
    """
    used: set = set()
    adapters: dict = {}

    def take(*keys):
        used.update(k for k in keys if k in sd)

    for key in sd:
        for down_sfx, up_sfx in _LORA_PAIRS:
            if key.endswith(down_sfx):
                name = key[: -len(down_sfx)]
                up_key = name + up_sfx
                if up_key not in sd:
                    continue
                mid = sd.get(name + _LORA_MID)
                adapters[_canonical(name, down_sfx)] = Adapter(LoraPatch(sd[up_key], sd[key], _alpha(sd, name), mid))
                take(key, up_key, name + ".alpha", name + _LORA_MID)
                break
        else:
            if key.endswith(".hada_w1_a"):
                name = key[: -len(".hada_w1_a")]
                parts = [name + "." + p for p in _LOHA]
                if all(p in sd for p in parts):
                    t1, t2 = sd.get(name + ".hada_t1"), sd.get(name + ".hada_t2")
                    adapters[name] = Adapter(LohaPatch(*(sd[p] for p in parts), _alpha(sd, name), t1, t2))
                    take(*parts, name + ".alpha", name + ".hada_t1", name + ".hada_t2")
            elif ".lokr_w1" in key or ".lokr_w2" in key:
                name = key[: key.index(".lokr_w")]
                if name in adapters:
                    continue
                get = {p: sd.get(f"{name}.lokr_{p}") for p in ("w1", "w1_a", "w1_b", "w2", "w2_a", "w2_b", "t2")}
                if (get["w1"] is not None or (get["w1_a"] is not None and get["w1_b"] is not None)) and \
                        (get["w2"] is not None or (get["w2_a"] is not None and get["w2_b"] is not None)):
                    adapters[name] = Adapter(LokrPatch(get["w1"], get["w1_a"], get["w1_b"], get["w2"], get["w2_a"],
                                                       get["w2_b"], get["t2"], _alpha(sd, name)))
                    take(*(f"{name}.lokr_{p}" for p in get), name + ".alpha")
            elif key.endswith(".diff"):
                name = key[: -len(".diff")]
                adapters.setdefault(name, Adapter(None)).weight = FullPatch(sd[key])
                take(key)
            elif key.endswith(".diff_b"):
                name = key[: -len(".diff_b")]
                adapters.setdefault(name, Adapter(None)).bias = FullPatch(sd[key])
                take(key)
    unknown = sorted(k for k in sd if k not in used)
    return adapters, unknown


def _canonical(name: str, down_suffix: str) -> str:
    if down_suffix == "_lora.down.weight":  # "X.processor.to_q" (the "_lora" was the suffix)
        m = _OLD_PROCESSOR.search(name)
        if m:
            leaf = "to_out.0" if m.group(1) == "to_out" else m.group(1)
            return name[: m.start()] + "." + leaf
    return name
