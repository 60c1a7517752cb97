"""Workflow formats: tell the UI format from the API ("prompt") format and turn either into a prompt.

Every entry point (``/prompt``, ``main.py run``, tests) accepts both formats: :func:`as_prompt` takes
parsed JSON, :func:`load_workflow_file` a ``.json`` file or a PNG saved with ``prompt``/``workflow``
text chunks (docs/comfy-api.md §8). The UI → API conversion itself lives in :mod:`core.workflow.ui`.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from core.workflow.png import PNG_SIGNATURE, read_png_text
from core.workflow.ui import VIRTUAL_TYPES, WorkflowError, convert
from core.workflow.widgets import process_dynamic_prompt

__all__ = ["WorkflowError", "VIRTUAL_TYPES", "is_ui_workflow", "is_api_prompt", "ui_to_api", "as_prompt",
           "load_workflow_file", "read_workflow_file", "read_png_text", "process_dynamic_prompt"]


def is_ui_workflow(data) -> bool:
    """True for the canvas format (a ``nodes`` list); API prompts map ids to node dicts instead."""
    return isinstance(data, dict) and isinstance(data.get("nodes"), list)


def is_api_prompt(data) -> bool:
    return isinstance(data, dict) and all(
        isinstance(v, dict) and isinstance(v.get("class_type"), str) for v in data.values())


def ui_to_api(workflow: dict, object_info: dict, rng: random.Random | None = None) -> dict:
    """Convert a UI workflow to the API prompt the official frontend would queue.

    ``object_info`` is the ``/object_info`` mapping of the node classes available (built-in and
    custom); ``rng`` seeds the random choices of ``{a|b}`` dynamic prompts.
    """
    if not is_ui_workflow(workflow):
        raise WorkflowError("not a UI workflow: expected an object with a 'nodes' list")
    return convert(workflow, object_info, rng)


def as_prompt(data, object_info: dict, rng: random.Random | None = None) -> tuple[dict, dict | None]:
    """(prompt, ui_workflow_or_None) from a UI workflow, an API prompt or a ``/prompt`` request body."""
    data, ui = _unwrap(data)
    if data is ui:
        return ui_to_api(ui, object_info, rng), ui
    return data, ui


def read_workflow_file(path) -> tuple[dict, dict | None]:
    """(data, ui_workflow_or_None) from a JSON file or a PNG's metadata, before any conversion.

    ``data`` is an API prompt, or the UI workflow itself when that is all the file holds (convert it
    with :func:`ui_to_api` against the catalogue of whoever runs it). A PNG's ``prompt`` chunk is the
    exact prompt that produced the image, so it wins over its ``workflow`` chunk (re-converting that
    would re-roll dynamic prompts).
    """
    path = Path(path)
    if not path.is_file():
        raise WorkflowError(f"workflow file not found: {path}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise WorkflowError(f"cannot read workflow file {path}: {e}") from e
    if raw.startswith(PNG_SIGNATURE):
        chunks = read_png_text(raw)
        workflow = _json_chunk(chunks, "workflow", path)
        prompt = _json_chunk(chunks, "prompt", path)
        if prompt is not None:
            if not is_api_prompt(prompt):
                raise WorkflowError(f"{path}: the PNG 'prompt' metadata is not an API prompt")
            return prompt, workflow if is_ui_workflow(workflow) else None
        if workflow is None:
            raise WorkflowError(f"{path}: PNG has no 'workflow' or 'prompt' metadata")
        data = workflow
    else:
        try:
            data = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WorkflowError(f"{path}: not valid JSON ({e})") from e
    try:
        return _unwrap(data)
    except WorkflowError as e:
        raise WorkflowError(f"{path}: {e}") from e


def _unwrap(data) -> tuple[dict, dict | None]:
    """A UI workflow, an API prompt or a ``/prompt`` request body -> (UI workflow or API prompt, UI or None)."""
    if is_ui_workflow(data):
        return data, data
    if isinstance(data, dict) and isinstance(data.get("prompt"), dict) and "class_type" not in data["prompt"]:
        workflow = ((data.get("extra_data") or {}).get("extra_pnginfo") or {}).get("workflow")
        inner, inner_ui = _unwrap(data["prompt"])
        return inner, inner_ui or (workflow if is_ui_workflow(workflow) else None)
    if is_api_prompt(data):
        return data, None
    raise WorkflowError("neither a UI workflow (no 'nodes' list) nor an API prompt "
                        "(every value must be an object with a 'class_type')")


def load_workflow_file(path, object_info: dict, rng: random.Random | None = None) -> tuple[dict, dict | None]:
    """(prompt, ui_workflow_or_None) from a JSON file or a PNG's metadata, a UI workflow converted."""
    data, ui = read_workflow_file(path)
    if data is not ui:
        return data, ui
    try:
        return ui_to_api(ui, object_info, rng), ui
    except WorkflowError as e:
        raise WorkflowError(f"{path}: {e}") from e


def _json_chunk(chunks: dict, key: str, path):
    if key not in chunks:
        return None
    try:
        return json.loads(chunks[key])
    except json.JSONDecodeError as e:
        raise WorkflowError(f"{path}: PNG '{key}' metadata is not valid JSON ({e})") from e
