"""Runs a validated API prompt: dependency order, output caching, lazy inputs, list mapping, events.

The executor knows nothing about diffusion: it calls each node's ``FUNCTION`` with its inputs and
keeps the results. Events follow docs/comfy-api.md §2; interrupts come from :mod:`core.execution.progress`.
"""
from __future__ import annotations

import inspect
import logging
import math
import time
import traceback
from collections import deque
from dataclasses import dataclass, field

from core.execution import progress
from core.execution.cache import OutputCache, Signature, freeze
from core.execution.graph import declared_inputs, is_link, unwrap_value
from core.execution.node_call import ExecutionBlocker, call_maybe_async, first_blocker, format_inputs, map_over_lists  # noqa: F401
from core.execution.validate import validate_prompt

log = logging.getLogger(__name__)


class NodeError(Exception):
    def __init__(self, node_id, class_type, exc, inputs):
        super().__init__(str(exc))
        self.node_id, self.class_type, self.exc, self.inputs = node_id, class_type, exc, inputs


@dataclass
class ExecutionResult:
    success: bool
    interrupted: bool = False
    outputs: dict = field(default_factory=dict)  # node id -> ui dict
    messages: list = field(default_factory=list)  # [(event, data)]
    error: dict | None = None
    executed: list = field(default_factory=list)  # node ids run in this prompt
    cached: list = field(default_factory=list)  # node ids served from the cache


def _now_ms() -> int:
    return int(time.time() * 1000)


def exception_type_name(exc) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


class Executor:
    def __init__(self, registry, cache: str = "classic", lru_size: int = 0):
        self.registry = registry
        self.cache = OutputCache(cache, lru_size)
        self.interrupt_flag = progress.InterruptFlag()
        self._instances: dict = {}  # (node id, class) -> node object, reused across prompts
        self._sig_memo: dict = {}  # node id -> (class, frozen inputs, upstream sigs, changed, signature)

    def interrupt(self) -> None:
        self.interrupt_flag.set()

    # ------------------------------------------------------------------------------------------
    def execute(self, prompt: dict, prompt_id: str = "", extra_data: dict | None = None,
                outputs: list | None = None, emit=None, emit_preview=None,
                preview_method: str = "none", validated: bool = False) -> ExecutionResult:
        """Run ``outputs`` (default: every valid output node) of ``prompt``."""
        extra_data = extra_data or {}
        result = ExecutionResult(success=False)

        def send(event, data):
            result.messages.append((event, data))
            if emit is not None:
                try:
                    emit(event, data)
                except Exception:  # a broken listener must not fail the job
                    log.exception("event listener failed on %s", event)

        if not validated:
            check = validate_prompt(self.registry, prompt, outputs)
            if not check.ok:
                result.error = {"type": "validation", "validation": check.error, "node_errors": check.node_errors}
                return result
            prompt, outputs = check.prompt, check.outputs
        else:
            prompt = {str(k): v for k, v in prompt.items()}
            outputs = [str(o) for o in (outputs or [])]

        self.interrupt_flag.clear()
        send("execution_start", {"prompt_id": prompt_id, "timestamp": _now_ms()})
        run = _Run(self, prompt, prompt_id, extra_data, send, emit_preview, preview_method, result)
        try:
            run.start(outputs)
            send("execution_cached", {"nodes": list(result.cached), "prompt_id": prompt_id,
                                      "timestamp": _now_ms()})
            run.resend_cached_ui()
            run.loop()
        except progress.Interrupted:
            result.interrupted = True
            node_id = run.current
            send("execution_interrupted", {
                "prompt_id": prompt_id, "node_id": node_id,
                "node_type": prompt[node_id]["class_type"] if node_id else None,
                "executed": list(result.executed), "timestamp": _now_ms()})
        except NodeError as e:
            tb = traceback.format_exception(type(e.exc), e.exc, e.exc.__traceback__)
            message = str(e.exc) or exception_type_name(e.exc)
            if _is_oom(e.exc):
                message += ("\nThis error means you ran out of memory on your GPU. Try a smaller image, "
                            "a smaller batch, or --lowvram.")
            data = {"prompt_id": prompt_id, "node_id": e.node_id, "node_type": e.class_type,
                    "executed": list(result.executed), "exception_message": message,
                    "exception_type": exception_type_name(e.exc), "traceback": tb,
                    "current_inputs": e.inputs, "current_outputs": list(run.values), "timestamp": _now_ms()}
            result.error = data
            send("execution_error", data)
        else:
            result.success = True
            send("execution_success", {"prompt_id": prompt_id, "timestamp": _now_ms()})
        finally:
            self.cache.end_prompt(run.signatures.values())
            send("executing", {"node": None, "prompt_id": prompt_id})
        return result


