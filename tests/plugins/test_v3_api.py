"""comfy_api.latest as a plugin author uses it: schemas, typed inputs, NodeOutput, and the loader's
handling of comfy_entrypoint packs that break the contract."""
from __future__ import annotations

import enum

import pytest

from packtools import write_pack


@pytest.fixture(scope="module")
def io():
    from core.compat import ensure_on_path

    ensure_on_path()
    from comfy_api.latest import io

    return io


def node(io, schema_kwargs, execute=None):
    """A V3 node class with the given schema and execute body."""
    def define_schema(cls):
        return io.Schema(**schema_kwargs)

    def default(cls, **kw):
        return io.NodeOutput(*kw.values())

    return type("N", (io.ComfyNode,), {"define_schema": classmethod(define_schema),
                                       "execute": classmethod(execute or default)})


def test_widget_inputs_carry_their_options_into_input_types(io):
    class Mode(enum.Enum):
        FAST = "fast"
        GOOD = "good"

    n = node(io, dict(node_id="T", inputs=[
        io.Int.Input("steps", default=20, min=1, max=100, control_after_generate=True,
                     display_mode=io.NumberDisplay.slider),
        io.String.Input("text", multiline=True, dynamic_prompts=True, optional=True),
        io.Boolean.Input("flag", default=False, label_on="yes", label_off="no"),
        io.Combo.Input("mode", options=Mode, default=Mode.GOOD, tooltip="how"),
        io.Custom("MY_TYPE").Input("thing", optional=True)]))
    types = n.INPUT_TYPES()
    assert types["required"]["steps"] == ("INT", {"default": 20, "min": 1, "max": 100,
                                                  "control_after_generate": True, "display": "slider"})
    assert types["required"]["flag"] == ("BOOLEAN", {"default": False, "label_on": "yes", "label_off": "no"})
    assert types["required"]["mode"] == ("COMBO", {"tooltip": "how", "default": "good", "options": ["fast", "good"]})
    assert types["optional"]["text"] == ("STRING", {"multiline": True, "dynamicPrompts": True})
    assert types["optional"]["thing"] == ("MY_TYPE", {})


def test_outputs_give_return_types_names_and_list_flags(io):
    n = node(io, dict(node_id="T", outputs=[io.Image.Output(display_name="picture"),
                                            io.Int.Output(is_output_list=True),
                                            io.Combo.Output(options=["a", "b"])]))
    assert n.RETURN_TYPES == ("IMAGE", "INT", ["a", "b"])
    assert n.RETURN_NAMES == ("picture", "INT", "COMBO")
    assert n.OUTPUT_IS_LIST == (False, True, False)


def test_duplicate_ids_are_refused_naming_the_node(io):
    n = node(io, dict(node_id="Dup", inputs=[io.Int.Input("x"), io.Float.Input("x")]))
    with pytest.raises(ValueError, match=r"V3 node 'Dup': Input ids must be unique, but \['x'\]"):
        n.GET_SCHEMA()


def test_a_class_without_define_schema_says_so():
    from core.compat import ensure_on_path

    ensure_on_path()
    from comfy_api.latest import io

    class NoSchema(io.ComfyNode):
        @classmethod
        def execute(cls):
            return io.NodeOutput()

    with pytest.raises(TypeError, match="NoSchema defines no define_schema"):
        NoSchema.GET_SCHEMA()


def test_tuple_dict_and_none_returns_are_normalised_like_node_outputs(io):
    schema = dict(node_id="T", outputs=[io.Int.Output()])
    assert node(io, schema, lambda cls: (3,)).EXECUTE_NORMALIZED() == (3,)
    assert node(io, schema, lambda cls: {"result": (4,), "ui": {"text": ("x",)}}).EXECUTE_NORMALIZED() == \
        {"result": (4,), "ui": {"text": ["x"]}}
    assert node(io, dict(node_id="T"), lambda cls: None).EXECUTE_NORMALIZED() == ()


def test_block_execution_becomes_an_execution_blocker_on_every_output(io):
    from core.execution.node_call import ExecutionBlocker

    n = node(io, dict(node_id="T", outputs=[io.Int.Output(), io.Int.Output()]),
             lambda cls: io.NodeOutput(block_execution="not now"))
    out = n.EXECUTE_NORMALIZED()
    assert len(out) == 2 and all(isinstance(b, ExecutionBlocker) and b.message == "not now" for b in out)


