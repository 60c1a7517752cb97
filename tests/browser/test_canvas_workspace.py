"""What artists reach for after the editing loop: server-saved workflows in tabs, the templates browser,
the missing-model panel, overall progress, the node library, minimap, themes, shortcuts and the
smaller comforts — each driven with real mouse and keyboard events."""
import json
import urllib.request

import pytest

from canvaskit import require_nodes

MOD = "Control"


@pytest.fixture
def empty(canvas, object_info):
    require_nodes(object_info, "CheckpointLoaderSimple", "KSampler", "CLIPTextEncode", "LoadImage")
    canvas.clear()
    return canvas


def tabs(c):
    return c.page.locator(".lf-tab").evaluate_all("els => els.map(e => [e.querySelector('.name').textContent, e.classList.contains('modified'), e.classList.contains('active')])")


def saved_workflows(server):
    with urllib.request.urlopen(server["url"] + "/userdata?dir=workflows") as r:
        return json.load(r)


# --- workflows and tabs ------------------------------------------------------------------------------

def test_ctrl_s_saves_to_the_servers_workflows_folder_under_a_name_asked_once(empty, server):
    c = empty
    c.add_node_by_search("KSampler", at=(500, 300))
    c.page.keyboard.press(f"{MOD}+s")
    c.page.wait_for_selector(".lf-prompt-input")
    c.page.keyboard.press(f"{MOD}+a")
    c.page.keyboard.type("my portrait")
    c.page.keyboard.press("Enter")
    c.page.wait_for_function("document.querySelector('.lf-tab.active .name')?.textContent === 'my portrait'")
    assert "my portrait.json" in saved_workflows(server)
    on_disk = server["base"] / "user" / "default" / "workflows" / "my portrait.json"
    assert [n["type"] for n in json.loads(on_disk.read_text())["nodes"]] == ["KSampler"]
    assert tabs(c)[-1] == ["my portrait", False, True]
    # a second Ctrl+S saves in place, without asking
    c.add_node_by_search("CLIP Text Encode", at=(300, 500))
    c.page.wait_for_selector(".lf-tab.active.modified")
    c.page.keyboard.press(f"{MOD}+s")
    c.page.wait_for_function("!document.querySelector('.lf-tab.modified')")
    assert c.page.locator(".lf-prompt-input").count() == 0
    assert len(json.loads(on_disk.read_text())["nodes"]) == 2


def test_an_edit_marks_the_tab_unsaved_and_undoing_it_clears_the_mark(empty):
    c = empty
    c.page.keyboard.press(f"{MOD}+s")
    c.page.wait_for_selector(".lf-prompt-input")
    c.page.keyboard.type("marks")
    c.page.keyboard.press("Enter")
    c.page.wait_for_function("document.querySelector('.lf-tab.active .name')?.textContent === 'marks'")
    c.add_node_by_search("KSampler", at=(500, 300))
    c.page.wait_for_selector(".lf-tab.active.modified")
    assert c.page.title().startswith("*marks")
    c.page.mouse.click(1100, 830)
    c.page.keyboard.press(f"{MOD}+z")
    c.page.wait_for_function("!document.querySelector('.lf-tab.modified')")


def test_tabs_keep_their_own_graphs_and_survive_a_reload(empty):
    c = empty
    c.add_node_by_search("KSampler", at=(500, 300))
    c.page.click(".lf-tab-new")
    c.page.wait_for_function("document.querySelectorAll('.lf-tab').length === 2")
    c.clear()
    c.add_node_by_search("Load Checkpoint", at=(400, 300))
    c.add_node_by_search("CLIP Text Encode", at=(700, 300))
    c.page.click(".lf-tab >> nth=0")
    assert [c.hook("lf.node(arg).type", i) for i in c.hook("lf.nodeIds()")] == ["KSampler"]
    c.page.click(".lf-tab >> nth=1")
    assert c.summary()["nodes"] == 2
    c.page.reload()
    c.page.wait_for_function("window.__latentflow && window.__latentflow.isReady")
    assert len(tabs(c)) == 2 and tabs(c)[1][2]          # both tabs back, the second one active
    assert c.summary()["nodes"] == 2
    c.page.click(".lf-tab >> nth=0")
    assert c.summary()["nodes"] == 1


