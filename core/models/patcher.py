"""Weight patches (LoRA and friends) and the one mechanism that merges them in place and restores exactly.

Patch contract (what LoRA loaders produce, what ModelHandle/ClipHandle keep):

* ``handle.patches`` is ``{checkpoint key: [patch, ...]}``. Keys are the full LDM checkpoint key of
  the weight, e.g. ``"model.diffusion_model.input_blocks.1.1.proj_in.weight"`` (the same names as
  ``targets`` in reference/checkpoints/lora_*.json), so one LoRA file maps to keys without knowing
  module internals.
* A patch is either an object with ``delta(weight) -> tensor`` (any shape that reshapes to the
  weight's, computed in float32, strength already applied) or a tuple ``(strength, up, down)`` /
  ``(strength, up, down, alpha)`` meaning ``strength * (alpha / rank) * up @ down`` (rank =
  ``down.shape[0]``, alpha defaults to rank; conv LoRAs flatten to matrices and reshape back).
  ``weight`` only tells shape, dtype and device: a delta must not depend on the weight's values
  (restoring recomputes it from the merged weight).
* Optionally ``low_rank(weight) -> (up, down) | None``: float32 factors ``[rows, r]`` and
  ``[r, cols]`` (strength and alpha folded into ``up``) with ``delta = (up @ down).reshape(weight.shape)``.
  All low-rank patches of a weight are merged as one product ``[up_1 … up_n] @ [down_1; …; down_n]``
  per chunk of rows, straight into a reused float32 buffer (LoRA, LoCon, tuple patches, OpenCLIP slices).
* Optionally ``delta_rows(weight, start, stop)`` returns rows ``start:stop`` of that delta (float32,
  ``[stop - start, *weight.shape[1:]]``) or None; patches that have it are merged chunk by chunk
  without ever building the whole delta. ``weight`` may then be a zero-stride stand-in of the
  right shape/dtype/device. Patches with neither get one whole float32 delta per weight.
* :class:`WeightScale` (``strength_model`` of ``add_patches``) scales W itself: the merged weight is
  ``a·W + Σ deltas`` with ``a = 1 + Σ (s − 1)`` over the key's WeightScales.

Merging (:class:`MergedPatches`) computes ``W' = a·W + Σ deltas`` in float32 chunk by chunk (a few
MB of scratch on the CPU, allocated once per merge: no per-chunk temporaries, which would also
fragment the heap under the undo log) and writes it back in W's dtype, in place. For an exact restore it
keeps an undo log: at merge time it also computes ``(W' − Σ deltas) / a`` in W's dtype and saves, as
(word index, original 64-bit word), only the words of W where that does not give W back; a chunk
whose log would be as large as the chunk keeps the chunk's original instead (so the log never exceeds
the patched weights, and for LoRA-sized deltas is a few per cent of them). Rounding makes
``fl(fl(W + Δ) − Δ) = W`` whenever ``W + Δ`` stays in W's binade (the rounding error is then at most
half an ulp of W; Higham, *Accuracy and Stability of Numerical Algorithms*, §2.1), so for LoRA-sized
deltas the log holds a few per cent of the elements at most. Restoring recomputes the same deltas
(same chunking, same thread count), puts the logged elements back, and checks a per-weight bit sum
taken before the merge; a mismatch raises instead of leaving a silently changed model.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

# Elements per merge chunk. CPU: the ~6 MB of chunk buffers stay in L2/L3 between the passes, and
# ~600 chunks for SD1.5's LoRA-patched weights keep the per-op overhead small (2^17: +25 % time,
# 2^21: +30 %, measured on 2 EPYC cores). Accelerators: the per-op launch cost dominates.
CPU_CHUNK_ELEMENTS = 1 << 19
DEVICE_CHUNK_ELEMENTS = 1 << 24

_INT_OF_SIZE = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


@dataclass
class LowRankPatch:
    """``strength * (alpha / rank) * up @ down`` (Hu et al. 2021, LoRA eq. 3; alpha scaling as kohya-ss)."""

    strength: float
    up: torch.Tensor  # [out, r] or [out, r, 1, 1]
    down: torch.Tensor  # [r, in] or [r, in, kh, kw]
    alpha: float | None = None

    def low_rank(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rank = self.down.shape[0]
        scale = self.strength * ((self.alpha if self.alpha is not None else rank) / rank)
        up = self.up.to(weight.device, torch.float32).flatten(1) * scale
        return up, self.down.to(weight.device, torch.float32).flatten(1)

    def delta_rows(self, weight: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        rank = self.down.shape[0]
        scale = self.strength * ((self.alpha if self.alpha is not None else rank) / rank)
        up = self.up[start:stop].to(weight.device, torch.float32).flatten(1)
        down = self.down.to(weight.device, torch.float32).flatten(1)
        return ((up * scale) @ down).reshape(stop - start, *weight.shape[1:])

    def delta(self, weight: torch.Tensor) -> torch.Tensor:
        return self.delta_rows(weight, 0, weight.shape[0])


@dataclass
class DiffPatch:
    """A full-size difference: ``strength * diff`` (model merging, LyCORIS 'full')."""

    strength: float
    diff: torch.Tensor

    def delta_rows(self, weight: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        rows = self.diff.reshape(weight.shape)[start:stop]
        return self.strength * rows.to(weight.device, torch.float32)

    def delta(self, weight: torch.Tensor) -> torch.Tensor:
        return self.delta_rows(weight, 0, weight.shape[0])


class WeightScale:
    """``strength_model`` of ``add_patches``: W becomes ``s·W`` before the other deltas are added."""

    def __init__(self, strength: float, original: torch.Tensor | None = None):
        self.strength = float(strength)  # ``original`` is accepted for old callers and not kept


def as_patch(patch):
    if hasattr(patch, "delta") or isinstance(patch, WeightScale):
        return patch
    if isinstance(patch, torch.Tensor):  # ComfyUI plugins: a bare difference tensor
        return DiffPatch(1.0, patch)
    if isinstance(patch, (tuple, list)) and patch and isinstance(patch[0], str):
        return _comfy_patch(patch)
    if isinstance(patch, (tuple, list)) and len(patch) == 1 and isinstance(patch[0], torch.Tensor):
        return DiffPatch(1.0, patch[0])  # ComfyUI's (diff,) from get_key_patches (model merging)
    if isinstance(patch, (tuple, list)) and len(patch) in (3, 4):
        return LowRankPatch(float(patch[0]), patch[1], patch[2], None if len(patch) == 3 else patch[3])
    raise TypeError(f"not a weight patch: {type(patch).__name__} (need .delta(weight) or (strength, up, down[, alpha]))")


def _comfy_patch(patch):
    """ComfyUI's tagged patch tuples: ("diff", (tensor,)) and ("lora", (up, down, alpha, mid, dora_scale, ...))."""
    kind, values = patch[0], patch[1]
    if kind == "diff":
        return DiffPatch(1.0, values[0])
    if kind == "lora" and (len(values) < 4 or values[3] is None) and (len(values) < 5 or values[4] is None):
        alpha = values[2] if len(values) > 2 else None
        return LowRankPatch(1.0, values[0], values[1], None if alpha is None else float(alpha))
    raise TypeError(f"weight patch kind {kind!r} (ComfyUI format) is not supported; supported: 'diff', "
                    f"'lora' without mid/DoRA, tensors, (tensor,), objects with .delta(weight)")


