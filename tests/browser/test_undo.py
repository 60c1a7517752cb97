"""Undo and redo of every kind of graph edit, made with mouse and keyboard on the default graph."""
import pytest

from classic_nodes import classic_object_info

MOD = "Control"


@pytest.fixture
def graph(canvas):
    """The default graph built on the classic catalogue, fitted to the window, history empty."""
    canvas.hook("lf.setCatalogue({...lf.catalogue(), ...arg})", classic_object_info(["tiny_sd15.safetensors"]))
    canvas.hook("lf.app.loadDefault()")
    canvas.page.wait_for_timeout(50)
    return canvas


def state(c):
    wf = c.hook("lf.saveWorkflow()")
    wf["extra"].pop("ds", None)
    # Order of nodes and links in a file carries no meaning (z-order changes on click); compare by id.
    wf["nodes"].sort(key=lambda n: n["id"])
    wf["links"].sort(key=lambda l: l[0])
    return wf


def differences(a, b, path="$"):
    """Paths where two JSON values differ (readable failure messages)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def assert_same(a, b):
    assert not differences(a, b), differences(a, b)[:8]


def undo_redo_roundtrip(c, edit):
    if hasattr(edit, "setup"):
        edit.setup(c)
        c.hook("lf.undo.reset()")
    before = state(c)
    edit(c)
    c.page.wait_for_timeout(30)
    after = state(c)
    assert after != before, "the edit changed nothing"
    c.page.keyboard.press(f"{MOD}+z")
    assert_same(state(c), before)
    c.page.keyboard.press(f"{MOD}+y")
    assert_same(state(c), after)
    c.page.keyboard.press(f"{MOD}+Shift+z")   # nothing left to redo: no change
    assert_same(state(c), after)


def add_node(c):
    c.add_node_by_search("vae decode", at=(700, 780))

def delete_node(c):
    c.click(c.hook("lf.titlePos(8)"))
    c.page.keyboard.press("Delete")

def connect(c):
    c.connect(4, 0, 3, 0)
connect.setup = lambda c: c.hook("lf.graph.disconnect(lf.node(3).inputs[0].link)")

def disconnect_by_dragging_the_input_end_away(c):
    c.drag(c.hook("lf.inputPos(9, 0)"), (1100, 830))
    c.page.keyboard.press("Escape")      # close the search that a released link opens

def move(c):
    a = c.hook("lf.titlePos(5)")
    c.drag(a, (a[0] + 120, a[1] + 60))

def resize(c):
    b = c.hook("lf.bodyPos(8)")
    n = c.hook("[lf.node(8).pos, lf.node(8).size]")
    c.drag(c.hook("lf.app.rectOnScreen({x: arg[0][0] + arg[1][0] - 4, y: arg[0][1] + arg[1][1] - 4, w: 0, h: 0})", n) and
           (lambda r: (r["x"], r["y"]))(c.hook("lf.app.rectOnScreen({x: arg[0][0] + arg[1][0] - 4, y: arg[0][1] + arg[1][1] - 4, w: 0, h: 0})", n)),
           (b[0] + 200, b[1] + 100))

def widget_arrow(c):
    r = c.hook("lf.widgetRect(3, 'steps')")
    c.click((r["x"] + r["w"] - 8, r["y"] + r["h"] / 2))

def widget_typed(c):
    r = c.hook("lf.widgetRect(5, 'width')")
    c.click((r["x"] + r["w"] / 2, r["y"] + r["h"] / 2))
    c.page.keyboard.type("768")
    c.page.keyboard.press("Enter")

def widget_scrub(c):
    r = c.hook("lf.widgetRect(3, 'cfg')")
    y = r["y"] + r["h"] / 2
    c.drag((r["x"] + r["w"] / 2, y), (r["x"] + r["w"] / 2 + 80, y), steps=10)

def combo_pick(c):
    r = c.hook("lf.widgetRect(3, 'sampler_name')")
    c.click((r["x"] + r["w"] / 2, r["y"] + r["h"] / 2))
    c.page.click(".lf-list .lf-menu-item >> text=heun")

def text_edit(c):
    r = c.hook("lf.widgetRect(7, 'text')")
    c.click((r["x"] + 20, r["y"] + 10))
    c.page.keyboard.press("End")
    c.page.keyboard.type(", blurry")
    c.click((1100, 830))          # blur commits

def collapse(c):
    p = c.hook("lf.titlePos(5)")
    n = c.hook("lf.node(5).pos")
    x = c.hook("lf.app.rectOnScreen({x: arg[0] + 12, y: arg[1] - 15, w: 0, h: 0})", n)
    c.click((x["x"], x["y"]))

def mute(c):
    c.click(c.hook("lf.titlePos(7)"))
    c.page.keyboard.press(f"{MOD}+m")

def bypass(c):
    c.click(c.hook("lf.titlePos(7)"))
    c.page.keyboard.press(f"{MOD}+b")

def rename(c):
    c.page.mouse.dblclick(*c.hook("lf.titlePos(3)"))
    c.page.keyboard.press(f"{MOD}+a")
    c.page.keyboard.type("Main sampler")
    c.page.keyboard.press("Enter")

def convert_widget_to_input(c):
    c.page.mouse.click(*c.hook("lf.titlePos(3)"), button="right")
    c.page.hover(".lf-menu-item >> text=Convert widget to input")
    c.page.click(".lf-menu-item >> text=steps")

def group_selection(c):
    c.click(c.hook("lf.titlePos(6)"))
    c.page.keyboard.down("Shift")
    c.click(c.hook("lf.titlePos(7)"))
    c.page.keyboard.up("Shift")
    c.page.keyboard.press(f"{MOD}+g")

def move_group_with_contents(c):
    g = c.hook("lf.graph.groups[0].bounding")
    r = c.hook("lf.app.rectOnScreen({x: arg[0] + 150, y: arg[1] + 10, w: 0, h: 0})", g)
    c.drag((r["x"], r["y"]), (r["x"] + 100, r["y"] + 80))
move_group_with_contents.setup = lambda c: c.hook("lf.app.groupSelection([lf.node(6), lf.node(7)])")

def resize_group(c):
    g = c.hook("lf.graph.groups[0].bounding")
    r = c.hook("lf.app.rectOnScreen({x: arg[0] + arg[2] - 2, y: arg[1] + arg[3] - 2, w: 0, h: 0})", g)
    c.drag((r["x"], r["y"]), (r["x"] + 90, r["y"] + 40))
    assert c.hook("lf.graph.groups[0].bounding")[2] > g[2]
resize_group.setup = lambda c: c.hook("lf.app.groupSelection([lf.node(5)])")


def copy_paste(c):
    c.click(c.hook("lf.titlePos(5)"))
    c.page.keyboard.press(f"{MOD}+c")
    c.page.mouse.move(300, 780)
    c.page.keyboard.press(f"{MOD}+v")

def marquee_delete(c):
    a = c.hook("lf.titlePos(8)"); b = c.hook("lf.bodyPos(9)")
    c.page.keyboard.down("Control")
    c.drag((a[0] - 80, a[1] - 40), (b[0] + 140, b[1] + 40))
    c.page.keyboard.up("Control")
    c.page.keyboard.press("Delete")

def color(c):
    c.page.mouse.click(*c.hook("lf.titlePos(5)"), button="right")
    c.page.hover(".lf-menu-item >> text=Color")
    c.page.click(".lf-menu-item >> text=green")


EDITS = [add_node, delete_node, connect, disconnect_by_dragging_the_input_end_away, move, resize, widget_arrow,
         widget_typed, widget_scrub, combo_pick, text_edit, collapse, mute, bypass, rename, convert_widget_to_input,
         group_selection, move_group_with_contents, resize_group, copy_paste, marquee_delete, color]


@pytest.mark.parametrize("edit", EDITS, ids=lambda f: f.__name__)
def test_edit_is_undone_by_ctrl_z_and_redone_by_ctrl_y(graph, edit):
    undo_redo_roundtrip(graph, edit)


def test_a_multi_node_delete_is_one_undo_step(graph):
    before = state(graph)
    graph.page.keyboard.press(f"{MOD}+a")
    graph.page.keyboard.press("Delete")
    assert graph.summary()["nodes"] == 0
    graph.page.keyboard.press(f"{MOD}+z")
    assert_same(state(graph), before)


def test_undo_keeps_output_images_on_their_nodes(graph):
    graph.hook("(lf.node(9).rt.images = [{url: 'x', img: new Image()}], 1)")
    move(graph)
    graph.page.keyboard.press(f"{MOD}+z")
    assert graph.hook("lf.node(9).rt.images.length") == 1


def test_ctrl_z_inside_a_text_field_undoes_the_text_not_the_graph(graph):
    move(graph)                                   # something on the graph's undo stack
    history = graph.hook("lf.undo.state()")
    r = graph.hook("lf.widgetRect(6, 'text')")
    graph.click((r["x"] + 20, r["y"] + 10))
    box = graph.page.locator(".lf-inline-edit")
    original = box.input_value()
    graph.page.keyboard.press("End")
    graph.page.keyboard.type(" typed")
    assert box.input_value() == original + " typed"
    graph.page.keyboard.press(f"{MOD}+z")
    assert box.input_value() == original
    assert graph.hook("lf.undo.state()") == history