def test_a_saved_workflow_opens_from_the_workflows_panel_and_can_be_renamed(empty, server):
    c = empty
    body = json.dumps({"last_node_id": 1, "last_link_id": 0, "nodes": [{"id": 1, "type": "KSampler", "pos": [0, 0],
                       "size": [300, 260], "flags": {}, "order": 0, "mode": 0, "inputs": [], "outputs": [],
                       "properties": {}, "widgets_values": [5, "fixed", 20, 8, "euler", "normal", 1]}],
                       "links": [], "groups": [], "config": {}, "extra": {}, "version": 0.4}).encode()
    req = urllib.request.Request(server["url"] + "/userdata/workflows%2Ffrom%20elsewhere.json", data=body, method="POST")
    urllib.request.urlopen(req).close()
    c.page.keyboard.press("w")
    item = c.page.wait_for_selector(".lf-workflow-item[data-path='from elsewhere.json'] span")
    item.click()
    c.page.wait_for_function("[...document.querySelectorAll('.lf-tab .name')].some(e => e.textContent === 'from elsewhere')")
    assert c.hook("lf.widgetValue(1, 'seed')") == 5
    assert not tabs(c)[-1][1]
    c.page.click(".lf-workflow-item[data-path='from elsewhere.json'] button[title=Rename]")
    c.page.wait_for_selector(".lf-prompt-input")
    c.page.keyboard.press(f"{MOD}+a")
    c.page.keyboard.type("renamed")
    c.page.keyboard.press("Enter")
    c.page.wait_for_selector(".lf-workflow-item[data-path='renamed.json']")
    assert "renamed.json" in saved_workflows(server) and "from elsewhere.json" not in saved_workflows(server)
    assert tabs(c)[-1][0] == "renamed"


# --- templates -----------------------------------------------------------------------------------------

def test_the_templates_browser_opens_an_official_template_in_a_new_tab(empty):
    c = empty
    c.page.click("#lf-templates")
    c.page.wait_for_selector(".lf-template")
    c.page.fill(".lf-templates-filter", "sdxl simple")
    card = c.page.wait_for_selector(".lf-template[data-name='image_sdxl_simple']")
    c.shot("templates_browser")
    card.click()
    c.page.wait_for_function("window.__latentflow.summary().nodes > 5")
    assert c.page.locator(".lf-modal-back").count() == 0 or c.page.locator(".lf-missing").count() == 1
    types = {c.hook("lf.node(arg).type", i) for i in c.hook("lf.nodeIds()")}
    assert "KSampler" in types or "KSamplerAdvanced" in types
    assert len(tabs(c)) == 2


# --- missing models ------------------------------------------------------------------------------------

def test_missing_model_files_are_listed_on_load_with_their_folder(empty):
    c = empty
    wf = {"last_node_id": 2, "last_link_id": 0, "links": [], "groups": [], "config": {}, "extra": {}, "version": 0.4,
          "nodes": [{"id": 1, "type": "CheckpointLoaderSimple", "pos": [0, 0], "size": [300, 100], "flags": {}, "order": 0,
                     "mode": 0, "outputs": [], "properties": {"models": [{"name": "dreamy_xl.safetensors",
                                                                          "url": "https://example.invalid/dreamy_xl.safetensors",
                                                                          "directory": "checkpoints"}]},
                     "widgets_values": ["dreamy_xl.safetensors"]},
                    {"id": 2, "type": "CheckpointLoaderSimple", "pos": [0, 200], "size": [300, 100], "flags": {},
                     "order": 1, "mode": 0, "outputs": [], "properties": {}, "widgets_values": ["tiny_sd15.safetensors"]}]}
    c.drop_file("needs_models.json", json.dumps(wf).encode(), "application/json")
    panel = c.page.wait_for_selector(".lf-missing")
    rows = c.page.locator(".lf-missing-models tr").all_inner_texts()
    assert len(rows) == 1 and "dreamy_xl.safetensors" in rows[0] and "models/checkpoints/" in rows[0]
    assert panel.query_selector("a[href='https://example.invalid/dreamy_xl.safetensors']")
    c.shot("missing_models")