class ScaledPatch:
    """A patch whose delta is multiplied by ``strength`` (add_patches' strength_patch); stays low-rank if it was."""

    def __init__(self, strength: float, patch):
        self.strength, self.patch = strength, as_patch(patch)

    def delta(self, weight):
        return self.strength * self.patch.delta(weight)

    def delta_rows(self, weight, start: int, stop: int):
        rows = getattr(self.patch, "delta_rows", None)
        d = rows(weight, start, stop) if rows is not None else None
        return None if d is None else self.strength * d

    def low_rank(self, weight):
        factors = self.patch.low_rank(weight) if hasattr(self.patch, "low_rank") else None
        return None if factors is None else (factors[0] * self.strength, factors[1])


def add_patches(store: dict, known, patches: dict, strength_patch: float = 1.0, strength_model: float = 1.0) -> list:
    """Append ``{checkpoint key: patch}`` to ``store``'s lists for the keys in ``known``; returns those keys.

    The one implementation behind ``ModelHandle.add_patches`` and ``ClipHandle.add_patches``."""
    applied = []
    for key, patch in patches.items():
        if key not in known:
            continue
        plist = store.setdefault(key, [])
        if strength_model != 1.0:
            plist.append(WeightScale(strength_model))
        plist.append(as_patch(patch) if strength_patch == 1.0 else ScaledPatch(strength_patch, patch))
        applied.append(key)
    return applied