def test_expand_needs_enable_expand(io):
    graph = {"1": {"class_type": "X", "inputs": {}}}
    refused = node(io, dict(node_id="T", outputs=[io.Int.Output()]),
                   lambda cls: io.NodeOutput(1, expand=graph))
    with pytest.raises(TypeError, match="enable_expand=True"):
        refused.EXECUTE_NORMALIZED()
    allowed = node(io, dict(node_id="T", outputs=[io.Int.Output()], enable_expand=True),
                   lambda cls: io.NodeOutput(1, expand=graph))
    assert allowed.EXECUTE_NORMALIZED() == {"result": (1,), "expand": graph}


def test_hidden_values_reach_execute_through_cls_hidden_not_kwargs(io):
    seen = {}

    def execute(cls, x):
        seen.update(uid=cls.hidden.unique_id, prompt=cls.hidden.prompt, missing=cls.hidden.dynprompt)
        return io.NodeOutput(x)

    n = node(io, dict(node_id="T", inputs=[io.Int.Input("x")], outputs=[io.Int.Output()],
                      hidden=[io.Hidden.unique_id, io.Hidden.prompt]), execute)
    assert n.INPUT_TYPES()["hidden"] == {"unique_id": "UNIQUE_ID", "prompt": "PROMPT"}
    assert n().EXECUTE_NORMALIZED(x=5, unique_id="12", prompt={"p": 1}) == (5,)
    assert seen == {"uid": "12", "prompt": {"p": 1}, "missing": None}
    assert n.hidden.unique_id is None  # the class itself never holds a call's values


def test_async_execute_is_awaited_by_the_caller(io):
    import asyncio

    async def execute(cls, x):
        return io.NodeOutput(x + 1)

    n = node(io, dict(node_id="T", inputs=[io.Int.Input("x")], outputs=[io.Int.Output()]), execute)
    assert n.FUNCTION == "EXECUTE_NORMALIZED_ASYNC"
    assert asyncio.run(n.EXECUTE_NORMALIZED(x=1)) == (2,)


def test_classic_hooks_exist_only_when_the_v3_ones_are_overridden(io):
    plain = node(io, dict(node_id="T"))
    assert not hasattr(plain, "IS_CHANGED") and not hasattr(plain, "VALIDATE_INPUTS")


def entry_pack(tmp_path, name, body):
    return write_pack(tmp_path / "custom_nodes", name, "from comfy_api.latest import ComfyExtension, io\n" + body)


def test_broken_entrypoint_is_a_recorded_failure_and_other_packs_load(tmp_path, registry, folders):
    from core.custom_nodes import load_custom_nodes

    entry_pack(tmp_path, "a_broken", '''
class Ext(ComfyExtension):
    async def get_node_list(self):
        return "not a list"

async def comfy_entrypoint():
    return Ext()
''')
    entry_pack(tmp_path, "b_sync", '''
class Hello(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="HelloV3", outputs=[io.String.Output()])

    @classmethod
    def execute(cls):
        return io.NodeOutput("hi")

class Ext(ComfyExtension):
    async def get_node_list(self):
        return [Hello]

def comfy_entrypoint():  # a plain function is accepted too
    return Ext()
''')
    loaded = load_custom_nodes(registry, [tmp_path / "custom_nodes"])
    assert loaded == ["b_sync"]
    (failure,) = registry.failures
    assert failure.pack == "a_broken" and "get_node_list() returned str, not a list" in failure.error
    assert registry.object_info()["HelloV3"]["output"] == ["STRING"]


def test_a_node_whose_schema_fails_is_left_out_and_its_pack_mates_load(tmp_path, registry, folders):
    from core.custom_nodes import load_custom_nodes

    entry_pack(tmp_path, "mixed", '''
class Good(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="GoodV3", outputs=[io.Int.Output()])

    @classmethod
    def execute(cls):
        return io.NodeOutput(1)

class Newer(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="NewerV3", inputs=[io.SomeFutureType.Input("x")])

    @classmethod
    def execute(cls, x):
        return io.NodeOutput()

class Ext(ComfyExtension):
    async def get_node_list(self):
        return [Newer, Good]

async def comfy_entrypoint():
    return Ext()
''')
    assert load_custom_nodes(registry, [tmp_path / "custom_nodes"]) == ["mixed"]
    assert "GoodV3" in registry and "NewerV3" not in registry
    (failure,) = registry.failures
    assert "node Newer" in failure.error and "comfy_api.latest.io.SomeFutureType" in failure.error


def test_video_helpers_import_and_fail_at_use_naming_themselves():
    from core.compat import ensure_on_path

    ensure_on_path()
    from comfy_api.latest import InputImpl, Types  # KJNodes imports these at module level

    with pytest.raises(NotImplementedError, match="comfy_api.latest.InputImpl.VideoFromFile is a ComfyUI name"):
        InputImpl.VideoFromFile("clip.mp4")
    assert not hasattr(Types.VideoCodec, "H264")
