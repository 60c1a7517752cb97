"""Running from the canvas against the real server and a tiny checkpoint: build the default graph by
hand, queue it, see progress and the image; validation errors marked; seed control timing."""
import json
import urllib.request

import pytest

from canvaskit import require_nodes

DEFAULT_TYPES = ["CheckpointLoaderSimple", "CLIPTextEncode", "EmptyLatentImage", "KSampler", "VAEDecode", "SaveImage"]


def record_events(c, *types):
    c.hook("(window.__events = [], arg.forEach(t => lf.app.api.on(t, d => window.__events.push([t, d]))), 1)", list(types))


def build_default_graph_by_hand(c):
    """Empty canvas → the default txt2img graph, using only double-click search, drags and typing."""
    c.clear()
    c.hook("(lf.app.renderer.view = {scale: 0.75, offset: [0, 0]}, lf.app.renderer.markDirty(), 1)")
    ids = {}
    for key, query, at in [("ckpt", "Load Checkpoint", (30, 330)), ("pos", "CLIP Text Encode", (270, 110)),
                           ("neg", "CLIP Text Encode", (270, 330)), ("latent", "Empty Latent Image", (270, 560)),
                           ("ks", "KSampler", (560, 110)), ("dec", "VAE Decode", (860, 110)),
                           ("save", "Save Image", (860, 330))]:
        ids[key] = c.add_node_by_search(query, at=at)
    types = {k: c.hook("lf.node(arg).type", v) for k, v in ids.items()}
    assert types == {"ckpt": "CheckpointLoaderSimple", "pos": "CLIPTextEncode", "neg": "CLIPTextEncode",
                     "latent": "EmptyLatentImage", "ks": "KSampler", "dec": "VAEDecode", "save": "SaveImage"}
    slot = lambda key, name: c.hook("lf.node(arg[0]).inputIndex(arg[1])", [ids[key], name])
    for origin, oslot, target, name in [("ckpt", 0, "ks", "model"), ("ckpt", 1, "pos", "clip"), ("ckpt", 1, "neg", "clip"),
                                        ("pos", 0, "ks", "positive"), ("neg", 0, "ks", "negative"),
                                        ("latent", 0, "ks", "latent_image"), ("ks", 0, "dec", "samples"),
                                        ("ckpt", 2, "dec", "vae"), ("dec", 0, "save", "images")]:
        c.connect(ids[origin], oslot, ids[target], slot(target, name))
    assert c.summary()["links"] == 9

    def type_into(key, widget, text):
        r = c.hook("lf.widgetRect(arg[0], arg[1])", [ids[key], widget])
        c.click((r["x"] + r["w"] / 2, r["y"] + min(r["h"] / 2, 12)))
        c.page.keyboard.press("Control+a")
        c.page.keyboard.type(text)
        c.page.keyboard.press("Control+Enter" if widget == "text" else "Enter")

    type_into("pos", "text", "a glass bottle, purple galaxy")
    type_into("neg", "text", "text, watermark")
    type_into("latent", "width", "64")
    type_into("latent", "height", "64")
    type_into("ks", "steps", "2")
    return ids


@pytest.fixture
def ready(canvas, object_info):
    require_nodes(object_info, *DEFAULT_TYPES)
    return canvas


def test_default_graph_built_by_hand_runs_and_shows_its_image_on_the_save_node(ready, server):
    c = ready
    ids = build_default_graph_by_hand(c)
    assert c.hook("lf.widgetValue(arg, 'width')", ids["latent"]) == 64
    assert c.hook("lf.widgetValue(arg, 'steps')", ids["ks"]) == 2
    record_events(c, "executing", "progress", "executed", "execution_error")
    c.shot("built_default_graph")
    c.page.keyboard.press("Control+Enter")
    c.page.wait_for_function("""id => { const n = window.__latentflow.node(id);
        return n.rt.images && n.rt.images[0].img.complete && n.rt.images[0].img.naturalWidth > 0; }""",
                             arg=ids["save"], timeout=180_000)
    events = c.hook("window.__events")
    assert not [e for e in events if e[0] == "execution_error"], events
    assert [e for e in events if e[0] == "progress" and str(e[1]["node"]) == str(ids["ks"])], "no sampler progress"
    assert c.hook("lf.node(arg).rt.images[0].img.naturalWidth", ids["save"]) == 64
    c.page.wait_for_timeout(100)
    c.shot("default_graph_result")
    # The UI workflow went along in extra_pnginfo, as docs/comfy-api.md §3.4 step 8 says.
    with urllib.request.urlopen(server["url"] + "/history?max_items=1") as r:
        (entry,) = json.load(r).values()
    assert len(entry["prompt"][3]["extra_pnginfo"]["workflow"]["nodes"]) == 7


