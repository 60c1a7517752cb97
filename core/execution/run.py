"""One prompt's execution: dependency order, cache lookups, lazy inputs, async nodes and expansions.

Nodes become ready when every source they need has a value. A node whose FUNCTION is async leaves
tasks behind and the loop goes on with other ready nodes, returning to it once its tasks finish; a
node that returns an expansion has its subgraph spliced into the run and is finished, from the
subgraph's outputs, after them (docs/comfy-api.md §5.6). Lives only inside ``Executor.execute``.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque

from core.execution import node_inputs, progress
from core.execution.expansion import DynamicPrompt
from core.execution.graph import find_cycle, is_link
from core.execution.node_call import (ExecutionBlocker, collect_returns, format_inputs, maybe_await, pending_tasks,
                                      resolve, split_calls, start_calls)
from core.execution.node_states import NodeStates
from core.execution.signature import Signer


class NodeError(Exception):
    def __init__(self, node_id, class_type, exc, inputs):
        super().__init__(str(exc))
        self.node_id, self.class_type, self.exc, self.inputs = node_id, class_type, exc, inputs


class DependencyCycleError(Exception):
    pass


class DuplicateNodeError(Exception):
    pass


class PromptRun:
    def __init__(self, executor, prompt, prompt_id, extra_data, send, emit_preview, preview_method, result):
        self.ex = executor
        self.registry = executor.registry
        self.dyn = DynamicPrompt(prompt)
        self.prompt = dict(prompt)  # submitted plus ephemeral nodes
        self.prompt_id = prompt_id
        self.extra_data = extra_data
        self.send = send
        self.emit_preview = emit_preview
        self.preview_method = preview_method
        self.result = result
        self.values: dict = {}  # node id -> tuple of output lists (this prompt)
        self.sign = Signer(self)
        self.lazy_requested: dict = {}  # node id -> set of lazy input names pulled in
        self.waiting_async: dict = {}  # node id -> (per-call results with Tasks, inputs)
        self.expanding: dict = {}  # node id -> (per-call (graph, result), ui)
        self.states = NodeStates(prompt_id, self.dyn, send)
        self.current = None
        self._declared: dict = {}

    @property
    def signatures(self):
        return self.sign.signatures

    # --- class info ----------------------------------------------------------------------------
    def declared(self, class_type):
        return self._class_info(class_type)[0]

    def hidden(self, class_type) -> dict:
        return self._class_info(class_type)[1]

    def _class_info(self, class_type):
        """INPUT_TYPES may scan model folders, so it is read once per class per prompt."""
        info = self._declared.get(class_type)
        if info is None:
            info = self._declared[class_type] = node_inputs.class_inputs(self.registry.get(class_type).INPUT_TYPES())
        return info

    def display_id(self, node_id):
        return self.dyn.get_display_node_id(node_id)

    def node_send(self, event, data):
        """Events from inside a node (ProgressBar): progress also updates progress_state."""
        self.send(event, data)
        if event == "progress" and data.get("node") in self.states:
            self.states.set(data["node"], "running", data.get("value"), data.get("max"))

    # --- scheduling ----------------------------------------------------------------------------
    def start(self, outputs):
        self.outputs = outputs
        self.pending: set = set()
        self.waiting_on: dict = {}  # node id -> number of unfinished sources
        self.dependents: dict = {}  # source id -> [node ids]
        self.ready: deque = deque()
        cache = self.ex.cache
        for node_id in self.dyn.original_prompt:
            if cache.get(self.sign(node_id)) is not None:
                self.result.cached.append(node_id)  # docs/comfy-api.md §2: every prompt node already cached
        self._add_needed(outputs)

    def _cached_value(self, node_id):
        entry = self.ex.cache.get(self.sign(node_id))
        if entry is None:
            return False
        self.values[node_id] = entry[0]
        if entry[1] is not None:
            self.result.outputs[node_id] = entry[1]
        self.states.set(node_id, "finished")
        return True

    def _add_needed(self, roots, extra_edges=()):
        """Pull ``roots`` and their uncached non-lazy upstream nodes into the schedule."""
        stack = list(roots)
        new = []
        while stack:
            nid = stack.pop()
            if nid in self.values or nid in self.pending:
                continue
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

    def _done(self, node_id):
        self.pending.discard(node_id)
        for dep in self.dependents.pop(node_id, ()):
            self.waiting_on[dep] -= 1
            if self.waiting_on[dep] == 0:
                self.ready.append(dep)

    def resend_cached_ui(self):
        for node_id, ui in list(self.result.outputs.items()):
            if node_id in self.values:
                self.send("executed", {"node": node_id, "display_node": self.display_id(node_id), "output": ui,
                                       "prompt_id": self.prompt_id})
        self.states.announce()

    async def loop(self):
        try:
            while True:
                while self.ready:
                    node_id = self.ready.popleft()
                    if node_id in self.values:
                        continue
                    if self.ex.interrupt_flag.is_set():
                        raise progress.Interrupted()
                    if await self._step(node_id):
                        self._done(node_id)
                if not self.waiting_async:
                    break
                await self._wait_for_tasks()
        finally:  # a failure or interrupt leaves other nodes' tasks running: stop them before returning
            left = [t for results, _inputs in self.waiting_async.values() for t in pending_tasks(results)]
            for task in left:
                task.cancel()
            if left:
                await asyncio.gather(*left, return_exceptions=True)
        missing = [o for o in self.outputs if o not in self.values]
        if missing:  # only a cycle created through lazy inputs can leave nodes unscheduled
            raise NodeError(missing[0], self.prompt[missing[0]]["class_type"],
                            DependencyCycleError(f"nodes {missing} could not be scheduled"), {})

    async def _wait_for_tasks(self):
        tasks = [t for results, _i in self.waiting_async.values() for t in pending_tasks(results)]
        if tasks:
            # a short timeout so an interrupt is noticed while async nodes wait
            await asyncio.wait(tasks, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
        if self.ex.interrupt_flag.is_set():
            raise progress.Interrupted()
        self.states.flush()
        for node_id, (results, _inputs) in list(self.waiting_async.items()):
            if not pending_tasks(results):
                self.ready.append(node_id)

    async def _step(self, node_id) -> bool:
        """Advance one ready node; True once it has its values."""
        node = self.prompt[node_id]
        class_type = node["class_type"]
        cls = self.registry.get(class_type)
        self.current = node_id
        if node_id in self.waiting_async:
            results, inputs = self.waiting_async.pop(node_id)
            try:
                results = resolve(results)
            except Exception as e:
                raise NodeError(node_id, class_type, e, format_inputs(inputs)) from e
            return self._finish(node_id, cls, results, inputs)
        if node_id in self.expanding:
            return self._finish_expansion(node_id, cls)
        shared = self.ex.cache.get(self.sign(node_id))
        if shared is not None:  # an identical node earlier in this prompt already computed it
            self.values[node_id] = shared[0]
            if shared[1] is not None:
                self.result.outputs[node_id] = shared[1]
            self.states.set(node_id, "finished")
            return True
        if await self._needs_lazy(node_id, cls):
            return False
        self.send("executing", {"node": node_id, "display_node": self.display_id(node_id),
                                "prompt_id": self.prompt_id})
        self.states.set(node_id, "running")
        inputs = self._gather_inputs(node_id)
        obj = self._instance(node_id, cls)

        reported = []

        def on_block(blocker):
            """A blocker with a message is reported as an error of this node, as ComfyUI does, then
            blocks silently like any other: the rest of the prompt still runs."""
            if blocker.message is None:
                return blocker
            if not reported:
                reported.append(blocker)
                self.send("execution_error", {
                    "prompt_id": self.prompt_id, "node_id": self.dyn.get_real_node_id(node_id),
                    "node_type": class_type, "executed": list(self.result.executed),
                    "exception_message": f"Execution Blocked: {blocker.message}",
                    "exception_type": "ExecutionBlocked", "traceback": [], "current_inputs": [],
                    "current_outputs": [], "timestamp": int(time.time() * 1000)},
                    record=False)  # not a failure of the prompt: its history status stays as the run ends
            return ExecutionBlocker(None)

        try:
            with progress.job_context(self._job(node_id)):
                results = await start_calls(obj, cls, getattr(cls, "FUNCTION", None), inputs, node_id, on_block)
        except (progress.Interrupted, NodeError):
            raise
        except Exception as e:
            raise NodeError(node_id, class_type, e, format_inputs(inputs)) from e
        if pending_tasks(results):
            self.waiting_async[node_id] = (results, inputs)
            return False
        return self._finish(node_id, cls, results, inputs)

    def _job(self, node_id):
        return progress.JobContext(self.prompt_id, node_id, self.ex.interrupt_flag, self.node_send,
                                   self.emit_preview, self.preview_method)

    def _finish(self, node_id, cls, results, inputs) -> bool:
        try:
            returns = collect_returns(cls, results)
        except Exception as e:
            raise NodeError(node_id, self.prompt[node_id]["class_type"], e, format_inputs(inputs)) from e
        if returns.expansions is not None:
            self._expand(node_id, cls, returns)
            return self._finish_expansion(node_id, cls) if self.waiting_on.get(node_id, 0) == 0 else False
        self._store(node_id, returns.outputs, returns.ui)
        self.result.executed.append(node_id)
        return True

    def _store(self, node_id, outputs, ui):
        self.values[node_id] = outputs
        self.ex.cache.put(self.sign(node_id), outputs, ui)
        self.states.set(node_id, "finished")
        if ui is not None:
            self.result.outputs[node_id] = ui
            self.send("executed", {"node": node_id, "display_node": self.display_id(node_id), "output": ui,
                                   "prompt_id": self.prompt_id})

    # --- expansion -----------------------------------------------------------------------------
    def _expand(self, node_id, cls, returns):
        """Splice each call's subgraph into the run; the node waits on the links its result names."""
        class_type = self.prompt[node_id]["class_type"]
        new_ids, new_outputs, sources = [], [], []
        for graph, result in returns.expansions:
            if graph is None:
                continue
            if not isinstance(graph, dict):
                raise NodeError(node_id, class_type, TypeError("'expand' must be a graph (a dict of nodes)"), {})
            for nid, node in graph.items():
                nid = str(nid)
                if nid in self.prompt:
                    raise NodeError(node_id, class_type, DuplicateNodeError(
                        f"expansion adds node {nid!r}, which already exists; build subgraphs with GraphBuilder "
                        f"so ids are unique"), {})
                if not isinstance(node, dict) or node.get("class_type") not in self.registry:
                    raise NodeError(node_id, class_type, ValueError(
                        f"expansion node {nid!r} has unknown class_type {node.get('class_type')!r}"), {})
                node = {"class_type": node["class_type"], "inputs": dict(node.get("inputs") or {}),
                        **({"override_display_id": node["override_display_id"]}
                           if "override_display_id" in node else {})}
                self.dyn.add_ephemeral_node(nid, node, node_id, node.get("override_display_id", node_id))
                self.prompt[nid] = node
                new_ids.append(nid)
                if getattr(self.registry.get(node["class_type"]), "OUTPUT_NODE", False):
                    new_outputs.append(nid)
            for value in result:
                if is_link(value):
                    src = str(value[0])
                    if src not in self.prompt:
                        raise NodeError(node_id, class_type, ValueError(
                            f"expansion result links to node {src!r}, which is in neither the prompt nor the "
                            f"expansion"), {})
                    sources.append(src)
        for nid in new_ids:
            for name, value in self.prompt[nid]["inputs"].items():
                if is_link(value) and str(value[0]) not in self.prompt:
                    raise NodeError(node_id, class_type, ValueError(
                        f"expansion node {nid!r}, input {name!r}: linked node {value[0]!r} does not exist"), {})
        cycle = find_cycle(self.prompt, new_ids)
        if cycle:
            raise NodeError(node_id, class_type, DependencyCycleError(
                "the expanded graph has a dependency cycle: " + " -> ".join(cycle + [cycle[0]])), {})
        self.expanding[node_id] = (returns.expansions, returns.ui)
        self._add_needed(new_outputs)
        self._add_needed(sources, extra_edges=[(s, node_id) for s in dict.fromkeys(sources)])

    def _finish_expansion(self, node_id, cls) -> bool:
        """The generating node's outputs: each call's result with links replaced by the subgraph's values."""
        calls, ui = self.expanding.pop(node_id)
        per_call = []
        for graph, result in calls:
            if graph is None:
                per_call.append(result)
                continue
            resolved = []
            for value in result:
                if is_link(value):
                    resolved.append(_Linked(self.values[str(value[0])][value[1]]))
                else:
                    resolved.append(value)
            per_call.append(tuple(resolved))
        self._store(node_id, _merge_expanded(cls, per_call), ui)
        self.result.executed.append(node_id)
        return True

    # --- lazy inputs ---------------------------------------------------------------------------
    async def _needs_lazy(self, node_id, cls) -> bool:
        node = self.prompt[node_id]
        if not hasattr(cls, "check_lazy_status"):
            return False
        declared = self.declared(node["class_type"])
        lazy = [n for n, (_s, _t, o) in declared.items() if o.get("lazy") and is_link(node["inputs"].get(n))]
        if not lazy:
            return False
        inputs = self._gather_inputs(node_id, allow_missing=True)
        obj = self._instance(node_id, cls)
        needed = set()
        try:
            with progress.job_context(self._job(node_id)):
                for call in split_calls(cls, inputs):
                    if any(isinstance(v, ExecutionBlocker) for v in call.values()):
                        continue
                    got = await maybe_await(obj.check_lazy_status(**call))
                    needed.update(got or ())
        except progress.Interrupted:
            raise
        except Exception as e:
            raise NodeError(node_id, node["class_type"], e, format_inputs(inputs)) from e
        done = self.lazy_requested.get(node_id, set())
        needed = [n for n in lazy if n in needed and n not in done]
        if not needed:
            return False
        self.lazy_requested.setdefault(node_id, set()).update(needed)
        sources = [str(node["inputs"][n][0]) for n in needed]
        self._add_needed(sources, extra_edges=[(s, node_id) for s in sources])
        if self.waiting_on.get(node_id, 0) == 0:
            self.ready.append(node_id)
        return True

    # --- inputs --------------------------------------------------------------------------------
    def _instance(self, node_id, cls):
        key = (node_id, cls)
        obj = self.ex._instances.get(key)
        if obj is None:
            obj = self.ex._instances[key] = cls()
        return obj

    def _gather_inputs(self, node_id, allow_missing=False) -> dict:
        node = self.prompt[node_id]
        declared, hidden = self._class_info(node["class_type"])
        return node_inputs.gather(node_id, node, declared, hidden, self.values, self.dyn, self.extra_data,
                                  allow_missing)


class _Linked(list):
    """A result slot filled from a subgraph output: all of that output's items."""


def _merge_expanded(cls, per_call):
    """Per-output lists from an expanded node's calls; a linked slot contributes every item it got."""
    n_out = len(cls.RETURN_TYPES)
    output_is_list = tuple(getattr(cls, "OUTPUT_IS_LIST", None) or (False,) * n_out)
    per_output = [[] for _ in range(n_out)]
    for ret in per_call:
        for k in range(n_out):
            value = ret[k]
            if isinstance(value, _Linked) or (k < len(output_is_list) and output_is_list[k]
                                              and not isinstance(value, ExecutionBlocker)):
                per_output[k].extend(value)
            else:
                per_output[k].append(value)
    return tuple(per_output)
