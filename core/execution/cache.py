"""Output caches keyed by a node's input signature, with ComfyUI's policies (docs/comfy-api.md §5.3).

A signature is a :class:`Signature`: class type, IS_CHANGED fingerprint, node id where the node is
not idempotent, and every input as a constant or as (upstream signature, slot). Signatures are
interned, so equal upstream signatures are the same object and comparisons stay shallow even on
deep graphs.
"""
from __future__ import annotations

from collections import OrderedDict


class Signature:
    __slots__ = ("parts", "_hash")

    def __init__(self, parts: tuple):
        self.parts = parts
        self._hash = hash(parts)

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return self is other or (isinstance(other, Signature) and self._hash == other._hash
                                 and self.parts == other.parts)

    def __repr__(self):
        return f"Signature({self._hash:x})"


def freeze(value):
    """A hashable, order-stable form of a constant input value (dicts and lists from JSON)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return ("__list__",) + tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return ("__dict__",) + tuple(sorted(((str(k), freeze(v)) for k, v in value.items()), key=lambda kv: kv[0]))
    # Objects (tensors an expansion passes as constants): the very object, compared by identity,
    # since their own == may not return a bool.
    return _Identity(value)


class _Identity:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __hash__(self):
        return id(self.value)

    def __eq__(self, other):
        return isinstance(other, _Identity) and other.value is self.value


class Interner:
    def __init__(self):
        self._table: dict = {}

    def intern(self, sig: Signature) -> Signature:
        return self._table.setdefault(sig, sig)

    def retain(self, keep) -> None:
        self._table = {s: s for s in keep}


class OutputCache:
    """Stores (outputs, ui) per signature; ``end_prompt`` applies the policy between prompts."""

    def __init__(self, policy: str = "classic", lru_size: int = 0):
        if policy not in ("classic", "lru", "none"):
            raise ValueError(f"unknown cache policy {policy!r} (classic, lru, none)")
        if policy == "lru" and lru_size < 1:
            raise ValueError("the LRU cache needs a size of at least 1")
        self.policy = policy
        self.lru_size = lru_size
        self._entries: OrderedDict = OrderedDict()
        self.interner = Interner()

    def get(self, sig):
        entry = self._entries.get(sig)
        if entry is not None and self.policy == "lru":
            self._entries.move_to_end(sig)
        return entry

    def __contains__(self, sig) -> bool:
        return sig in self._entries

    def put(self, sig, outputs, ui) -> None:
        self._entries[sig] = (outputs, ui)
        if self.policy == "lru":
            self._entries.move_to_end(sig)

    def end_prompt(self, used_signatures) -> None:
        if self.policy == "none":
            self._entries.clear()
        elif self.policy == "classic":
            used = set(used_signatures)
            for sig in [s for s in self._entries if s not in used]:
                del self._entries[sig]
        else:
            while len(self._entries) > self.lru_size:
                self._entries.popitem(last=False)
        keep = set(self._entries) | set(used_signatures)
        # keep the interner small: upstream parts of kept signatures stay reachable through them
        self.interner.retain(keep)

    def clear(self) -> None:
        self._entries.clear()
        self.interner.retain(())

    def __len__(self):
        return len(self._entries)
