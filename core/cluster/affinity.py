"""Model affinity: which pending job an idle worker takes (docs/cluster.md, "How a worker picks its job").

A job's models are the model files its prompt names: every string input value that ends in a model
file extension (``ckpt_name``, ``unet_name``, ``lora_name``, a custom node's own loader input, ...).
A worker *holds* the models of the last job it ran (what its executor's cache and devices still have
loaded); ``/free`` with ``free_memory`` empties that.

An idle worker looks at the first ``window`` pending jobs in queue order and takes:
  0. the first job put back after its worker died (it had already started once: it goes first);
  1. the first whose models it already holds (no load at all);
  2. else the first whose models no other live worker holds (it would load them anyway);
  3. else the first job (nobody stays idle while work waits).
A job put back after its worker died is not given to that worker again while another one is alive.
"""
from __future__ import annotations

MODEL_EXTENSIONS = (".safetensors", ".sft", ".ckpt", ".pt", ".pt2", ".pth", ".bin", ".gguf", ".onnx")


def models_of(prompt: dict) -> frozenset:
    """The model file names a prompt's nodes take as inputs."""
    found = set()
    for node in prompt.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        if not isinstance(inputs, dict):
            continue
        for value in inputs.values():
            if isinstance(value, str) and value.lower().endswith(MODEL_EXTENSIONS):
                found.add(value)
    return frozenset(found)


def choose(jobs: list, worker: str, held: dict) -> int | None:
    """Index into ``jobs`` (pending, queue order) of the job ``worker`` should run; None for none.

    ``held`` maps each live worker's id to the frozenset of models it holds.
    """
    mine = held.get(worker, frozenset())
    others = [models for wid, models in held.items() if wid != worker]
    allowed = [i for i, job in enumerate(jobs) if not _avoid(job, worker, held)]
    if not allowed:
        return None
    for i in allowed:
        if jobs[i].attempts:
            return i
    needs = {i: models_of(jobs[i].prompt) for i in allowed}
    for i in allowed:
        if needs[i] and needs[i] <= mine:
            return i
    for i in allowed:
        if not any(needs[i] & models for models in others):
            return i
    return allowed[0]


def _avoid(job, worker: str, held: dict) -> bool:
    """A retried job skips the worker it died on while any other worker is alive."""
    return bool(job.attempts) and job.worker == worker and any(w != worker for w in held)
