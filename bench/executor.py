"""Executor overhead on a 1000-node graph of trivial nodes, beside a naive recursive evaluator.

Prints validation time, first-run overhead per node, and the time of a re-run after one leaf widget
changed, each next to the naive evaluator of the same graph in the same process. Targets: overhead
under 100 µs per node; a one-leaf re-run under 5 ms. Last line: one JSON object of the figures.
"""
from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.execution.executor import Executor  # noqa: E402
from core.execution.registry import NodeRegistry  # noqa: E402
from core.execution.validate import validate_prompt  # noqa: E402

N = 1000


class Leaf:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"default": 0, "min": -10**9, "max": 10**9})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, value):
        return (value,)


class Add:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"forceInput": True}), "b": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"

    def run(self, a, b):
        return (a + b,)


class Sink:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"forceInput": True})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True

    def run(self, value):
        return {"ui": {"value": [value]}}


def build_graph(seed=0, n=N):
    """A random DAG: 200 leaves, the rest add two earlier nodes chosen near them (realistic locality)."""
    rng = random.Random(seed)
    prompt = {}
    leaves = n // 5
    for i in range(leaves):
        prompt[str(i)] = {"class_type": "Leaf", "inputs": {"value": rng.randint(0, 100)}}
    for i in range(leaves, n - 1):
        a = rng.randrange(max(0, i - 50), i)
        b = rng.randrange(0, i)
        prompt[str(i)] = {"class_type": "Add", "inputs": {"a": [str(a), 0], "b": [str(b), 0]}}
    prompt[str(n - 1)] = {"class_type": "Sink", "inputs": {"value": [str(n - 2), 0]}}
    return prompt


def naive(prompt, registry):
    """Recursive evaluation with per-run memo, calling the same node functions: the peer."""
    memo = {}
    instances = {}

    def value(nid):
        if nid in memo:
            return memo[nid]
        node = prompt[nid]
        kwargs = {k: (value(v[0])[v[1]] if isinstance(v, list) else v) for k, v in node["inputs"].items()}
        cls = registry.get(node["class_type"])
        obj = instances.setdefault(nid, cls())
        out = getattr(obj, cls.FUNCTION)(**kwargs)
        memo[nid] = out["result"] if isinstance(out, dict) and "result" in out else out
        return memo[nid]

    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    return value(str(len(prompt) - 1))


def best(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def main():
    registry = NodeRegistry()
    for cls in (Leaf, Add, Sink):
        registry.register(cls)
    prompt = build_graph()

    validate_s, _ = best(lambda: validate_prompt(registry, prompt))
    naive_s, _ = best(lambda: naive(prompt, registry))

    def first_run():
        Executor(registry).execute(prompt, "first")

    first_s, _ = best(first_run)

    ex = Executor(registry)
    ex.execute(prompt, "warm")
    rng = random.Random(1)
    leaves = [nid for nid, node in prompt.items() if node["class_type"] == "Leaf"]
    counts = []

    def rerun():
        leaf = rng.choice(leaves)
        prompt[leaf]["inputs"]["value"] += 1
        res = ex.execute(prompt, "rerun", validated=True, outputs=[str(N - 1)])
        counts.append(len(res.executed))

    rerun_s, rerun_median_s = best(rerun, repeat=21)

    def naive_rerun():
        leaf = rng.choice(leaves)
        prompt[leaf]["inputs"]["value"] += 1
        naive(prompt, registry)

    naive_rerun_s, _ = best(naive_rerun, repeat=21)

    overhead_per_node_us = max(0.0, first_s - naive_s) / N * 1e6
    figures = {
        "nodes": N,
        "validate_ms": round(validate_s * 1e3, 3),
        "validate_vs_naive_eval_ratio": round(validate_s / naive_s, 3),
        "first_run_ms": round(first_s * 1e3, 3),
        "naive_eval_ms": round(naive_s * 1e3, 3),
        "first_run_vs_naive_ratio": round(first_s / naive_s, 3),
        "overhead_per_node_us": round(overhead_per_node_us, 2),
        "one_leaf_rerun_ms": round(rerun_s * 1e3, 3),
        "one_leaf_rerun_median_ms": round(rerun_median_s * 1e3, 3),
        "one_leaf_rerun_nodes_run_median": statistics.median(counts),
        "naive_full_rerun_ms": round(naive_rerun_s * 1e3, 3),
        "one_leaf_rerun_vs_naive_ratio": round(rerun_s / naive_rerun_s, 3),
        "target_overhead_per_node_us": 100,
        "target_one_leaf_rerun_ms": 5,
    }
    print(f"validation            {figures['validate_ms']:8.2f} ms")
    print(f"naive evaluation      {figures['naive_eval_ms']:8.2f} ms")
    print(f"first run (executor)  {figures['first_run_ms']:8.2f} ms  -> {overhead_per_node_us:.1f} µs/node overhead")
    print(f"one-leaf re-run       {figures['one_leaf_rerun_ms']:8.2f} ms  (naive full re-run "
          f"{figures['naive_full_rerun_ms']:.2f} ms)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
