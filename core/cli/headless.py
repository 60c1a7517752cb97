"""``main.py run WORKFLOW``: load, override, validate and execute a workflow in this process."""
from __future__ import annotations

import json
import logging
import sys
import time
import uuid

from core import paths
from core.cli import flags as cli
from core.execution.executor import Executor
from core.execution.validate import describe, validate_prompt

log = logging.getLogger(__name__)


class WorkflowError(Exception):
    pass


def load_prompt(registry, path) -> tuple:
    """(API prompt, UI workflow or None) from a UI/API JSON file or a PNG carrying one."""
    from core.workflow import formats

    try:
        return formats.load_workflow_file(path, registry.object_info())
    except formats.WorkflowError as e:  # its message names the file already
        raise WorkflowError(str(e)) from e
    except (ValueError, KeyError, TypeError) as e:  # a malformed workflow the converter did not foresee
        raise WorkflowError(f"{path}: {type(e).__name__}: {e}") from e


def apply_overrides(prompt: dict, sets) -> None:
    try:
        cli.apply_sets(prompt, sets)
    except ValueError as e:
        raise WorkflowError(str(e)) from None


class ProgressPrinter:
    """One status line on stderr: the running node and its step bar."""

    def __init__(self, prompt, stream=sys.stderr, enabled=True):
        self.prompt, self.stream, self.enabled = prompt, stream, enabled and stream.isatty()
        self.total = len(prompt)
        self.done = 0
        self.node = None

    def __call__(self, event, data):
        if event == "executing" and data.get("node") is not None:
            self.node = data.get("display_node") or data["node"]  # nodes an expansion added show as their parent
            self.done += 1
            class_type = self.prompt.get(self.node, {}).get("class_type", "")
            self._line(f"[{self.done}/{self.total}] #{self.node} {class_type}")
        elif event == "progress":
            width = 30
            filled = int(width * data["value"] / max(1, data["max"]))
            bar = "█" * filled + "░" * (width - filled)
            node = data.get("node") or self.node
            self._line(f"[{self.done}/{self.total}] #{node} {self.prompt.get(node, {}).get('class_type', '')} "
                       f"{bar} {data['value']}/{data['max']}")
        elif event == "execution_cached" and data.get("nodes"):
            self.done += len(data["nodes"])

    def _line(self, text):
        if self.enabled:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()

    def finish(self):
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def output_files(outputs: dict) -> list:
    folders = paths.get()
    files = []
    for ui in outputs.values():
        for kind in ("images", "gifs", "audio", "latents", "files"):
            for item in ui.get(kind, []) or []:
                if isinstance(item, dict) and "filename" in item:
                    root = folders.directory_for(item.get("type", "output"))
                    files.append(root / item.get("subfolder", "") / item["filename"])
    return files


def run_file(registry, args) -> int:
    err = sys.stderr
    try:
        prompt, ui_workflow = load_prompt(registry, args.workflow)
        apply_overrides(prompt, args.set)
    except WorkflowError as e:
        print(f"error: {e}", file=err)
        return 2
    check = validate_prompt(registry, prompt)
    if check.node_errors or not check.ok:
        if check.error:
            print(f"error: {check.error['message']}", file=err)
        for node_id, entry in check.node_errors.items():
            for line in describe(node_id, entry["class_type"], entry["errors"]):
                print(f"  {line}", file=err)
        if not check.ok:
            return 2
    policy, size = cli.cache_policy(args)
    executor = Executor(registry, cache=policy, lru_size=size)
    extra = {"extra_pnginfo": {"workflow": ui_workflow}} if ui_workflow else {}
    printer = ProgressPrinter(check.prompt, enabled=not args.no_progress)
    started = time.perf_counter()
    result = executor.execute(check.prompt, str(uuid.uuid4()), extra, check.outputs, emit=printer,
                              preview_method="none", validated=True)
    printer.finish()
    if result.interrupted:
        print("interrupted", file=err)
        return 130
    if not result.success:
        e = result.error
        print(f"error: {e['node_type']} #{e['node_id']} failed: {e['exception_type']}: {e['exception_message']}",
              file=err)
        if log.isEnabledFor(logging.DEBUG):
            print("".join(e["traceback"]), file=err)
        return 1
    for path in output_files(result.outputs):
        print(path)
    log.info("done in %.2f s (%d nodes run, %d cached)", time.perf_counter() - started,
             len(result.executed), len(result.cached))
    non_file = {k: v for k, v in result.outputs.items() if not output_files({k: v})}
    if non_file:
        print(json.dumps(non_file, default=str))
    return 0
