"""Seeded random DAGs of 200 nodes: executor results equal a naive recursive evaluator's,
and a single-widget change reruns exactly the changed node's downstream closure."""
import random

import pytest

from core.execution.executor import Executor


def random_dag(seed, n=200):
    rng = random.Random(seed)
    prompt = {}
    for i in range(n):
        nid = str(i)
        if i < 5 or rng.random() < 0.25:
            prompt[nid] = {"class_type": "TestConst", "inputs": {"value": rng.randint(-50, 50)}}
        else:
            a, b = rng.sample(range(i), 2) if i > 1 else (0, 0)
            prompt[nid] = {"class_type": "TestAdd",
                           "inputs": {"a": [str(a), 0], "b": [str(b), 0], "c": rng.randint(-3, 3)}}
    sinks = [nid for nid in prompt if not any(
        v == [nid, 0] for node in prompt.values() for v in node["inputs"].values())]
    for k, s in enumerate(sinks):
        prompt[f"out{k}"] = {"class_type": "TestOutput", "inputs": {"value": [s, 0]}}
    return prompt


def naive_eval(prompt):
    """The obvious recursive definition of each node's value."""
    memo = {}

    def value(nid):
        if nid not in memo:
            node = prompt[nid]
            ins = node["inputs"]
            if node["class_type"] == "TestConst":
                memo[nid] = ins["value"]
            else:
                memo[nid] = value(ins["a"][0]) + value(ins["b"][0]) + ins["c"]
        return memo[nid]

    return {k: value(v["inputs"]["value"][0]) for k, v in prompt.items() if k.startswith("out")}


def downstream(prompt, start):
    """Every node whose value depends on ``start`` (start included)."""
    result, changed = {start}, True
    while changed:
        changed = False
        for nid, node in prompt.items():
            if nid not in result and any(isinstance(v, list) and v[0] in result for v in node["inputs"].values()):
                result.add(nid)
                changed = True
    return result


def distinct_signature_count(prompt, nodes):
    """Nodes with equal (class, inputs, upstream) compute once; count distinct ones among ``nodes``."""
    keys = {}

    def key(nid):
        if nid not in keys:
            node = prompt[nid]
            parts = tuple(sorted((k, key(v[0]) if isinstance(v, list) else v) for k, v in node["inputs"].items()))
            keys[nid] = (node["class_type"], nid if node["class_type"] == "TestOutput" else None, parts)
        return keys[nid]

    return len({key(n) for n in nodes})


@pytest.mark.parametrize("seed", range(8))
def test_random_dag_matches_naive_evaluator(registry, seed):
    prompt = random_dag(seed)
    res = Executor(registry).execute(prompt, f"dag{seed}")
    assert res.success
    got = {k: res.outputs[k]["value"][0] for k in res.outputs}
    assert got == naive_eval(prompt)


@pytest.mark.parametrize("seed", range(8))
def test_single_widget_change_hits_and_misses_exactly(registry, pack, seed):
    prompt = random_dag(seed)
    ex = Executor(registry)
    ex.execute(prompt, "first")
    rng = random.Random(1000 + seed)
    target = rng.choice([nid for nid, n in prompt.items() if n["class_type"] == "TestConst"])
    changed = {k: {"class_type": v["class_type"], "inputs": dict(v["inputs"])} for k, v in prompt.items()}
    changed[target]["inputs"]["value"] += 1000
    pack.CALLS.clear()
    res = ex.execute(changed, "second")
    assert {k: res.outputs[k]["value"][0] for k in res.outputs} == naive_eval(changed)
    affected = downstream(changed, target)
    # misses: exactly the distinct computations downstream of the change; hits: everything else
    assert sum(pack.CALLS.values()) == distinct_signature_count(changed, affected)
    assert set(res.cached) == set(changed) - affected
    assert set(res.executed) <= affected