def test_the_error_modal_lists_each_validation_error_once(empty):
    c = empty
    ks = c.add_node_by_search("Save Image", at=(500, 300))     # an output whose required input is missing
    c.page.keyboard.press(f"{MOD}+Enter")
    text = c.page.wait_for_selector(".lf-error").inner_text()
    lines = [line for line in text.splitlines() if f"#{ks}" in line]
    assert lines and len(lines) == len(set(lines))
    assert sum(text.count(line) for line in set(lines)) == len(lines)


# --- progress ------------------------------------------------------------------------------------------

def test_a_run_shows_overall_progress_in_the_bar_title_and_favicon(canvas, object_info):
    require_nodes(object_info, "CheckpointLoaderSimple", "KSampler", "SaveImage")
    c = canvas
    c.hook("lf.app.loadDefault()")
    c.hook("(lf.graph.setWidget(lf.node(3), 'steps', 6), lf.graph.setWidget(lf.node(5), 'width', 64), lf.graph.setWidget(lf.node(5), 'height', 64), lf.graph.setWidget(lf.node(3), 'seed', Date.now() % 100000))")
    c.hook("(window.__titles = [], window.__icons = [], setInterval(() => { window.__titles.push(document.title); window.__icons.push(document.querySelector('link[rel=icon]')?.dataset.progress); }, 20), 1)")
    c.page.keyboard.press(f"{MOD}+Enter")
    c.page.wait_for_function("window.__latentflow.node(9).rt.images?.[0]?.img.naturalWidth > 0", timeout=120_000)
    c.page.wait_for_timeout(100)
    titles, icons = c.hook("window.__titles"), c.hook("window.__icons")
    shown = sorted({int(t[1:t.index("%")]) for t in titles if t.startswith("[")})
    assert shown and shown[0] < 100 and len(shown) >= 2, titles[-20:]
    assert any(i for i in icons)
    assert not c.page.title().startswith("[")                    # cleared when the run ends
    assert c.page.locator("#lf-progress-text").inner_text() == ""


def test_history_rows_show_run_time_and_sampling_parameters(canvas, object_info):
    require_nodes(object_info, "CheckpointLoaderSimple", "KSampler", "SaveImage")
    c = canvas
    c.hook("lf.app.loadDefault()")
    c.hook("(lf.graph.setWidget(lf.node(3), 'steps', 2), lf.graph.setWidget(lf.node(3), 'seed', 4242), lf.graph.setWidget(lf.node(5), 'width', 64), lf.graph.setWidget(lf.node(5), 'height', 64))")
    c.page.keyboard.press(f"{MOD}+Enter")
    c.page.wait_for_function("window.__latentflow.node(9).rt.images?.[0]?.img.naturalWidth > 0", timeout=120_000)
    c.page.click("#lf-panel")
    meta = c.page.wait_for_selector(".lf-queue-item.history .meta").inner_text()
    assert " s · seed 4242 · 2 steps" in meta and "64×64" in meta


# --- library, minimap, zoom ------------------------------------------------------------------------------

def test_node_library_adds_by_click_and_by_drag(empty):
    c = empty
    c.page.keyboard.press("n")
    c.page.wait_for_selector(".lf-library")
    c.page.click(".lf-library-cat >> text=sampling")
    c.page.click(".lf-library-node[data-type='KSampler']")
    assert [c.hook("lf.node(arg).type", i) for i in c.hook("lf.nodeIds()")] == ["KSampler"]
    c.page.fill(".lf-library-filter", "clip text")
    row = c.page.locator(".lf-library-node[data-type='CLIPTextEncode']")
    row.drag_to(c.page.locator("#lf-canvas"), target_position={"x": 900, "y": 500})
    ids = c.hook("lf.nodeIds()")
    assert len(ids) == 2
    pos = c.hook("lf.node(arg).pos", ids[-1])
    world = c.hook("lf.app.renderer.toWorld(900, 500)")
    assert pos == pytest.approx(world, abs=2)


