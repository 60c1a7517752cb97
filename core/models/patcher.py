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
* Optionally ``delta_rows(weight, start, stop)`` returns rows ``start:stop`` of that delta (float32,
  ``[stop - start, *weight.shape[1:]]``) or None; patches that have it are merged chunk by chunk
  without ever building the whole delta. ``weight`` may then be a zero-stride stand-in of the
  right shape/dtype/device.
* :class:`WeightScale` (``strength_model`` of ``add_patches``) scales W itself: the merged weight is
  ``a·W + Σ deltas`` with ``a = 1 + Σ (s − 1)`` over the key's WeightScales.

Merging (:class:`MergedPatches`) computes ``W' = a·W + Σ deltas`` in float32 chunk by chunk (a few
hundred kB of scratch on the CPU) and writes it back in W's dtype, in place. For an exact restore it
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

# Elements per merge chunk: fits the L2 cache on CPUs (every pass over a chunk stays in cache);
# on accelerators the per-op launch cost dominates, so chunks are large there.
CPU_CHUNK_ELEMENTS = 1 << 17
DEVICE_CHUNK_ELEMENTS = 1 << 24

_INT_OF_SIZE = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


@dataclass
class LowRankPatch:
    """``strength * (alpha / rank) * up @ down`` (Hu et al. 2021, LoRA eq. 3; alpha scaling as kohya-ss)."""

    strength: float
    up: torch.Tensor  # [out, r] or [out, r, 1, 1]
    down: torch.Tensor  # [r, in] or [r, in, kh, kw]
    alpha: float | None = None

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
    if isinstance(patch, (tuple, list)) and len(patch) in (3, 4):
        return LowRankPatch(float(patch[0]), patch[1], patch[2], None if len(patch) == 3 else patch[3])
    raise TypeError(f"not a weight patch: {type(patch).__name__} (need .delta(weight) or (strength, up, down[, alpha]))")


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
    """One patched weight: where its rows live, its deltas, and the undo log per chunk."""

    def __init__(self, key: str, pieces: list, plist: list):
        self.key = key
        self.pieces = pieces  # tensors whose row-concatenation is the checkpoint weight
        self.scale = 1.0 + sum(p.strength - 1.0 for p in plist if isinstance(p, WeightScale))
        self.deltas = [p for p in plist if not isinstance(p, WeightScale)]
        first = pieces[0]
        self.shape = (sum(p.shape[0] for p in pieces), *first.shape[1:])
        # a stand-in with the weight's shape/dtype/device and no storage, for delta_rows
        self.like = torch.empty((), dtype=first.dtype, device=first.device).expand(self.shape)
        self.rows_ok = all(_rows(p, self.like, 0, 0) is not None for p in self.deltas)
        self.full = None  # whole delta, only for patches without delta_rows (one layer of scratch)
        row = max(1, math.prod(self.shape[1:]))
        budget = CPU_CHUNK_ELEMENTS if first.device.type == "cpu" else DEVICE_CHUNK_ELEMENTS
        self.step = max(1, budget // row)
        self.log: list = []  # per chunk: (flat indices int32, original values) or None
        self.checksums: list = []

    def chunks(self):
        offset = 0
        for piece in self.pieces:
            for start in range(0, piece.shape[0], self.step):
                stop = min(start + self.step, piece.shape[0])
                yield piece[start:stop], offset + start, offset + stop
            offset += piece.shape[0]

    def begin(self) -> None:
        if not self.rows_ok and self.deltas:
            real = self.pieces[0] if len(self.pieces) == 1 else torch.cat(self.pieces)
            full = None
            for p in self.deltas:
                d = p.delta(real).to(torch.float32).reshape(self.shape)
                full = d if full is None else full + d
            self.full = full

    def delta(self, start: int, stop: int) -> torch.Tensor | None:
        if self.full is not None:
            return self.full[start:stop]
        total = None
        for p in self.deltas:
            d = _rows(p, self.like, start, stop)
            total = d if total is None else total + d
        return total


def _rows(patch, like, start, stop):
    fn = getattr(patch, "delta_rows", None)
    return fn(like, start, stop) if fn is not None else None


class MergedPatches:
    """Patches merged in place; :meth:`restore` puts back the exact original bits (see module doc)."""

    def __init__(self, patches: dict, locate):
        """``locate(key)`` -> list of tensors whose dim-0 concatenation is the key's weight, or None."""
        self._keys: list[_Key] = []
        self._threads = torch.get_num_threads()
        with torch.no_grad():
            for key, plist in patches.items():
                pieces = locate(key) if plist else None
                if not pieces:
                    continue
                entry = _Key(key, pieces, [as_patch(p) for p in plist])
                self._merge(entry)
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

    def _merge(self, k: _Key) -> None:
        k.begin()
        for w, start, stop in k.chunks():
            d = k.delta(start, stop)
            k.checksums.append(_checksum(w))
            if d is None:  # nothing but WeightScales
                merged = w.float() * k.scale
            elif k.scale == 1.0:
                merged = torch.add(w, d)  # float32 (type promotion), one pass
            else:
                merged = torch.add(w.float() * k.scale, d)
            merged = merged.to(w.dtype)
            back = self._unmerge(merged, d, k.scale).to(w.dtype).contiguous()
            back_words, words = _words(back), _words(w)
            wrong = (back_words != words).nonzero().squeeze(1)
            if wrong.numel() * (4 + words.element_size()) >= words.numel() * words.element_size():
                k.log.append((None, w.clone()))  # a log as big as the chunk: keep the chunk instead
            elif wrong.numel():
                k.log.append((wrong.to(torch.int32), words[wrong]))
            else:
                k.log.append(None)
            w.copy_(merged)
        k.full = None

    @staticmethod
    def _unmerge(merged: torch.Tensor, d, scale: float) -> torch.Tensor:
        back = merged.to(torch.float32, copy=True) if d is None else torch.sub(merged, d)
        return back / scale if scale != 1.0 else back

    def restore(self) -> None:
        threads = torch.get_num_threads()
        if threads != self._threads:  # matmul blocking (hence the last bits of Δ) may depend on it
            torch.set_num_threads(self._threads)
        bad = []
        try:
            with torch.no_grad():
                for k in self._keys:
                    k.begin()
                    same = True
                    for (w, start, stop), undo, checksum in zip(k.chunks(), k.log, k.checksums):
                        if undo is not None and undo[0] is None:
                            back = undo[1]  # the chunk itself was kept
                        else:
                            back = self._unmerge(w, k.delta(start, stop), k.scale).to(w.dtype).contiguous()
                            if undo is not None:
                                _words(back)[undo[0].long()] = undo[1]  # back is contiguous: a view
                        same = same and _checksum(back) == checksum
                        w.copy_(back)
                    k.full = None
                    if not same:
                        bad.append(k.key)
        finally:
            if threads != self._threads:
                torch.set_num_threads(threads)
            self._keys.clear()
        if bad:
            raise RuntimeError(f"LoRA restore: {len(bad)} weights did not come back bit for bit (patch deltas "
                               f"changed between merge and restore): {', '.join(bad[:5])}")
