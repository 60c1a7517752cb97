"""Load real ComfyUI custom node packs through our loader and report, per pack, how many nodes register.

    python scripts/check_packs.py /tmp/packs/custom_nodes [--json out.json] [--workflows]

The packs stay wherever they are (never copied into this repository). A fresh base directory is made
under /tmp with its own models/, input/, output/ folders; the packs' folder is the custom node folder.
For each pack: nodes registered (under ``custom_nodes.<pack>``) / entries of its NODE_CLASS_MAPPINGS,
nodes whose /object_info entry fails, the import error if any, and whether its WEB_DIRECTORY is known.
With ``--workflows`` a tiny SD1.5 checkpoint is written to the base directory and a small workflow per
pack (scripts/pack_workflows.py) runs through the executor. The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packs", help="folder holding the packs (a custom_nodes folder)")
    parser.add_argument("--base", help="base directory (default: a new temp folder)")
    parser.add_argument("--json", help="write the per-pack report here")
    parser.add_argument("--workflows", action="store_true", help="run one small workflow per pack")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")

    import torch  # noqa: F401  (as main.py: torch before any pack)

    from core import paths
    from core.custom_nodes import load_custom_nodes, module_name, pack_entries
    from core.execution.registry import NodeRegistry
    import nodes

    base = Path(args.base or tempfile.mkdtemp(prefix="lf-packs-"))
    paths.configure(base=base)
    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    started = time.perf_counter()
    load_custom_nodes(registry, [args.packs])
    load_s = time.perf_counter() - started

    report = {}
    for name, _path in pack_entries([args.packs]):
        mod_name = module_name(name)
        module = sys.modules.get(mod_name)
        mappings = getattr(module, "NODE_CLASS_MAPPINGS", None) if module is not None else None
        total = len(mappings) if isinstance(mappings, dict) else None
        mine = [n for n, m in registry.modules.items() if m == mod_name]
        broken = []
        for n in mine:
            try:
                json.dumps(registry.node_info(n))
            except Exception as e:  # noqa: BLE001  (reported per node)
                broken.append(f"{n}: {type(e).__name__}: {e}")
        failures = [f.error for f in registry.failures if f.pack == name]
        report[name] = {"registered": len(mine) - len(broken), "total": total, "object_info_errors": broken,
                        "errors": failures, "web": registry.web_directories.get(name)}
        shown = f"{len(mine) - len(broken)}/{total if total is not None else '?'}"
        print(f"{name:40s} {shown:>9s}  web={'yes' if report[name]['web'] else 'no'}"
              + (f"  errors: {failures[0][:300]}" if failures else ""))
        for b in broken[:5]:
            print(f"    object_info: {b[:200]}")
    if args.workflows:
        run_workflows(registry, report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    summary = {"packs": len(report), "load_s": round(load_s, 2),
               "registered": sum(r["registered"] for r in report.values()),
               "total": sum(r["total"] or 0 for r in report.values())}
    print(json.dumps(summary))
    return 0


def run_workflows(registry, report: dict) -> None:
    """One small workflow per pack through the executor; the result goes into ``report[pack]["workflow"]``."""
    from core import paths
    from core.execution.executor import Executor
    from core.models.tiny import write_tiny_checkpoint

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pack_workflows import CKPT, WORKFLOWS, fill_defaults

    write_tiny_checkpoint(Path(paths.get().models_dir) / "checkpoints" / CKPT, "sd15")
    for pack, build in WORKFLOWS.items():
        if pack not in report:
            continue
        prompt = fill_defaults(registry, build())
        started = time.perf_counter()
        result = Executor(registry, cache="none").execute(prompt)
        seconds = time.perf_counter() - started
        pack_nodes = sorted({n["class_type"] for n in prompt.values()
                             if registry.modules.get(n["class_type"], "nodes") != "nodes"})
        if result.success:
            outcome = f"ok ({len(result.executed)} nodes, {seconds:.1f} s)"
        elif result.error and result.error.get("type") == "validation":
            details = "; ".join(f"{e.get('message')}: {e.get('details')}" for ne in result.error["node_errors"].values()
                                for e in ne.get("errors", []))
            outcome = f"invalid: {result.error['validation'].get('message')} {details}"[:400]
        else:
            err = result.error or {}
            outcome = f"failed in {err.get('node_type')}: {err.get('exception_message', '')}"[:400]
        report[pack]["workflow"] = {"nodes": pack_nodes, "result": outcome}
        print(f"workflow {pack:32s} {outcome}  [{', '.join(pack_nodes)}]")


if __name__ == "__main__":
    sys.exit(main())