def test_clicking_the_minimap_moves_the_view_there(empty):
    c = empty
    c.hook("(lf.app.addNode('KSampler', [0, 0]), lf.app.addNode('KSampler', [4000, 3000]), lf.app.renderer.fitView([lf.node(1)]), 1)")
    c.page.wait_for_timeout(50)
    box = c.page.locator(".lf-minimap").bounding_box()
    before = c.hook("lf.app.renderer.view.offset")
    c.page.mouse.click(box["x"] + box["width"] - 12, box["y"] + box["height"] - 12)
    after = c.hook("lf.app.renderer.view.offset")
    assert after[0] < before[0] - 1000 and after[1] < before[1] - 1000   # moved toward the far node
    c.page.keyboard.press("m")
    c.page.wait_for_selector(".lf-minimap", state="hidden", timeout=2000)


def test_fit_all_shows_two_thousand_nodes(empty):
    c = empty
    c.hook("""(() => { for (let i = 0; i < 2000; i++) lf.app.addNode('KSampler', [(i % 50) * 400, Math.floor(i / 50) * 400]);
                      lf.app.renderer.fitView(); return 1; })()""")
    inside = c.hook("""(() => { const v = lf.app.renderer.visibleRect();
        return [...lf.graph.nodes.values()].every(n => n.pos[0] >= v[0] && n.pos[1] - 30 >= v[1] && n.pos[0] + n.size[0] <= v[0] + v[2] && n.pos[1] + n.size[1] <= v[1] + v[3]); })()""")
    assert inside


def test_titles_stay_readable_when_zoomed_far_out(empty):
    c = empty
    c.hook("(lf.app.addNode('KSampler', [0, 0]), lf.app.renderer.view = {scale: 0.3, offset: [200, 200]}, lf.app.renderer.markDirty(), 1)")

    def title_pixels():
        c.page.wait_for_timeout(80)
        x, y = c.hook("lf.titlePos(1)")
        shot = c.page.screenshot(clip={"x": x - 20, "y": y - 8, "width": 70, "height": 16})
        return shot

    with_text = title_pixels()
    c.hook("(lf.app.settings.set('lodText', false), 1)")
    without = title_pixels()
    assert with_text != without


# --- theme, chrome, keys -------------------------------------------------------------------------------

def test_theme_follows_the_system_and_the_setting(canvas):
    c = canvas
    c.page.emulate_media(color_scheme="dark")
    c.page.wait_for_function("document.documentElement.dataset.theme === 'dark'")
    c.page.emulate_media(color_scheme="light")
    c.page.wait_for_function("document.documentElement.dataset.theme === 'light'")
    c.page.click("#lf-settings")
    c.page.select_option("select[data-setting=theme]", "dark")
    assert c.hook("document.documentElement.dataset.theme") == "dark"
    bg = c.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(27, 29, 33)"
    c.page.select_option("select[data-setting=theme]", "light")
    assert c.page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(238, 240, 243)"
    c.shot("light_theme")


def test_every_toolbar_button_is_reachable_at_1024_px(browser, server):
    ctx = browser.new_context(viewport={"width": 1024, "height": 700})
    page = ctx.new_page()
    page.goto(server["url"] + "/")
    page.wait_for_function("window.__latentflow && window.__latentflow.isReady")
    for b in page.locator("#lf-toolbar button").all():
        box = b.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1024 and box["y"] + box["height"] <= 700, b.inner_text()
    page.click("#lf-settings")
    page.wait_for_selector(".lf-settings-modal")
    ctx.close()


def test_escape_closes_a_modal_whatever_has_focus(canvas):
    c = canvas
    c.page.click("#lf-settings")
    c.page.wait_for_selector(".lf-settings-modal")
    c.page.locator("#lf-canvas").focus()
    c.page.keyboard.press("Escape")
    assert c.page.locator(".lf-modal-back").count() == 0


def test_question_mark_shows_the_shortcuts(canvas):
    c = canvas
    c.page.mouse.click(1100, 830)
    c.page.keyboard.press("Shift+?")
    text = c.page.wait_for_selector(".lf-help").inner_text()
    assert "Queue the workflow" in text and "Ctrl+Enter" in text