def _is_oom(exc) -> bool:
    name = type(exc).__name__
    return name == "OutOfMemoryError" or (isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


class _Run:
    """State of one prompt's execution; lives only inside ``Executor.execute``."""

    def __init__(self, executor, prompt, prompt_id, extra_data, send, emit_preview, preview_method, result):
        self.ex = executor
        self.registry = executor.registry
        self.prompt = prompt
        self.prompt_id = prompt_id
        self.extra_data = extra_data
        self.send = send
        self.emit_preview = emit_preview
        self.preview_method = preview_method
        self.result = result
        self.values: dict = {}  # node id -> tuple of output lists (this prompt)
        self.signatures: dict = {}  # node id -> Signature
        self.lazy_requested: dict = {}  # node id -> set of lazy input names pulled in
        self.current = None
        self._declared: dict = {}

    # --- signatures ----------------------------------------------------------------------------
    def declared(self, class_type):
        return self._class_info(class_type)[0]

    def hidden(self, class_type) -> dict:
        return self._class_info(class_type)[1]

    def _class_info(self, class_type):
        """INPUT_TYPES may scan model folders, so it is read once per class per prompt."""
        info = self._declared.get(class_type)
        if info is None:
            types = self.registry.get(class_type).INPUT_TYPES()
            info = self._declared[class_type] = (declared_inputs(types), dict(types.get("hidden") or {}))
        return info

    def signature(self, node_id) -> Signature:
        sig = self.signatures.get(node_id)
        if sig is not None:
            return sig
        # iterative post-order so deep chains do not hit the recursion limit
        stack = [node_id]
        while stack:
            nid = stack[-1]
            if nid in self.signatures:
                stack.pop()
                continue
            pending = [str(v[0]) for v in self.prompt[nid]["inputs"].values()
                       if is_link(v) and str(v[0]) not in self.signatures]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            self.signatures[nid] = self._own_signature(nid)
        return self.signatures[node_id]

    def _own_signature(self, node_id) -> Signature:
        node = self.prompt[node_id]
        class_type = node["class_type"]
        cls = self.registry.get(class_type)
        inputs = node["inputs"]
        upstream = tuple(self.signatures[str(v[0])] for v in inputs.values() if is_link(v))
        changed = self._is_changed(cls, node_id, inputs)
        memo = self.ex._sig_memo.get(node_id)
        if memo is not None and changed is not _ALWAYS and memo[0] == class_type and memo[1] == inputs \
                and memo[2] == upstream and memo[3] == changed:
            return memo[4]
        parts = []
        for name in sorted(inputs):
            value = inputs[name]
            if is_link(value):
                parts.append((name, self.signatures[str(value[0])], value[1]))
            else:
                parts.append((name, freeze(value)))
        per_node = getattr(cls, "NOT_IDEMPOTENT", False) or "UNIQUE_ID" in self.hidden(class_type).values()
        key = (class_type, changed if changed is not _ALWAYS else object(), node_id if per_node else None,
               tuple(parts))
        sig = self.ex.cache.interner.intern(Signature(key))
        self.ex._sig_memo[node_id] = (class_type, dict(inputs), upstream, changed, sig)
        return sig

    def _is_changed(self, cls, node_id, inputs):
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
        except Exception:
            log.warning("IS_CHANGED of node #%s raised; it will always run", node_id, exc_info=True)
            return _ALWAYS
        if isinstance(value, float) and math.isnan(value):
            return _ALWAYS
        return freeze(value)

    # --- scheduling ----------------------------------------------------------------------------
    def start(self, outputs):
        self.outputs = outputs
        self.pending: set = set()
        self.waiting_on: dict = {}  # node id -> number of unfinished sources
        self.dependents: dict = {}  # source id -> [node ids]
        self.ready: deque = deque()
        cache = self.ex.cache
        for node_id in self.prompt:
            if cache.get(self.signature(node_id)) is not None:
                self.result.cached.append(node_id)  # docs/comfy-api.md §2: every prompt node already cached
        self._add_needed(outputs)

    def _cached_value(self, node_id):
        entry = self.ex.cache.get(self.signatures[node_id])
        if entry is None:
            return False
        self.values[node_id] = entry[0]
        if entry[1] is not None:
            self.result.outputs[node_id] = entry[1]
        return True

    def _add_needed(self, roots, extra_edges=()):
        """Pull ``roots`` and their uncached non-lazy upstream nodes into the schedule."""
        stack = list(roots)
        new = []
        while stack:
            nid = stack.pop()
            if nid in self.values or nid in self.pending:
                continue
            self.signature(nid)
            if self._cached_value(nid):
                continue
            self.pending.add(nid)
            new.append(nid)
            stack.extend(self._sources(nid))
        for nid in new:
            srcs = {s for s in self._sources(nid) if s not in self.values}
            self.waiting_on[nid] = len(srcs)
            for s in srcs:
                self.dependents.setdefault(s, []).append(nid)
        for src, nid in extra_edges:
            if src not in self.values:
                self.waiting_on[nid] = self.waiting_on.get(nid, 0) + 1
                self.dependents.setdefault(src, []).append(nid)
        for nid in reversed(new):
            if self.waiting_on[nid] == 0:
                self.ready.append(nid)

    def _sources(self, node_id):
        node = self.prompt[node_id]
        declared = self.declared(node["class_type"])
        requested = self.lazy_requested.get(node_id, ())
        out = []
        for name, value in node["inputs"].items():
            if is_link(value):
                opts = declared.get(name, (None, None, {}))[2]
                if opts.get("lazy") and name not in requested:
                    continue
                out.append(str(value[0]))
        return out

    def resend_cached_ui(self):
        for node_id, ui in list(self.result.outputs.items()):
            if node_id in self.values:
                self.send("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                       "prompt_id": self.prompt_id})

    def loop(self):
        while self.ready:
            node_id = self.ready.popleft()
            if node_id in self.values:
                continue
            if self.ex.interrupt_flag.is_set():
                raise progress.Interrupted()
            if self._needs_lazy(node_id):
                continue
            self.pending.discard(node_id)
            self._run_node(node_id)
            for dep in self.dependents.pop(node_id, ()):
                self.waiting_on[dep] -= 1
                if self.waiting_on[dep] == 0:
                    self.ready.append(dep)
        missing = [o for o in self.outputs if o not in self.values]
        if missing:  # only a cycle created through lazy inputs can leave nodes unscheduled
            raise NodeError(missing[0], self.prompt[missing[0]]["class_type"],
                            DependencyCycleError(f"nodes {missing} could not be scheduled"), {})

    # --- lazy inputs ---------------------------------------------------------------------------
    def _needs_lazy(self, node_id) -> bool:
        node = self.prompt[node_id]
        cls = self.registry.get(node["class_type"])
        if not hasattr(cls, "check_lazy_status"):
            return False
        declared = self.declared(node["class_type"])
        lazy = [n for n, (_s, _t, o) in declared.items() if o.get("lazy") and is_link(node["inputs"].get(n))]
        if not lazy:
            return False
        kwargs = self._gather_inputs(node_id, allow_missing=True)
        obj = self._instance(node_id, cls)
        try:
            needed = call_maybe_async(obj.check_lazy_status, **{k: v[0] if len(v) == 1 else v
                                                                  for k, v in kwargs.items()})
        except Exception as e:
            raise NodeError(node_id, node["class_type"], e, format_inputs(kwargs)) from e
        needed = [n for n in (needed or []) if n in lazy and n not in self.lazy_requested.get(node_id, set())]
        if not needed:
            return False
        self.lazy_requested.setdefault(node_id, set()).update(needed)
        sources = [str(node["inputs"][n][0]) for n in needed]
        self._add_needed(sources, extra_edges=[(s, node_id) for s in sources])
        if self.waiting_on.get(node_id, 0) == 0:
            self.ready.append(node_id)
        return True

    # --- running one node ----------------------------------------------------------------------
    def _instance(self, node_id, cls):
        key = (node_id, cls)
        obj = self.ex._instances.get(key)
        if obj is None:
            obj = self.ex._instances[key] = cls()
        return obj

    def _gather_inputs(self, node_id, allow_missing=False) -> dict:
        """Every input as a list of values (docs/comfy-api.md §5.4), hidden inputs included."""
        node = self.prompt[node_id]
        kwargs = {}
        declared = self.declared(node["class_type"])
        for name, value in node["inputs"].items():
            if name not in declared:
                continue  # unknown input names are ignored
            if is_link(value):
                src = str(value[0])
                if src not in self.values:
                    if allow_missing or declared[name][2].get("lazy"):
                        kwargs[name] = [None]  # a lazy input nobody asked for arrives as None
                        continue
                    raise KeyError(f"input {name!r} of node #{node_id} needs node #{src}, which did not run")
                kwargs[name] = self.values[src][value[1]]
            else:
                kwargs[name] = [unwrap_value(value)]
        for name, kind in self.hidden(node["class_type"]).items():
            if kind == "PROMPT":
                kwargs[name] = [self.prompt]
            elif kind == "EXTRA_PNGINFO":
                kwargs[name] = [self.extra_data.get("extra_pnginfo")]
            elif kind == "UNIQUE_ID":
                kwargs[name] = [node_id]
        return kwargs

    def _run_node(self, node_id):
        node = self.prompt[node_id]
        class_type = node["class_type"]
        cls = self.registry.get(class_type)
        self.current = node_id
        shared = self.ex.cache.get(self.signatures[node_id])
        if shared is not None:  # an identical node earlier in this prompt already computed it
            self.values[node_id] = shared[0]
            if shared[1] is not None:
                self.result.outputs[node_id] = shared[1]
            return
        self.send("executing", {"node": node_id, "display_node": node_id, "prompt_id": self.prompt_id})
        kwargs = self._gather_inputs(node_id)
        blocked = first_blocker(kwargs)
        if blocked is not None:
            if blocked.message:
                raise NodeError(node_id, class_type, RuntimeError(blocked.message), format_inputs(kwargs))
            n_out = len(cls.RETURN_TYPES)
            self.values[node_id] = tuple([blocked] for _ in range(n_out))
            return
        obj = self._instance(node_id, cls)
        ctx = progress.JobContext(self.prompt_id, node_id, self.ex.interrupt_flag, self.send,
                                  self.emit_preview, self.preview_method)
        try:
            with progress.job_context(ctx):
                outputs, ui = map_over_lists(obj, cls, kwargs)
        except progress.Interrupted:
            raise
        except Exception as e:
            raise NodeError(node_id, class_type, e, format_inputs(kwargs)) from e
        self.values[node_id] = outputs
        self.result.executed.append(node_id)
        self.ex.cache.put(self.signatures[node_id], outputs, ui)
        if ui is not None:
            self.result.outputs[node_id] = ui
            self.send("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                   "prompt_id": self.prompt_id})


class DependencyCycleError(Exception):
    pass


_ALWAYS = object()  # IS_CHANGED said NaN (or raised): never served from cache
