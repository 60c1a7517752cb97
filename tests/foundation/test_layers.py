"""The layering of docs/architecture.md, checked on the sources: which package may import which.

Every import counts, including those inside functions. No package of core/ may import nodes/: the
table allows it to none of them.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from importgraph import REPO, imports, sources, under

# package -> the product modules or packages it may import besides its own (docs/architecture.md)
MAY_IMPORT = {
    "core.execution": (),
    "core.workflow": (),
    "core.cli": ("core.execution", "core.workflow", "core.paths"),
    # core.models.safetensors_header: the torch-free header reader behind /view_metadata
    "core.server": ("core.execution", "core.workflow", "core.paths", "core.compat", "core.cli.flags",
                    "core.models.safetensors_header",
                    "core.cluster"),  # only with --ray (app.py, config_from_args)
    # the Ray workers: each runs the executor with the pack surface; the server side reuses the worker's relay
    "core.cluster": ("core.execution", "core.paths", "core.compat", "core.cli.flags", "core.server"),
    "core.devices": (),
    "core.paths": (),
    "core.images": (),
    # core.compat.missing: placeholders for the ComfyUI method names handles lack (comfy_methods.py)
    "core.models": ("core.devices", "core.execution.progress", "core.images", "core.paths", "core.sampling",
                    "core.compat.missing"),
    "core.sampling": ("core.devices", "core.execution.progress", "core.images", "core.models"),
    "core.compat": ("core.execution", "core.models", "core.sampling", "core.devices", "core.images",
                    "core.paths", "core.workflow", "core.server", "core.cli.flags"),  # server, cli_args adapt ours
    "core.custom_nodes": ("core.compat", "core.execution", "core.paths"),
    "nodes": ("core.execution", "core.models", "core.sampling", "core.devices", "core.images", "core.paths",
              "core.workflow", "core.compat.missing"),
}
# packages whose code never imports torch, not even inside a function (core.custom_nodes imports it
# on purpose before loading packs, so only its own import is checked below)
TORCH_FREE = ("core.execution", "core.workflow", "core.cli", "core.server", "core.paths")


def within(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_walker_sees_lazy_imports_and_names_imported_from_packages():
    # control: main.py imports nodes inside build_registry, the server inside main()
    assert {"nodes", "core.server", "core.cli.flags", "core.devices"} <= imports("main")
    assert "ext:torch" in imports("core.devices")


def test_every_product_module_belongs_to_a_package_of_the_table():
    loose = [m for m in sources() if m not in ("main", "core") and not within(m, MAY_IMPORT)]
    assert loose == [], "add these to MAY_IMPORT and docs/architecture.md"


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_package_imports_only_what_the_architecture_allows(package):
    allowed = (package, *MAY_IMPORT[package])
    found = {m: sorted(i for i in imports(m) if not i.startswith("ext:") and i != "core" and not within(i, allowed))
             for m in under(package)}
    assert {m: bad for m, bad in found.items() if bad} == {}


@pytest.mark.parametrize("package", TORCH_FREE)
def test_front_ends_executor_and_formats_never_import_torch(package):
    assert [m for m in under(package) if "ext:torch" in imports(m)] == []


def test_importing_the_front_ends_executor_and_formats_does_not_import_torch():
    modules = [m for p in TORCH_FREE for m in under(p)] + ["core.compat", "core.custom_nodes"]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", "one of these modules imports torch at import time (slows server start)"
