"""Cache signatures of the nodes of one run (docs/comfy-api.md §5.3).

A node's signature is its class, IS_CHANGED fingerprint, node id where the node is not idempotent,
and every input as a constant or as (upstream signature, slot). Signatures are computed bottom-up
without recursion, and memoised across runs per node id so an unchanged prompt re-signs cheaply.
"""
from __future__ import annotations

import inspect
import logging
import math

from core.execution.cache import Signature, freeze
from core.execution.graph import is_link, unwrap_value

log = logging.getLogger(__name__)

ALWAYS = object()  # IS_CHANGED said NaN (or raised): never served from cache


class Signer:
    def __init__(self, run):
        self.run = run
        self.signatures: dict = {}  # node id -> Signature

    def __call__(self, node_id) -> Signature:
        sig = self.signatures.get(node_id)
        if sig is not None:
            return sig
        prompt, sigs = self.run.prompt, self.signatures
        stack = [node_id]
        while stack:
            nid = stack[-1]
            if nid in sigs or nid not in prompt:  # a link to a missing node is marked in _own
                stack.pop()
                continue
            pending = [str(v[0]) for v in prompt[nid]["inputs"].values() if is_link(v) and str(v[0]) not in sigs]
            if pending and any(p in prompt for p in pending):
                stack.extend(pending)
                continue
            stack.pop()
            sigs[nid] = self._own(nid)
        return sigs[node_id]

    def _own(self, node_id) -> Signature:
        run, ex, sigs = self.run, self.run.ex, self.signatures
        node = run.prompt[node_id]
        class_type = node["class_type"]
        cls = run.registry.get(class_type)
        inputs = node["inputs"]
        changed = self._is_changed(cls, node_id, inputs)
        try:
            upstream = tuple([sigs[str(v[0])] for v in inputs.values() if is_link(v)])
        except KeyError:  # a link naming no node (it failed validation; its output does not run)
            upstream = tuple([sigs.get(str(v[0])) or ("missing", str(v[0])) for v in inputs.values() if is_link(v)])
        memo = ex._sig_memo.get(node_id)
        if memo is not None and changed is not ALWAYS and memo[0] == class_type and memo[2] == upstream \
                and memo[3] == changed and (memo[1] == inputs if node_id in run.dyn.original_prompt
                                            else _same_objects(memo[1], inputs)):  # submitted prompts are JSON
            return memo[4]
        parts = []
        links = iter(upstream)
        for name, value in inputs.items():
            if is_link(value):
                parts.append((name, next(links), value[1]))
            else:
                parts.append((name, freeze(value)))
        parts.sort(key=_first)
        per_node = getattr(cls, "NOT_IDEMPOTENT", False) or "UNIQUE_ID" in run.hidden(class_type).values()
        key = (class_type, changed if changed is not ALWAYS else object(), node_id if per_node else None,
               tuple(parts))
        sig = ex.cache.interner.intern(Signature(key))
        ex._sig_memo[node_id] = (class_type, dict(inputs), upstream, changed, sig)
        return sig

    def _is_changed(self, cls, node_id, inputs):
        """IS_CHANGED sees only constant inputs (linked ones are None), as in ComfyUI."""
        fn = getattr(cls, "IS_CHANGED", None)
        if fn is None:
            return False
        try:
            params = inspect.signature(fn).parameters
            takes_all = any(p.kind == p.VAR_KEYWORD for p in params.values())
            kwargs = {}
            for name, value in inputs.items():
                if takes_all or name in params:
                    kwargs[name] = None if is_link(value) else unwrap_value(value)
            value = fn(**kwargs)
            if inspect.isawaitable(value):
                from core.execution.node_call import run_sync
                value = run_sync(value)
        except Exception:
            log.warning("IS_CHANGED of node #%s raised; it will always run", node_id, exc_info=True)
            return ALWAYS
        if isinstance(value, float) and math.isnan(value):
            return ALWAYS
        return freeze(value)


def _first(pair):
    return pair[0]


def _same_objects(a: dict, b: dict) -> bool:
    """Equal input dicts; objects an expansion passed (tensors) count as equal only when identical."""
    if a.keys() != b.keys():
        return False
    for name, x in a.items():
        y = b[name]
        if x is y:
            continue
        if type(x) is not type(y) or not isinstance(x, (str, int, float, bool, list, dict)):
            return False
        try:
            if not x == y:
                return False
        except Exception:  # a list holding tensors compares elementwise into a tensor
            return False
    return True
