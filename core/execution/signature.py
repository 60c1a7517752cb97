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
        prompt = self.run.prompt
        stack = [node_id]
        while stack:
            nid = stack[-1]
            if nid in self.signatures:
                stack.pop()
                continue
            pending = [str(v[0]) for v in prompt[nid]["inputs"].values()
                       if is_link(v) and str(v[0]) in prompt and str(v[0]) not in self.signatures]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            self.signatures[nid] = self._own(nid)
        return self.signatures[node_id]

    def _upstream(self, value):
        """A link's part: the source's signature, or a marker when it names no node (failed validation)."""
        return self.signatures.get(str(value[0]), ("missing", str(value[0])))

    def _own(self, node_id) -> Signature:
        run, ex = self.run, self.run.ex
        node = run.prompt[node_id]
        class_type = node["class_type"]
        cls = run.registry.get(class_type)
        inputs = node["inputs"]
        changed = self._is_changed(cls, node_id, inputs)
        parts = []
        for name in sorted(inputs):
            value = inputs[name]
            if is_link(value):
                parts.append((name, self._upstream(value), value[1]))
            else:
                parts.append((name, freeze(value)))
        parts = tuple(parts)
        memo = ex._sig_memo.get(node_id)
        if memo is not None and changed is not ALWAYS and memo[0] == class_type and memo[1] == parts \
                and memo[2] == changed:
            return memo[3]
        per_node = getattr(cls, "NOT_IDEMPOTENT", False) or "UNIQUE_ID" in run.hidden(class_type).values()
        key = (class_type, changed if changed is not ALWAYS else object(), node_id if per_node else None, parts)
        sig = ex.cache.interner.intern(Signature(key))
        ex._sig_memo[node_id] = (class_type, parts, changed, sig)
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
