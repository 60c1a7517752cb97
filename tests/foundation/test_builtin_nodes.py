"""Registry-wide checks over every built-in node (STYLE habit 1)."""
import subprocess
import sys
from pathlib import Path

import pytest

from core.execution.graph import declared_inputs, type_name
from core.execution.registry import NodeRegistry
from core.execution.validate import check_node_inputs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def builtins():
    import nodes

    reg = NodeRegistry()
    nodes.register_builtin_nodes(reg)
    return reg


def widget_defaults(cls) -> dict:
    inputs = {}
    for name, (_section, type_, opts) in declared_inputs(cls.INPUT_TYPES()).items():
        tname = type_name(type_)
        if tname == "COMBO":
            choices = list(type_) if isinstance(type_, (list, tuple)) else list(opts.get("options", []))
            if choices:
                inputs[name] = opts.get("default", choices[0])
        elif "default" in opts and not opts.get("forceInput"):
            inputs[name] = opts["default"]
    return inputs


def test_there_are_builtin_nodes(builtins):
    assert len(builtins.names()) >= 10


def test_every_builtin_default_passes_its_own_validation(builtins):
    failures = []
    for name in builtins.names():
        cls = builtins.get(name)
        prompt = {"1": {"class_type": name, "inputs": widget_defaults(cls)}}
        errors = [e for e in check_node_inputs(builtins, prompt, "1")
                  if e["type"] not in ("required_input_missing", "custom_validation_failed")]
        if errors:
            failures.append((name, [(e["type"], e["details"]) for e in errors]))
    assert failures == []


def test_every_builtin_has_a_category_and_callable_function(builtins):
    for name in builtins.names():
        cls = builtins.get(name)
        assert cls.CATEGORY and callable(getattr(cls, cls.FUNCTION)), name


def test_object_info_of_builtins_is_json(builtins):
    import json

    json.dumps(builtins.object_info())


def test_building_the_catalogue_does_not_import_torch():
    code = ("import sys; sys.path.insert(0, %r); import nodes; from core.execution.registry import NodeRegistry; "
            "r = NodeRegistry(); nodes.register_builtin_nodes(r); r.object_info(); "
            "print('torch' in sys.modules)" % str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", "a node module imports torch at import time (slows server start)"
