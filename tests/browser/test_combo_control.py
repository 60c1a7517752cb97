"""A combo that declares ``control_after_generate`` gets the control slot right after it (docs/comfy-api.md
§3.4), loads from widgets_values in that layout, and steps through its options after queueing."""
import pytest

COMBO_CTL = {"input": {"required": {"mode": [["a", "b", "c"], {"control_after_generate": True}],
                                    "strength": ["FLOAT", {"default": 1.0}]}},
             "input_order": {"required": ["mode", "strength"]}, "output": ["STRING"], "output_name": ["STRING"],
             "name": "ComboCtl", "display_name": "ComboCtl", "category": "test", "output_node": False}


def workflow(values):
    node = {"id": 1, "type": "ComboCtl", "pos": [100, 100], "size": [300, 100], "flags": {}, "order": 0, "mode": 0,
            "inputs": [], "outputs": [{"name": "STRING", "type": "STRING", "links": None}], "properties": {},
            "widgets_values": values}
    return {"last_node_id": 1, "last_link_id": 0, "nodes": [node], "links": [], "groups": [], "config": {},
            "extra": {}, "version": 0.4}


# One synchronous evaluation: the canvas may refresh its catalogue from the server at any await.
RUN = """(() => {
  lf.setCatalogue({...lf.catalogue(), ComboCtl: arg.info});
  lf.loadWorkflow(arg.workflow);
  const loaded = ["mode", "control_after_generate", "strength"].map(n => lf.widgetValue(1, n));
  lf.app.runner.applySeedControls();
  return {loaded, after: lf.widgetValue(1, "mode"), api: lf.exportApi()};
})()"""


def load_and_apply(canvas, values):
    return canvas.hook(RUN, {"info": COMBO_CTL, "workflow": workflow(values)})


@pytest.mark.parametrize("control,start,after", [("increment", "a", "b"), ("decrement", "b", "a"),
                                                 ("increment", "c", "c"), ("fixed", "b", "b")])
def test_combo_control_steps_through_the_options(canvas, control, start, after):
    got = load_and_apply(canvas, [start, control, 0.5])
    assert got["loaded"] == [start, control, 0.5] and got["after"] == after


def test_randomize_picks_one_of_the_options_and_the_api_prompt_skips_the_control(canvas):
    got = load_and_apply(canvas, ["a", "randomize", 2.0])
    assert got["after"] in ("a", "b", "c")
    assert got["api"]["1"]["inputs"] == {"mode": got["after"], "strength": 2.0}