def resolve(module: torch.nn.Module, key: str, prefix: str) -> torch.Tensor | None:
    """The parameter of ``module`` that checkpoint key ``key`` names, or None."""
    if not key.startswith(prefix):
        return None
    name = key[len(prefix):]
    owner_name, _, attr = name.rpartition(".")
    try:
        owner = module.get_submodule(owner_name) if owner_name else module
    except AttributeError:
        return None
    t = getattr(owner, attr, None)
    return t if isinstance(t, torch.Tensor) else None


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(_INT_OF_SIZE[t.element_size()])


def _words(t: torch.Tensor) -> torch.Tensor:
    """The bits of ``t`` (row-major) as 64-bit words when its byte count allows, else one int per element.

    Comparing and logging whole words is several times cheaper than per element on the CPU; the undo
    log then holds each word with a changed element (4 halves / 2 floats), about twice the elements.
    """
    size = t.element_size()
    if (t.numel() * size) % 8 == 0:
        if not t.is_contiguous() or (t.storage_offset() * size) % 8:
            t = t.clone(memory_format=torch.contiguous_format)  # transposed or unaligned: read a copy
        return t.view(-1).view(torch.int64)
    t = t.contiguous()
    return _bits(t).view(-1)


def _checksum(t: torch.Tensor) -> int:
    return int(_words(t).sum(dtype=torch.int64))  # wraps modulo 2**64: still a fixed function of the bits


