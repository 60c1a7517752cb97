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


# --- ComfyUI's interface of the same nodes (tests/data/comfy_node_interfaces.json) ----------------------

def comfy_interfaces():
    from tests import testdata

    return testdata.comfy_node_interfaces()


# Nodes ComfyUI changed after the table's commit, as its 2026 templates use them (comfyui-workflow-templates-json
# 0.1.123): Preview Any passes its text on (70 template nodes link that STRING output); CFGNorm gained the
# optional pre_cfg toggle. These fields follow the newer interface; everything else is still checked.
NEWER_THAN_TABLE = {"PreviewAny": {"RETURN_TYPES"}, "CFGNorm": {"inputs", "params"}}


def newer(name: str, field: str) -> bool:
    return field in NEWER_THAN_TABLE.get(name, ())


def shared_names(builtins) -> list:
    table = comfy_interfaces()
    return [name for name in builtins.names() if name in table]


def test_most_builtins_exist_in_comfyui_under_the_same_name(builtins):
    assert len(shared_names(builtins)) >= 60


def test_builtin_function_is_comfyuis_method_name(builtins):
    table = comfy_interfaces()
    wrong = {}
    for name in shared_names(builtins):
        entry = table[name]
        expected = entry.get("classic_FUNCTION", entry["FUNCTION"])
        if builtins.get(name).FUNCTION != expected:
            wrong[name] = (builtins.get(name).FUNCTION, expected)
    assert wrong == {}


def test_builtin_return_types_equal_comfyuis(builtins):
    table = comfy_interfaces()
    wrong = {n: (list(builtins.get(n).RETURN_TYPES), table[n]["RETURN_TYPES"]) for n in shared_names(builtins)
             if list(builtins.get(n).RETURN_TYPES) != table[n]["RETURN_TYPES"] and not newer(n, "RETURN_TYPES")}
    assert wrong == {}


def test_builtin_input_names_and_order_equal_comfyuis(builtins):
    table = comfy_interfaces()
    wrong = {}
    for name in shared_names(builtins):
        types = builtins.get(name).INPUT_TYPES()
        ours = {section: list(types[section]) for section in ("required", "optional") if types.get(section)}
        theirs = {section: names for section, names in table[name]["inputs"].items() if names}
        if ours != theirs and not newer(name, "inputs"):
            wrong[name] = (ours, theirs)
    assert wrong == {}


def test_builtin_method_parameters_are_comfyuis_in_order(builtins):
    """Plugins call ``VAEDecode().decode(vae, latent)`` positionally: the parameter order is the contract."""
    import inspect

    table = comfy_interfaces()
    wrong = {}
    for name in shared_names(builtins):
        cls = builtins.get(name)
        params = [p for p in inspect.signature(getattr(cls, cls.FUNCTION)).parameters if p != "self"]
        if params != table[name]["params"] and not newer(name, "params"):
            wrong[name] = (params, table[name]["params"])
    assert wrong == {}


def test_nodes_comfyui_rewrote_in_v3_answer_a_class_call_with_a_node_output(builtins):
    import torch

    from core.execution.node_output import NodeOutput

    table = comfy_interfaces()
    v3 = [n for n in shared_names(builtins) if table[n].get("api") == "v3"]
    assert {"ImageUpscaleWithModel", "UpscaleModelLoader", "LatentBatch", "Canny"} <= set(v3)
    for name in v3:
        assert builtins.get(name).__dict__["execute"].fn is not None, name
    latent = {"samples": torch.zeros(1, 4, 2, 2)}
    out = builtins.get("LatentBatch").execute(latent, latent)
    assert isinstance(out, NodeOutput) and out[0]["samples"].shape[0] == 2
    (first,) = out  # packs unpack it like a tuple
    assert first is out.result[0] is out.args[0]


def test_every_builtin_class_is_an_attribute_of_the_nodes_module(builtins):
    import nodes

    for name in builtins.names():
        assert getattr(nodes, name) is builtins.get(name), name


def test_builtins_comfyui_keeps_in_comfy_extras_are_served_there(builtins):
    import importlib

    from core.compat import ensure_on_path

    ensure_on_path()
    table = comfy_interfaces()
    for name in shared_names(builtins):
        module = table[name]["module"]
        if module.startswith("comfy_extras."):
            extras = importlib.import_module(module)
            class_name = table[name].get("class", name)  # ComfyUI's class name there (RebatchImages: ImageRebatch)
            assert getattr(extras, class_name) is builtins.get(name), (module, class_name)
            assert extras.NODE_CLASS_MAPPINGS[name] is builtins.get(name)


def test_the_runtime_name_list_covers_every_comfyui_node_of_the_table():
    import nodes._comfy as surface

    names = surface.comfy_names()
    missing = [(e["module"], e.get("class", n)) for n, e in comfy_interfaces().items()
               if e.get("class", n) not in names.get(e["module"], ())]
    assert missing == []


def test_the_runtime_list_knows_every_comfyui_class_name_that_differs_from_its_node_id():
    import nodes._comfy as surface

    renamed = surface._names_file()["node_classes"]
    expected = {}
    for node_id, entry in comfy_interfaces().items():
        if "class" in entry:
            expected.setdefault(entry["module"], {}).setdefault(entry["class"], node_id)
    assert {m: {c: n for c, n in v.items() if c in expected.get(m, {})} for m, v in renamed.items()} == expected


def test_class_attributes_plugins_read_match_the_declared_choices():
    import nodes

    for cls, attr, input_name in ((nodes.ImageScale, "upscale_methods", "upscale_method"),
                                  (nodes.ImageScale, "crop_methods", "crop"),
                                  (nodes.ImageScaleBy, "upscale_methods", "upscale_method"),
                                  (nodes.LatentUpscale, "upscale_methods", "upscale_method"),
                                  (nodes.LatentUpscale, "crop_methods", "crop"),
                                  (nodes.LatentUpscaleBy, "upscale_methods", "upscale_method")):
        assert getattr(cls, attr) == cls.INPUT_TYPES()["required"][input_name][0], (cls.__name__, attr)


def test_a_builtin_comfyui_names_differently_in_comfy_extras_is_found_by_its_node_id(monkeypatch):
    import nodes._comfy as surface

    class RebatchImages:  # stands for a built-in whose ComfyUI class is nodes_rebatch.ImageRebatch
        pass

    monkeypatch.setattr(surface, "builtin_classes", lambda: {"RebatchImages": RebatchImages})
    assert surface.comfy_module_nodes("comfy_extras.nodes_rebatch") == {"ImageRebatch": ("RebatchImages",
                                                                                          RebatchImages)}
