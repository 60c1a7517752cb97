"""Count ComfyUI's official image templates that Latentflow can load and run.

For every template of the image categories of the template package's ``index.json`` (API templates,
named ``api_*``, left out) it reports whether every node type is registered (built-in nodes; UI-only
types and subgraph ids do not count), and for those whether the workflow runs headless: converted to a
prompt, loader files replaced by tiny seeded models (core/models/tiny.py) and generated images, sizes
and step counts shrunk, validated and executed on the CPU.

    python scripts/count_templates.py [--templates DIR] [--repo PATH] [--run] [--json OUT]

``--templates`` is the package's ``templates`` folder (default: the installed
``comfyui_workflow_templates_json``); ``--repo`` counts against another checkout (e.g. an older commit
unpacked with ``git archive``). The last line printed is one JSON object with the counts.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

VIRTUAL = {"PrimitiveNode", "Reroute", "Note", "MarkdownNote"}


def templates_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    try:
        import comfyui_workflow_templates_json as pkg
    except ImportError:
        sys.exit("comfyui-workflow-templates-json is not installed; give its templates folder with --templates")
    return Path(pkg.__file__).parent / "templates"


def image_templates(folder: Path) -> list[str]:
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    names = [t["name"] for cat in index if cat.get("type") == "image" for t in cat.get("templates", [])
             if not t["name"].startswith("api_")]
    return list(dict.fromkeys(names))


def node_types(workflow: dict) -> set:
    subs = {s["id"]: s for s in (workflow.get("definitions") or {}).get("subgraphs") or []}
    nodes = list(workflow.get("nodes") or []) + [n for s in subs.values() for n in s.get("nodes") or []]
    return {n.get("type") for n in nodes if n.get("type") not in subs and n.get("type") not in VIRTUAL}


def prepare(prompt: dict, base: Path) -> str | None:
    """Tiny files under every name the prompt's loaders ask for; a reason when one cannot be made."""
    from core.models.standins import provision

    missing = provision(prompt, base)
    return "; ".join(missing) if missing else None


def shrink(prompt: dict) -> None:
    """Small sizes and few steps, so every run takes seconds on a CPU."""
    for node in prompt.values():
        kind, inputs = node["class_type"], node["inputs"]
        if kind in ("EmptyLatentImage", "EmptySD3LatentImage"):
            inputs.update(width=64, height=64, batch_size=1)
        elif kind == "KSampler" and isinstance(inputs.get("steps"), int):
            inputs["steps"] = min(inputs["steps"], 2)
        elif kind == "KSamplerAdvanced" and isinstance(inputs.get("steps"), int):
            steps = inputs["steps"]
            inputs["steps"] = 4
            for key in ("start_at_step", "end_at_step"):
                if isinstance(inputs.get(key), int):
                    inputs[key] = min(4, round(inputs[key] * 4 / max(1, steps)))
        elif kind == "ImageScaleToTotalPixels":
            inputs["megapixels"] = 0.01


def run_one(workflow: dict, registry) -> tuple[bool, str]:
    from core import paths
    from core.execution.executor import Executor
    from core.execution.validate import validate_prompt
    from core.workflow.formats import WorkflowError, ui_to_api

    try:
        prompt = ui_to_api(workflow, registry.object_info())
    except WorkflowError as e:
        return False, f"conversion: {e}"
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        paths.configure(base=base)
        try:
            reason = prepare(prompt, base)
        except ValueError as e:  # e.g. a checkpoint family this checkout has no tiny stand-in for
            reason = f"no tiny file: {e}"
        if reason:
            return False, reason
        shrink(prompt)
        check = validate_prompt(registry, prompt)
        if not check.ok:
            first = next(iter(check.node_errors.items()), None)
            detail = (f"{first[1]['class_type']} #{first[0]}: {first[1]['errors'][0]['message']}"
                      if first else check.error["message"])
            return False, f"validation: {detail}"
        try:
            result = Executor(registry).execute(check.prompt, "count", {}, check.outputs, validated=True)
        except Exception as e:  # noqa: BLE001 - a crash is one template's result, not the count's end
            return False, f"crash: {type(e).__name__}: {e}"
        if not result.success:
            err = result.error
            return False, f"{err['node_type']} #{err['node_id']}: {err['exception_type']}: {err['exception_message']}"
    return True, "ran"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", help="the template package's templates folder")
    parser.add_argument("--repo", help="import core/ and nodes/ from this checkout instead of this one")
    parser.add_argument("--run", action="store_true", help="also run every fully registered template headless")
    parser.add_argument("--json", help="write per-template results here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(args.repo).resolve() if args.repo else Path(__file__).resolve().parents[1]))
    logging.basicConfig(level=logging.ERROR)

    from core.execution.registry import NodeRegistry
    from nodes import register_builtin_nodes

    registry = NodeRegistry()
    register_builtin_nodes(registry)
    folder = templates_dir(args.templates)
    names = image_templates(folder)
    missing: Counter = Counter()
    results = {}
    for name in names:
        path = folder / f"{name}.json"
        if not path.is_file():
            continue
        workflow = json.loads(path.read_text(encoding="utf-8"))
        absent = sorted(t for t in node_types(workflow) if t not in registry)
        missing.update(absent)
        entry = {"registered": not absent, "missing": absent}
        if not absent and args.run:
            try:
                entry["runs"], entry["reason"] = run_one(workflow, registry)
            except Exception:  # noqa: BLE001
                entry["runs"], entry["reason"] = False, traceback.format_exc(limit=2)
        results[name] = entry
    registered = [n for n, e in results.items() if e["registered"]]
    runs = [n for n, e in results.items() if e.get("runs")]
    for name in registered:
        print(f"{name}: {'runs' if results[name].get('runs') else results[name].get('reason', 'not run')}")
    print("most missing node types:", ", ".join(f"{t} {c}" for t, c in missing.most_common(15)))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    summary = {"image_templates": len(results), "all_types_registered": len(registered),
               "run_headless": len(runs) if args.run else None}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
