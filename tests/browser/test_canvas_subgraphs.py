"""Subgraphs on the canvas, in ComfyUI's definitions.subgraphs format: an official template opens with its
instance drawn as a node, round-trips unchanged, can be entered, edited and left; a selection converts
into a subgraph that runs; an instance unpacks back into its nodes."""
import json

import pytest

from canvaskit import require_nodes
from tests.testdata import workflow

MOD = "Control"
TEMPLATE = "subgraphs/image_netayume_lumina_t2i.ui.json"


def load_template(c):
    data = json.loads(workflow(TEMPLATE).read_text())
    c.hook("lf.loadWorkflow(arg)", data)
    c.hook("(lf.app.dialogs.closeTopmost(), 1)")       # the missing-models panel (no Lumina files here)
    return data


def instance_id(c):
    (nid,) = c.hook("[...lf.graph.nodes.values()].filter(n => n.kind === 'subgraph').map(n => n.id)")
    return nid


def test_a_subgraph_template_opens_with_its_instance_as_a_named_node_and_saves_back_unchanged(canvas):
    c = canvas
    data = load_template(c)
    nid = instance_id(c)
    definition = next(d for d in data["definitions"]["subgraphs"] if d["id"] == c.hook("lf.node(arg).type", nid))
    assert c.hook("lf.node(arg).title", nid) == definition["name"]
    assert definition["id"] not in c.page.locator(".lf-missing").all_inner_texts().__str__()
    saved = c.hook("lf.saveWorkflow()")
    for key in ("nodes", "links", "definitions", "groups", "last_node_id", "last_link_id"):
        assert saved[key] == data[key], key


def test_entering_and_leaving_without_edits_changes_nothing(canvas):
    c = canvas
    data = load_template(c)
    nid = instance_id(c)
    kind = c.hook("lf.node(arg).type", nid)
    c.page.mouse.dblclick(*c.hook("lf.bodyPos(arg)", nid))
    c.page.wait_for_selector("#lf-breadcrumb:not([hidden])")
    inner = len(next(d for d in data["definitions"]["subgraphs"] if d["id"] == kind)["nodes"])
    assert c.summary()["nodes"] == inner + 2                      # the nodes and the two boundary nodes
    assert c.hook("lf.saveWorkflow()")["definitions"] == data["definitions"]   # the whole workflow, even from inside
    c.shot("inside_subgraph")
    c.page.click("#lf-breadcrumb button >> text=Root")
    c.page.wait_for_selector("#lf-breadcrumb", state="hidden")
    saved = c.hook("lf.saveWorkflow()")
    for key in ("nodes", "links", "definitions"):
        assert saved[key] == data[key], key


def test_an_edit_inside_a_subgraph_is_written_to_its_definition_and_sent_to_the_server(canvas):
    c = canvas
    data = load_template(c)
    nid = instance_id(c)
    c.page.mouse.dblclick(*c.hook("lf.bodyPos(arg)", nid))
    c.page.wait_for_selector("#lf-breadcrumb:not([hidden])")
    sampler = c.hook("[...lf.graph.nodes.values()].find(n => n.type === 'KSampler').id")
    r = c.hook("lf.widgetRect(arg, 'steps')", sampler)
    c.page.mouse.dblclick(r["x"] + r["w"] / 2, r["y"] + r["h"] / 2)
    c.page.keyboard.press(f"{MOD}+a")
    c.page.keyboard.type("7")
    c.page.keyboard.press("Enter")
    assert c.hook("lf.widgetValue(arg, 'steps')", sampler) == 7
    assert c.hook("lf.exportApi()")[f"{nid}:{sampler}"]["inputs"]["steps"] == 7   # queueing from inside runs the root
    c.page.click("#lf-breadcrumb button >> text=Root")
    kind = c.hook("lf.node(arg).type", nid)
    definition = next(d for d in c.hook("lf.saveWorkflow()")["definitions"]["subgraphs"] if d["id"] == kind)
    node = next(n for n in definition["nodes"] if n["id"] == sampler)
    assert 7 in node["widgets_values"]
    assert c.hook("lf.exportApi()")[f"{nid}:{sampler}"]["inputs"]["steps"] == 7
    c.page.keyboard.press(f"{MOD}+z")        # leaving starts the root's own history: nothing to undo there
    assert c.hook("lf.exportApi()")[f"{nid}:{sampler}"]["inputs"]["steps"] == 7


@pytest.fixture
def default_graph(canvas, object_info):
    require_nodes(object_info, "CheckpointLoaderSimple", "KSampler", "SaveImage")
    c = canvas
    c.hook("lf.app.loadDefault()")
    c.hook("(lf.graph.setWidget(lf.node(3), 'steps', 1), lf.graph.setWidget(lf.node(5), 'width', 64), lf.graph.setWidget(lf.node(5), 'height', 64))")
    return c