def test_validation_errors_are_marked_on_the_offending_node_and_input(ready, object_info):
    c = ready
    c.hook("lf.app.loadDefault()")
    c.hook("lf.graph.setWidget(lf.node(4), 'ckpt_name', 'no_such_model.safetensors')")
    c.page.keyboard.press("Control+Enter")
    c.page.wait_for_selector(".lf-modal.lf-error")
    errors = c.hook("lf.node(4).rt.errors")
    assert "ckpt_name" in errors["inputs"]
    assert c.hook("lf.node(3).rt.errors") is None
    c.shot("validation_error")


@pytest.mark.parametrize("timing", ["after", "before"])
def test_increment_seed_control_applies_after_or_before_queueing(ready, timing):
    c = ready
    c.hook("lf.app.settings.set('seedControlTiming', arg)", timing)
    c.hook("lf.app.loadDefault()")
    c.hook("(lf.graph.setWidget(lf.node(3), 'seed', 100), lf.graph.setWidget(lf.node(3), 'control_after_generate', 'increment'), lf.graph.setWidget(lf.node(3), 'steps', 1), lf.graph.setWidget(lf.node(5), 'width', 64), lf.graph.setWidget(lf.node(5), 'height', 64))")
    with c.page.expect_request(lambda r: r.url.endswith("/prompt") and r.method == "POST") as req:
        c.page.keyboard.press("Control+Enter")
    sent = json.loads(req.value.post_data)["prompt"]["3"]["inputs"]["seed"]
    c.page.wait_for_function("window.__latentflow.widgetValue(3, 'seed') === 101")
    assert sent == (100 if timing == "after" else 101)


def test_batch_count_queues_that_many_prompts(ready):
    c = ready
    c.hook("lf.app.loadDefault()")
    c.hook("(lf.graph.setWidget(lf.node(3), 'steps', 1), lf.graph.setWidget(lf.node(5), 'width', 64), lf.graph.setWidget(lf.node(5), 'height', 64))")
    c.page.fill("#lf-batch", "3")
    posted = []
    c.page.on("request", lambda r: posted.append(r) if r.url.endswith("/prompt") and r.method == "POST" else None)
    c.page.click("#lf-queue-btn")
    c.page.wait_for_function("window.__latentflow.app.undo.done.filter(t => t.label === 'seed control').length === 3")
    assert len(posted) == 3


def test_an_execution_error_opens_a_dialog_with_the_traceback_and_marks_the_node(ready, object_info):
    require_nodes(object_info, "LatentBatchPick")
    c = ready
    c.hook("lf.app.loadDefault()")
    pick = c.hook("""(() => { const app = lf.app, g = lf.graph;
        const n = app.addNode('LatentBatchPick', [700, 700]);
        g.connect(5, 0, n.id, 0); g.connect(n.id, 0, 3, lf.node(3).inputIndex('latent_image'));
        g.setWidget(n, 'indices', '5'); g.setWidget(lf.node(5), 'width', 64); g.setWidget(lf.node(5), 'height', 64);
        return n.id; })()""")
    c.page.keyboard.press("Control+Enter")
    dialog = c.page.wait_for_selector(".lf-modal.lf-error", timeout=120_000)
    assert "outside the batch" in dialog.inner_text()
    assert c.page.locator(".lf-error pre.traceback").inner_text().strip()
    assert c.hook("lf.node(arg).rt.errors", pick) is not None
    c.shot("execution_error")