class _Key:
    """One patched weight: where its rows live, its deltas (factored where low-rank) and its undo log."""

    def __init__(self, key: str, pieces: list, plist: list):
        self.key = key
        self.pieces = pieces  # tensors whose row-concatenation is the checkpoint weight
        self.scale = 1.0 + sum(p.strength - 1.0 for p in plist if isinstance(p, WeightScale))
        self.deltas = [p for p in plist if not isinstance(p, WeightScale)]
        first = pieces[0]
        self.shape = (sum(p.shape[0] for p in pieces), *first.shape[1:])
        self.cols = max(1, math.prod(self.shape[1:]))
        # a stand-in with the weight's shape/dtype/device and no storage, for low_rank / delta_rows
        self.like = torch.empty((), dtype=first.dtype, device=first.device).expand(self.shape)
        budget = CPU_CHUNK_ELEMENTS if first.device.type == "cpu" else DEVICE_CHUNK_ELEMENTS
        self.step = max(1, budget // self.cols)
        self.log: list = []  # per chunk: (word indices int32, original words), (None, chunk copy) or None
        self.checksum = 0
        self.end()

    def chunks(self):
        offset = 0
        for piece in self.pieces:
            for start in range(0, piece.shape[0], self.step):
                stop = min(start + self.step, piece.shape[0])
                yield piece[start:stop], offset + start, offset + stop
            offset += piece.shape[0]

    def begin(self) -> None:
        """Sort this pass's deltas: low-rank factors, by-rows patches, whole deltas (same every pass)."""
        ups, downs = [], []
        for p in self.deltas:
            factors = p.low_rank(self.like) if hasattr(p, "low_rank") else None
            if factors is not None:
                ups.append(factors[0].reshape(self.shape[0], -1))
                downs.append(factors[1].reshape(-1, self.cols))
            elif _rows(p, self.like, 0, 0) is not None:
                self.by_rows.append(p)
            else:  # only a whole delta: one layer of float32 scratch
                real = self.pieces[0] if len(self.pieces) == 1 else torch.cat(self.pieces)
                d = p.delta(real).to(torch.float32).reshape(self.shape[0], self.cols)
                self.full = d if self.full is None else self.full + d
        if ups:  # stacked LoRAs: Σ up_i @ down_i = [up_1 … up_n] @ [down_1; …; down_n], one matmul
            self.up = ups[0] if len(ups) == 1 else torch.cat(ups, 1)
            self.down = downs[0] if len(downs) == 1 else torch.cat(downs, 0)

    def end(self) -> None:
        self.up = self.down = self.full = None
        self.by_rows = []

    def delta(self, start: int, stop: int, out: torch.Tensor) -> torch.Tensor:
        """Rows ``start:stop`` of Σ Δ, float32 ``[stop - start, cols]``, written into ``out``."""
        if self.up is not None:
            torch.mm(self.up[start:stop], self.down, out=out)
        else:
            out.zero_()
        if self.full is not None:
            out += self.full[start:stop]
        for p in self.by_rows:
            out += _rows(p, self.like, start, stop).reshape(out.shape)
        return out


def _rows(patch, like, start, stop):
    fn = getattr(patch, "delta_rows", None)
    return fn(like, start, stop) if fn is not None else None


class _Scratch:
    """Reused chunk buffers (no allocation, hence no page faults, per chunk): Δ in float32, W' and W'' in W's dtype."""

    def __init__(self):
        self._bufs: dict = {}

    def get(self, name: str, n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        key = (name, dtype, device)
        buf = self._bufs.get(key)
        if buf is None or buf.numel() < n:
            buf = self._bufs[key] = torch.empty(n, dtype=dtype, device=device)
        return buf[:n]

    def indices(self, mask: torch.Tensor) -> torch.Tensor:
        """``mask.nonzero()`` as a 1-D view into a reused buffer (valid until the next call)."""
        key = ("indices", mask.device)
        out = self._bufs.get(key)
        if out is None:
            out = self._bufs[key] = torch.empty(0, 1, dtype=torch.int64, device=mask.device)
        out.resize_(0, 1)  # keeps the storage: nonzero grows it only past its largest use so far
        return torch.nonzero(mask, out=out).squeeze(1)


class MergedPatches:
    """Patches merged in place; :meth:`restore` puts back the exact original bits (see module doc)."""

    def __init__(self, patches: dict, locate):
        """``locate(key)`` -> list of tensors whose dim-0 concatenation is the key's weight, or None."""
        self._keys: list[_Key] = []
        self._threads = torch.get_num_threads()
        scratch = _Scratch()
        with torch.no_grad():
            for key, plist in patches.items():
                pieces = locate(key) if plist else None
                if not pieces:
                    continue
                entry = _Key(key, pieces, [as_patch(p) for p in plist])
                self._merge(entry, scratch)
                self._keys.append(entry)

    @classmethod
    def into_module(cls, module: torch.nn.Module, patches: dict, prefix: str) -> "MergedPatches":
        def locate(key):
            t = resolve(module, key, prefix)
            return None if t is None else [t]
        return cls(patches, locate)

    @property
    def saved_bytes(self) -> int:
        """Size of the undo log (indices and original words)."""
        return sum((0 if e[0] is None else e[0].numel() * 4) + e[1].numel() * e[1].element_size()
                   for k in self._keys for e in k.log if e)

    @staticmethod
    def _buffers(k: _Key, w: torch.Tensor, scratch: _Scratch):
        n = w.numel()
        d = scratch.get("delta", n, torch.float32, w.device).view(w.shape[0], k.cols)
        work = scratch.get("work", n, torch.float32, w.device).view(w.shape)
        merged = scratch.get("merged", n, w.dtype, w.device).view(w.shape)
        back = scratch.get("back", n, w.dtype, w.device).view(w.shape)
        return d, work, merged, back

    @staticmethod
    def _forward(w, d, scale: float, work, out) -> None:
        """``out = fl(scale·W + Δ)``: float32 arithmetic in ``work``, one rounding to W's dtype.

        Spelled as copies and in-place ops on preallocated float32 buffers: a mixed-dtype op such as
        ``torch.add(w_half, d_float, out=half)`` would allocate float32 temporaries for the input and
        the output on the CPU (and the freed temporaries fragment the heap under the undo log)."""
        work.copy_(w)
        if scale != 1.0:
            work.mul_(scale)
        if d is not None:
            work.add_(d)
        out.copy_(work)

    @staticmethod
    def _backward(m, d, scale: float, work, out) -> None:
        """``out = fl((M − Δ) / scale)``, the inverse of :meth:`_forward` up to rounding."""
        work.copy_(m)
        if d is not None:
            work.sub_(d)
        if scale != 1.0:
            work.div_(scale)
        out.copy_(work)

    def _merge(self, k: _Key, scratch: _Scratch) -> None:
        k.begin()
        k.checksum = sum(_checksum(p) for p in k.pieces)
        for w, start, stop in k.chunks():
            d, work, merged, back = self._buffers(k, w, scratch)
            d = k.delta(start, stop, d).view(w.shape) if k.deltas else None
            self._forward(w, d, k.scale, work, merged)
            self._backward(merged, d, k.scale, work, back)
            words = _words(w)
            differs = torch.ne(_words(back), words, out=scratch.get("differs", words.numel(), torch.bool, w.device))
            wrong = scratch.indices(differs)
            if wrong.numel() * (4 + words.element_size()) >= words.numel() * words.element_size():
                k.log.append((None, w.clone()))  # a log as big as the chunk: keep the chunk instead
            elif wrong.numel():
                k.log.append((wrong.to(torch.int32), words[wrong]))
            else:
                k.log.append(None)
            w.copy_(merged)
        k.end()

    def restore(self) -> None:
        threads = torch.get_num_threads()
        if threads != self._threads:  # matmul blocking (hence the last bits of Δ) may depend on it
            torch.set_num_threads(self._threads)
        bad = []
        scratch = _Scratch()
        try:
            with torch.no_grad():
                for k in self._keys:
                    k.begin()
                    for (w, start, stop), undo in zip(k.chunks(), k.log):
                        if undo is not None and undo[0] is None:
                            w.copy_(undo[1])  # the chunk itself was kept
                            continue
                        d, work, _, back = self._buffers(k, w, scratch)
                        d = k.delta(start, stop, d).view(w.shape) if k.deltas else None
                        self._backward(w, d, k.scale, work, back)
                        if undo is not None:
                            _words(back)[undo[0]] = undo[1]  # back is a contiguous buffer: a view
                        w.copy_(back)
                    k.end()
                    if sum(_checksum(p) for p in k.pieces) != k.checksum:
                        bad.append(k.key)
        finally:
            if threads != self._threads:
                torch.set_num_threads(threads)
            self._keys.clear()
        if bad:
            raise RuntimeError(f"LoRA restore: {len(bad)} weights did not come back bit for bit (patch deltas "
                               f"changed between merge and restore): {', '.join(bad[:5])}")
