"""Write core/compat/comfy_surface.json: the module names and top-level names of a ComfyUI checkout.

    python scripts/comfy_surface.py /path/to/ComfyUI [--out core/compat/comfy_surface.json]

Only names are recorded (module paths, top-level function/class/variable names), read with ``ast``;
no code. core/compat/missing.py uses the listing so that a ComfyUI name we do not implement fails
where a pack uses it, naming it, while a name ComfyUI never had stays an ordinary AttributeError.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

PACKAGES = ("comfy", "comfy_extras", "comfy_api", "comfy_execution", "comfy_api_nodes")
TOP_LEVEL = ("node_helpers", "latent_preview", "folder_paths", "server", "execution", "comfyui_version",
             "protocol", "nodes")


def top_level_names(source: str) -> list:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    names.add((alias.asname or alias.name).split(".")[0])
    return sorted(n for n in names if not n.startswith("__"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("comfyui")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "core/compat/comfy_surface.json"))
    args = parser.parse_args(argv)
    root = Path(args.comfyui)
    modules = {}
    files = [root / f"{n}.py" for n in TOP_LEVEL] + [f for p in PACKAGES for f in sorted((root / p).rglob("*.py"))]
    for file in files:
        if not file.is_file():
            continue
        rel = file.relative_to(root).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        try:
            modules[".".join(parts)] = top_level_names(file.read_text(encoding="utf-8"))
        except SyntaxError as e:
            print(f"skipped {file}: {e}", file=sys.stderr)
    Path(args.out).write_text(json.dumps(modules, indent=0, sort_keys=True) + "\n")
    print(f"{len(modules)} modules, {sum(map(len, modules.values()))} names -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