def test_history_panel_lists_a_finished_run_and_reloads_its_workflow(ready):
    c = ready
    c.hook("lf.app.loadDefault()")
    c.hook("(lf.graph.setWidget(lf.node(3), 'steps', 1), lf.graph.setWidget(lf.node(5), 'width', 64), lf.graph.setWidget(lf.node(5), 'height', 64), lf.graph.setWidget(lf.node(6), 'text', 'from history'))")
    c.page.keyboard.press("Control+Enter")
    c.page.wait_for_function("window.__latentflow.node(9).rt.images?.[0]?.img.naturalWidth > 0", timeout=120_000)
    c.page.click("#lf-panel")
    c.page.wait_for_selector(".lf-queue-item img")
    c.shot("history_panel")
    c.clear()
    c.page.locator(".lf-queue-item.history").first.locator("button", has_text="Load").click()   # newest first
    c.page.wait_for_function("window.__latentflow.summary().nodes === 7")
    assert c.hook("lf.widgetValue(6, 'text')") == "from history"


def test_clicking_an_output_image_opens_the_gallery(ready):
    c = ready
    c.hook("lf.app.loadDefault()")
    c.hook("(lf.graph.setWidget(lf.node(3), 'steps', 1), lf.graph.setWidget(lf.node(5), 'width', 64), lf.graph.setWidget(lf.node(5), 'height', 64))")
    c.page.keyboard.press("Control+Enter")
    c.page.wait_for_function("window.__latentflow.node(9).rt.images?.[0]?.img.naturalWidth > 0", timeout=120_000)
    c.page.wait_for_timeout(50)
    c.click(c.hook("lf.imageAreaPos(9)"))
    img = c.page.wait_for_selector(".lf-gallery img")
    assert "/view?" in img.get_attribute("src")


def _posted(c, action):
    with c.page.expect_request(lambda r: r.method == "POST" and r.url.rsplit("/", 1)[-1] in ("prompt", "interrupt")) as req:
        action()
    return req.value


def test_ctrl_shift_enter_queues_at_the_front_and_ctrl_alt_enter_interrupts(ready):
    c = ready
    c.hook("lf.app.loadDefault()")
    c.hook("(lf.graph.setWidget(lf.node(3), 'steps', 1), lf.graph.setWidget(lf.node(5), 'width', 64), lf.graph.setWidget(lf.node(5), 'height', 64))")
    front = _posted(c, lambda: c.page.keyboard.press("Control+Shift+Enter"))
    assert front.url.endswith("/prompt") and json.loads(front.post_data)["front"] is True
    stop = _posted(c, lambda: c.page.keyboard.press("Control+Alt+Enter"))
    assert stop.url.endswith("/interrupt")


def test_latent_preview_frames_are_drawn_on_the_running_node(ready):
    """A binary PREVIEW_IMAGE frame (docs/comfy-api.md §2: type 1, format 2 = PNG) lands on the running node."""
    c = ready
    c.hook("lf.app.loadDefault()")
    got = c.page.evaluate("""async () => {
        const lf = window.__latentflow, api = lf.app.api;
        api.emit('executing', {node: '3', display_node: '3', prompt_id: 'x'});
        const cv = new OffscreenCanvas(4, 4); cv.getContext('2d').fillRect(0, 0, 4, 4);
        const png = new Uint8Array(await (await cv.convertToBlob({type: 'image/png'})).arrayBuffer());
        const frame = new Uint8Array(8 + png.length); const dv = new DataView(frame.buffer);
        dv.setUint32(0, 1); dv.setUint32(4, 2); frame.set(png, 8);
        api._binary(frame.buffer);
        for (let i = 0; i < 50 && !lf.node(3).rt.preview; i++) await new Promise(r => setTimeout(r, 20));
        return [lf.node(3).rt.running, lf.node(3).rt.preview?.width];
    }""")
    assert got == [True, 4]