def select(c, ids):
    c.click(c.hook("lf.titlePos(arg)", ids[0]))
    c.page.keyboard.down("Shift")
    for i in ids[1:]:
        c.click(c.hook("lf.titlePos(arg)", i))
    c.page.keyboard.up("Shift")
    assert sorted(c.hook("[...lf.app.ui.selection]")) == sorted(ids)


def test_a_selection_converted_to_a_subgraph_runs_and_unpacks_back(default_graph):
    c = default_graph
    before = c.hook("lf.exportApi()")
    select(c, [3, 5, 8])                         # KSampler, Empty Latent, VAE Decode
    c.page.mouse.click(*c.hook("lf.titlePos(3)"), button="right")
    c.page.click(".lf-menu-item >> text=Convert to subgraph")
    inst = instance_id(c)
    assert c.summary()["nodes"] == 5
    api = c.hook("lf.exportApi()")
    assert {k.split(":")[-1]: v["class_type"] for k, v in api.items()} == {k: v["class_type"] for k, v in before.items()}
    assert api[f"{inst}:3"]["inputs"]["model"] == ["4", 0]
    assert api["9"]["inputs"]["images"] == [f"{inst}:8", 0]
    c.page.keyboard.press(f"{MOD}+Enter")
    c.page.wait_for_function("window.__latentflow.node(9).rt.images?.[0]?.img.naturalWidth > 0", timeout=120_000)
    # one undo step restores the plain graph
    c.page.mouse.click(1100, 830)
    c.page.keyboard.press(f"{MOD}+z")
    assert c.summary()["nodes"] == 7 and c.hook("lf.exportApi()") == before
    c.page.keyboard.press(f"{MOD}+y")
    inst = instance_id(c)
    c.page.mouse.click(*c.hook("lf.titlePos(arg)", inst), button="right")
    c.page.click(".lf-menu-item >> text=Unpack subgraph")
    assert c.summary()["nodes"] == 7
    unpacked = c.hook("lf.exportApi()")
    assert sorted(v["class_type"] for v in unpacked.values()) == sorted(v["class_type"] for v in before.values())
    ks = next(k for k, v in unpacked.items() if v["class_type"] == "KSampler")
    assert unpacked[ks]["inputs"]["model"] == ["4", 0] and unpacked[ks]["inputs"]["steps"] == 1


@pytest.fixture(scope="module")
def zimage_server(tmp_path_factory):
    """A server whose folders hold tiny stand-ins for every file the official Z-Image Turbo template loads."""
    import nodes
    from canvaskit import _free_port, start_server, stop_server
    from core.execution.registry import NodeRegistry
    from core.models.standins import provision
    from core.workflow import formats

    base = tmp_path_factory.mktemp("lf_zimage")
    registry = NodeRegistry()
    nodes.register_builtin_nodes(registry)
    prompt, _ = formats.load_workflow_file(workflow(ZIMAGE), registry.object_info())
    assert not provision(prompt, base)
    port = _free_port()
    proc = start_server(base, port)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "base": base}
    finally:
        stop_server(proc)


ZIMAGE = "dit/image_z_image_turbo.ui.json"


def test_an_official_subgraph_template_opens_runs_and_saves_back_unchanged(browser, zimage_server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 850})
    page = ctx.new_page()
    page.goto(zimage_server["url"] + "/")
    page.wait_for_function("window.__latentflow && window.__latentflow.isReady", timeout=20000)
    data = json.loads(workflow(ZIMAGE).read_text())
    page.evaluate("d => window.__latentflow.loadWorkflow(d)", data)
    assert page.locator(".lf-missing").count() == 0           # every file and node type is there
    saved = page.evaluate("() => window.__latentflow.saveWorkflow()")
    for key in ("nodes", "links", "definitions", "groups"):
        assert saved[key] == data[key], key
    # small and quick: the instance's inner latent node and sampler, edited inside the subgraph
    page.evaluate("""() => {
        const lf = window.__latentflow, app = lf.app;
        const inst = [...lf.graph.nodes.values()].find(n => n.kind === 'subgraph');
        app.subgraphs.enter(inst);
        for (const n of lf.graph.nodes.values()) {
            if (n.type === 'EmptySD3LatentImage') { lf.graph.setWidget(n, 'width', 64); lf.graph.setWidget(n, 'height', 64); }
            if (n.type === 'KSampler') lf.graph.setWidget(n, 'steps', 2);
        }
        app.subgraphs.leave(Infinity);
    }""")
    page.keyboard.press("Control+Enter")
    page.wait_for_function("""() => [...window.__latentflow.graph.nodes.values()]
        .some(n => n.rt.images?.[0]?.img?.naturalWidth === 64)""", timeout=180_000)
    ctx.close()
