"""STRING widgets with dynamicPrompts are processed as the frontend does before queueing."""
from __future__ import annotations

import random

from uigraph import ui_node, ui_workflow


def process(text, seed=0):
    from core.workflow.formats import process_dynamic_prompt

    return process_dynamic_prompt(text, random.Random(seed))


def test_line_and_block_comments_are_stripped():
    assert process("a cat // on a mat\nblue /* not red */sky") == "a cat \nblue sky"


def test_each_choice_block_becomes_one_of_its_options():
    results = {process("a {red|green|blue} car", seed) for seed in range(40)}
    assert results == {"a red car", "a green car", "a blue car"}


def test_choice_is_reproducible_with_the_same_seed():
    text = "{a|b|c|d|e|f} {g|h|i|j|k}"
    assert process(text, 123) == process(text, 123)


def test_nested_blocks_are_expanded():
    results = {process("{x|{y|z}}", seed) for seed in range(60)}
    assert results == {"x", "y", "z"}


def test_escaped_braces_stay_literal_without_their_backslash():
    assert process(r"keep \{this|that\} here") == "keep {this|that} here"


def test_other_escapes_keep_their_backslash():
    assert process(r"a\nb") == r"a\nb"


def test_only_widgets_declaring_dynamic_prompts_are_processed(object_info):
    from core.workflow.formats import ui_to_api

    wf = ui_workflow([
        ui_node(1, "Encode", inputs=[("clip", "CLIP", None)], widgets_values=["{one|one} // gone"]),
        ui_node(2, "Save", inputs=[("images", "IMAGE", None)], widgets_values=["{a|b} // kept"]),
    ], [])
    prompt = ui_to_api(wf, object_info, rng=random.Random(1))
    assert prompt["1"]["inputs"]["text"] == "one "
    assert prompt["2"]["inputs"]["filename_prefix"] == "{a|b} // kept"


def test_primitive_text_feeding_a_dynamic_widget_is_processed(object_info):
    from core.workflow.formats import ui_to_api

    wf = ui_workflow([
        ui_node(4, "PrimitiveNode", outputs=[("STRING", "STRING", [1])], widgets_values=["{only} /*x*/"]),
        ui_node(1, "Encode", inputs=[("clip", "CLIP", None), ("text", "STRING", 1, "text")],
                widgets_values=["stale"]),
    ], [[1, 4, 0, 1, 1, "STRING"]])
    assert ui_to_api(wf, object_info, rng=random.Random(0))["1"]["inputs"]["text"] == "only "
