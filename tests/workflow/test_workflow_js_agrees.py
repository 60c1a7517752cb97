"""The canvas (web/, JavaScript) and the server (core/workflow, Python) each keep one copy of the rules
both need; run on the same cases, the two copies give the same answers."""
from __future__ import annotations

import random

import pytest

import jsrun

pytestmark = pytest.mark.skipif(jsrun.available() is None,
                                reason="needs node, or Debian chromium with Playwright, to run web/ modules")


class Scripted:
    """A random source returning fixed numbers in turn (the JS side gets the same numbers)."""

    def __init__(self, values):
        self.values, self.i = values, 0

    def random(self) -> float:
        value = self.values[self.i % len(self.values)]
        self.i += 1
        return value


JS_DYNAMIC = """(m, cases) => cases.map(([text, values]) => {
  let i = 0;
  return m.processDynamicPrompt(text, () => values[i++ % values.length]);
})"""


def python_dynamic(cases):
    from core.workflow.widgets import process_dynamic_prompt

    return [process_dynamic_prompt(text, Scripted(values)) for text, values in cases]


def test_widget_types_are_one_set_in_both_languages():
    from core.workflow.widgets import WIDGET_TYPES

    assert set(jsrun.call("graph/catalogue.js", "m => [...m.WIDGET_TYPES]")) == set(WIDGET_TYPES)


def test_both_languages_agree_which_inputs_get_a_widget():
    from core.workflow.widgets import _split_entry, widget_kind

    specs = [["INT", {"default": 1}], ["FLOAT"], ["STRING", {"multiline": True}], ["BOOLEAN", {}],
             [["a.safetensors", "b.safetensors"]], ["COMBO", {"options": ["x", "y"]}],
             ["INT", {"forceInput": True}], ["STRING", {"defaultInput": True}], ["MODEL"], ["IMAGE", {}],
             ["*"], ["LATENT", {"tooltip": "t"}], [[], {}]]
    js = jsrun.call("graph/catalogue.js", "(m, specs) => specs.map(s => m.isWidgetInput(s))", specs)
    python = [widget_kind(*_split_entry(spec)) is not None for spec in specs]
    assert js == python


HAND_PICKED = [
    "a {red|green|blue} car", "{x|{y|z}}", "{a|{b|c}|d} and {e|f}", r"keep \{this|that\} here", r"a\nb",
    "a cat // on a mat\nblue /* not red */sky", "{a|b} // {c|d}\n{e|f}", "{/* c */a|b}", "trailing \\",
    "unclosed {a|b", "}{|}", "{}", "{a||b}", "line\u2028sep // gone", "cr\r// gone\rkept", r"\\{a|b}",
    "emoji 🎨 {🐱|🐶}", "{a|b\\|c}", "{a|/*|*/b}", "http://example.com/{x|y}", "{{a|b}|{c|d}}", "",
    "{a|b}{c|d}{e|f}", "\\{", "nested /* {a|b} */ {c|d}",
]


@pytest.mark.parametrize("values", [[0.0], [0.999], [0.5, 0.2, 0.8], [0.34, 0.67, 0.01, 0.99]])
def test_dynamic_prompts_agree_on_hand_picked_cases(values):
    cases = [[text, values] for text in HAND_PICKED]
    assert jsrun.call("graph/dynamic_prompt.js", JS_DYNAMIC, cases) == python_dynamic(cases)


def test_dynamic_prompts_agree_on_random_strings_of_the_grammar_characters():
    rng = random.Random(11)
    alphabet = ["{", "}", "|", "\\", "/", "*", "\n", " ", "a", "b", "é", "//", "/*", "*/"]
    cases = [["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 24))),
              [rng.random() for _ in range(5)]] for _ in range(500)]
    js = jsrun.call("graph/dynamic_prompt.js", JS_DYNAMIC, cases)
    python = python_dynamic(cases)
    differ = [(text, j, p) for (text, _), j, p in zip(cases, js, python) if j != p]
    assert not differ, differ[:5]


@pytest.mark.skipif(not jsrun.CHROMIUM.exists(), reason="needs Debian chromium (apt-get install -y chromium)")
def test_the_chromium_runner_gives_what_node_gives():
    pytest.importorskip("playwright.sync_api")
    cases = [[text, [0.5, 0.2]] for text in HAND_PICKED[:6]]
    assert jsrun._chromium("graph/dynamic_prompt.js", JS_DYNAMIC, cases) == python_dynamic(cases)


JS_LAYOUT = """(m, infos) => Object.fromEntries(Object.keys(infos).map(
  type => [type, m.createNode(new m.Catalogue(infos), type).widgets.map(w => [w.name, w.serialize !== false])]))"""


def python_layout(infos) -> dict:
    from core.workflow.widgets import node_widgets

    return {t: [[w.name, w.serialize] for w in node_widgets(info)] for t, info in infos.items()}


def test_both_languages_lay_out_the_same_widgets_values_slots_for_odd_specs():
    """The slot list decides how a saved ``widgets_values`` array maps onto inputs (docs/comfy-api.md §3.4)."""
    def node(**required):
        return {"input": {"required": required}, "output": [], "name": "T"}

    infos = {
        "Seed": node(seed=["INT", {"default": 0}], steps=["INT", {}]),
        "SeedOptedOut": node(noise_seed=["INT", {"control_after_generate": False}]),
        "FloatControl": node(f=["FLOAT", {"control_after_generate": True}]),
        "ComboControl": node(c=[["a", "b"], {"control_after_generate": True}], s=["STRING", {}]),
        "Upload": node(image=[["x.png"], {"image_upload": True}], keep=["BOOLEAN", {}]),
        "NewCombo": node(mode=["COMBO", {"options": ["x", "y"]}], seed=["INT", {"forceInput": True}]),
        "Optional": {"input": {"required": {"a": ["INT", {}]}, "optional": {"b": ["STRING", {}]}},
                     "input_order": {"required": ["a"], "optional": ["b"]}, "output": [], "name": "Optional"},
    }
    assert jsrun.call("graph/catalogue.js", JS_LAYOUT, infos) == python_layout(infos)


def test_both_languages_lay_out_the_same_slots_for_every_built_in_node():
    import nodes
    from core.execution.registry import NodeRegistry

    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    infos = registry.object_info()
    assert len(infos) > 50
    assert jsrun.call("graph/catalogue.js", JS_LAYOUT, infos) == python_layout(infos)