def test_a_rebound_key_runs_its_command_and_the_binding_persists(canvas):
    c = canvas
    c.page.click("#lf-settings")
    c.page.click("button[data-setting=keybindings]")
    c.page.click("button.lf-keybind[data-command=fit]")
    c.page.keyboard.press("Shift+F")
    assert c.page.locator("button.lf-keybind[data-command=fit]").inner_text() == "Shift+F"
    c.page.keyboard.press("Escape")
    c.page.keyboard.press("Escape")
    c.hook("(lf.app.renderer.view = {scale: 3, offset: [0, 0]}, 1)")
    c.page.mouse.click(1100, 830)
    c.page.keyboard.press("Shift+F")
    assert c.hook("lf.app.renderer.view.scale") < 3
    stored = json.loads(c.page.evaluate("localStorage.getItem('latentflow.settings')"))
    assert stored["keybindings"]["fit"] == ["Shift+F"]
    c.hook("(lf.app.keymap.reset(), 1)")


def test_toasts_stack_instead_of_overlapping(canvas):
    c = canvas
    c.hook("(lf.app.toast('one'), lf.app.toast('two'), lf.app.toast('three'), 1)")
    boxes = [t.bounding_box() for t in c.page.locator(".lf-toast").all()]
    assert len(boxes) == 3
    for a, b in zip(boxes, boxes[1:]):
        assert a["y"] + a["height"] <= b["y"]


def test_a_submenu_near_the_right_edge_opens_to_the_left_of_its_parent(empty):
    c = empty
    c.page.mouse.click(1390, 300, button="right")
    c.page.hover(".lf-menu-item >> text=Add Node")
    menus = c.page.locator(".lf-menu")
    parent, sub = menus.nth(0).bounding_box(), menus.nth(1).bounding_box()
    assert sub["x"] + sub["width"] <= parent["x"] + 1


def test_a_reroute_takes_the_type_of_what_it_carries(empty):
    c = empty
    ck = c.add_node_by_search("Load Checkpoint", at=(80, 200))
    te = c.add_node_by_search("CLIP Text Encode", at=(400, 200))
    rr = c.add_node_by_search("Reroute", at=(800, 450))
    ks = c.add_node_by_search("KSampler", at=(1000, 150))
    c.connect(te, 0, rr, 0)                          # CONDITIONING into the reroute
    c.connect(rr, 0, ks, c.hook("lf.node(arg).inputIndex('positive')", ks))
    links = c.summary()["links"]
    c.connect(ck, 0, rr, 0)                          # a MODEL may not replace it: the reroute feeds a CONDITIONING input
    assert c.summary()["links"] == links
    assert c.hook("lf.exportApi()")[str(ks)]["inputs"]["positive"] == [str(te), 0]


def test_ctrl_shift_v_pastes_with_the_input_links(empty):
    c = empty
    ck = c.add_node_by_search("Load Checkpoint", at=(80, 200))
    te = c.add_node_by_search("CLIP Text Encode", at=(500, 200))
    c.connect(ck, 1, te, 0)
    c.click(c.hook("lf.titlePos(arg)", te))
    c.page.keyboard.press(f"{MOD}+c")
    c.page.mouse.move(600, 550)
    c.page.keyboard.press(f"{MOD}+v")
    assert c.summary() == {"nodes": 3, "links": 1, "groups": 0}
    c.page.mouse.move(900, 550)
    c.page.keyboard.press(f"{MOD}+Shift+v")
    assert c.summary()["nodes"] == 4 and c.summary()["links"] == 2
    newest = max(c.hook("lf.nodeIds()"))
    assert c.hook("lf.exportApi()")[str(newest)]["inputs"]["clip"] == [str(ck), 1]


def test_markdown_notes_render_their_markdown(empty):
    c = empty
    text = "# Heading\\n- **bold** item\\n`code`"
    for kind, x in (("MarkdownNote", 40), ("Note", 520)):
        c.page.mouse.click(x + 100, 120, button="right")
        c.page.hover(".lf-menu-item >> text=Add Node")
        c.page.hover(".lf-menu-item[data-label='utils']")
        c.page.click(f".lf-menu-item[data-label='{'Markdown Note' if kind == 'MarkdownNote' else 'Note'}']")
    ids = c.hook("lf.nodeIds()")
    for nid in ids:
        c.hook(f"(lf.graph.setWidget(lf.node(arg), 'text', '{text}'), 1)", nid)
    c.page.wait_for_timeout(80)
    shots = []
    for nid in ids:
        r = c.hook("lf.widgetRect(arg, 'text')", nid)
        shots.append(c.page.screenshot(clip={"x": r["x"], "y": r["y"], "width": min(r["w"], 300), "height": 70}))
    assert shots[0] != shots[1]


def test_the_lightbox_scales_small_images_up_and_steps_through_outputs(canvas):
    c = canvas
    c.hook("""(lf.app.dialogs.gallery(['/view?filename=a.png&type=input', '/view?filename=b.png&type=input'], 0), 1)""")
    c.page.wait_for_selector(".lf-gallery-main")
    assert c.page.locator(".lf-gallery-counter").inner_text() == "1 / 2"
    c.page.keyboard.press("ArrowRight")
    assert c.page.locator(".lf-gallery-counter").inner_text() == "2 / 2"
    c.page.click(".lf-gallery-next")
    assert c.page.locator(".lf-gallery-counter").inner_text() == "1 / 2"
    box = c.page.locator(".lf-gallery-main").bounding_box()
    assert box["width"] > 500 and box["height"] > 300        # the box fills the window whatever the image size


# --- mask editor and image nodes -----------------------------------------------------------------------

def _png(width, height) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buf, "PNG")
    return buf.getvalue()


def test_a_load_image_node_grows_to_show_its_image(empty):
    c = empty
    li = c.add_node_by_search("Load Image", at=(400, 300))
    before = c.hook("lf.node(arg).size", li)
    c.drop_file("wide_grow.png", _png(256, 128), "image/png", at=c.hook("lf.bodyPos(arg)", li))
    c.page.wait_for_function(f"window.__latentflow.node({li}).rt.images?.[0]?.img.naturalWidth === 256")
    w, h = c.hook("lf.node(arg).size", li)
    _, _, aw, ah = c.hook("lf.imageArea(arg)", li)
    assert w >= 300 and h > before[1]
    assert ah == pytest.approx(aw / 2, abs=3)          # the picture's 2:1 shape fits the area exactly


def test_the_mask_editor_paints_undoes_and_saves_a_mask_load_image_reads(empty, server):
    from io import BytesIO

    from PIL import Image

    c = empty
    li = c.add_node_by_search("Load Image", at=(400, 300))
    c.drop_file("to_mask.png", _png(64, 48), "image/png", at=c.hook("lf.bodyPos(arg)", li))
    c.page.wait_for_function(f"window.__latentflow.widgetValue({li}, 'image') === 'to_mask.png'")
    c.page.mouse.click(*c.hook("lf.titlePos(arg)", li), button="right")
    c.page.click(".lf-menu-item >> text=Open in Mask Editor")
    view = c.page.wait_for_selector(".lf-mask-canvas")
    box = view.bounding_box()
    c.page.locator(".lf-mask-size").fill("30")       # a range input: fill sets its value and fires input
    c.drag((box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.5), (box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.5))
    painted = "(() => { const d = window.__latentflowMaskEditor.snapshot().data; let s = 0; for (let i = 3; i < d.length; i += 4) s += d[i] > 128; return s; })()"
    assert c.page.evaluate(painted) > 200
    c.page.keyboard.press(f"{MOD}+z")                 # the stroke is one step of the editor's own history
    assert c.page.evaluate(painted) == 0
    c.page.keyboard.press(f"{MOD}+y")
    assert c.page.evaluate(painted) > 200
    c.shot("mask_editor")
    c.page.click(".lf-mask-modal >> button:has-text('Save')")
    c.page.wait_for_function(f"String(window.__latentflow.widgetValue({li}, 'image')).startsWith('clipspace/')")
    value = c.hook("lf.widgetValue(arg, 'image')", li)
    with urllib.request.urlopen(f"{server['url']}/view?filename={value.split('/')[1]}&subfolder=clipspace&type=input") as r:
        img = Image.open(BytesIO(r.read()))
    assert img.mode == "RGBA" and img.size == (64, 48)
    alpha = img.getchannel("A")
    assert alpha.getpixel((32, 24)) < 20 and alpha.getpixel((2, 2)) == 255   # painted = transparent = masked
    assert img.convert("RGB").getpixel((2, 2)) == (200, 120, 40)             # the picture itself unchanged
    c.page.mouse.click(1100, 830)
    c.page.keyboard.press(f"{MOD}+z")                 # applying the mask is one graph undo step
    assert c.hook("lf.widgetValue(arg, 'image')", li) == "to_mask.png"
