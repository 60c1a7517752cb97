"""Editing gestures: search, menus, typed links, link-release search, copy/paste, groups, settings,
catalogue refresh, image upload, extensions, reconnect."""
import json
import struct
import zlib

import pytest

from canvaskit import require_nodes


def tiny_png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def empty(canvas, object_info):
    require_nodes(object_info, "CheckpointLoaderSimple", "CLIPTextEncode", "KSampler", "KSamplerAdvanced", "LoadImage")
    canvas.clear()
    canvas.hook("(lf.app.renderer.view = {scale: 1, offset: [0, 0]}, 1)")
    return canvas


def test_search_is_fuzzy_over_names_and_enter_adds_the_best_match_at_the_cursor(empty):
    c = empty
    c.page.mouse.dblclick(500, 300)
    c.page.keyboard.type("ksadv")
    first = c.page.locator(".lf-search-item").first
    assert first.get_attribute("data-type") == "KSamplerAdvanced"
    c.page.keyboard.press("Enter")
    (nid,) = c.hook("lf.nodeIds()")
    pos = c.hook("lf.node(arg).pos", nid)
    world = c.hook("lf.app.renderer.toWorld(500 - lf.app.canvas.getBoundingClientRect().left, 300 - lf.app.canvas.getBoundingClientRect().top)")
    assert pos == pytest.approx(world, abs=1)


def test_search_matches_display_names_and_categories(empty):
    c = empty
    c.page.mouse.dblclick(500, 300)
    c.page.keyboard.type("Load Checkpoint")
    assert c.page.locator(".lf-search-item").first.get_attribute("data-type") == "CheckpointLoaderSimple"
    c.page.keyboard.press("Control+a")
    c.page.keyboard.type("loaders")
    types = c.page.locator(".lf-search-item").evaluate_all("els => els.map(e => e.dataset.type)")
    assert "CheckpointLoaderSimple" in types and "KSampler" not in types


def test_right_click_menu_adds_nodes_by_category_path(empty):
    c = empty
    c.page.mouse.click(600, 400, button="right")
    c.page.hover(".lf-menu-item >> text=Add Node")
    c.page.hover(".lf-menu-item[data-label='sampling']")
    c.shot("context_menu")
    c.page.click(".lf-menu-item[data-label='KSampler']")
    assert [c.hook("lf.node(arg).type", i) for i in c.hook("lf.nodeIds()")] == ["KSampler"]


def test_an_incompatible_link_is_refused(empty):
    c = empty
    ck = c.add_node_by_search("Load Checkpoint", at=(80, 200))
    te = c.add_node_by_search("CLIP Text Encode", at=(600, 200))
    c.connect(ck, 0, te, 0)            # MODEL onto a CLIP input
    assert c.summary()["links"] == 0
    c.connect(ck, 1, te, 0)            # CLIP onto CLIP
    assert c.summary()["links"] == 1


def test_a_link_dropped_on_empty_space_offers_compatible_nodes_and_wires_the_pick(empty):
    c = empty
    ck = c.add_node_by_search("Load Checkpoint", at=(80, 200))
    c.drag(c.hook("lf.outputPos(arg, 1)", ck), (700, 500))
    c.page.wait_for_selector(".lf-search")
    types = c.page.locator(".lf-search-item").evaluate_all("els => els.map(e => e.dataset.type)")
    assert "CLIPTextEncode" in types and "EmptyLatentImage" not in types
    c.page.keyboard.type("CLIP Text Encode")
    c.page.keyboard.press("Enter")
    new = max(c.hook("lf.nodeIds()"))
    assert c.hook("lf.node(arg).type", new) == "CLIPTextEncode"
    link = c.hook("lf.graph.links.get(lf.node(arg).inputs[0].link)", new)
    assert (link["origin_id"], link["origin_slot"]) == (ck, 1)
    c.page.keyboard.press("Control+z")     # node and link go in one step
    assert c.summary() == {"nodes": 1, "links": 0, "groups": 0}


def test_copy_and_paste_puts_the_copy_at_the_cursor_with_its_internal_links(empty):
    c = empty
    ck = c.add_node_by_search("Load Checkpoint", at=(80, 150))
    te = c.add_node_by_search("CLIP Text Encode", at=(450, 150))
    c.connect(ck, 1, te, 0)
    c.page.keyboard.press("Control+a")
    c.page.keyboard.press("Control+c")
    c.page.mouse.move(200, 600)
    c.page.keyboard.press("Control+v")
    assert c.summary() == {"nodes": 4, "links": 2, "groups": 0}
    pasted = sorted(c.hook("lf.nodeIds()"))[2:]
    top_left = min(c.hook("lf.node(arg).pos", i)[0] for i in pasted), min(c.hook("lf.node(arg).pos", i)[1] for i in pasted)
    cursor = c.hook("lf.app.renderer.toWorld(200 - lf.app.canvas.getBoundingClientRect().left, 600 - lf.app.canvas.getBoundingClientRect().top)")
    assert top_left == pytest.approx(tuple(cursor), abs=1)


def test_a_group_moves_with_the_nodes_inside_it(empty):
    c = empty
    a = c.add_node_by_search("Load Checkpoint", at=(150, 250))
    c.page.keyboard.press("Control+a")
    c.page.keyboard.press("Control+g")
    before = c.hook("lf.node(arg).pos", a)
    g = c.hook("lf.graph.groups[0].bounding")
    r = c.hook("lf.app.rectOnScreen({x: arg[0] + 120, y: arg[1] + 12, w: 0, h: 0})", g)
    c.drag((r["x"], r["y"]), (r["x"] + 200, r["y"] + 100))
    after = c.hook("lf.node(arg).pos", a)
    assert after == pytest.approx([before[0] + 200, before[1] + 100], abs=1)
    c.shot("group")


def test_widget_to_input_and_back(empty):
    c = empty
    ks = c.add_node_by_search("KSampler", at=(400, 150))
    c.page.mouse.click(*c.hook("lf.titlePos(arg)", ks), button="right")
    c.page.hover(".lf-menu-item >> text=Convert widget to input")
    c.page.click(".lf-menu-item >> text=cfg")
    assert c.hook("lf.node(arg).inputs.map(i => i.name)", ks)[-1] == "cfg"
    assert c.hook("lf.widgetRect(arg, 'cfg')", ks) is None          # no longer drawn as a widget
    c.page.mouse.click(*c.hook("lf.titlePos(arg)", ks), button="right")
    c.page.hover(".lf-menu-item >> text=Convert input to widget")
    c.page.click(".lf-menu-item >> text=cfg")
    assert "cfg" not in c.hook("lf.node(arg).inputs.map(i => i.name)", ks)


def test_muted_and_bypassed_nodes_leave_the_api_prompt(empty):
    c = empty
    ck = c.add_node_by_search("Load Checkpoint", at=(80, 150))
    te = c.add_node_by_search("CLIP Text Encode", at=(450, 150))
    c.connect(ck, 1, te, 0)
    c.click(c.hook("lf.titlePos(arg)", te))
    c.page.keyboard.press("Control+m")
    assert set(c.hook("lf.exportApi()")) == {str(ck)}
    c.page.keyboard.press("Control+m")
    assert set(c.hook("lf.exportApi()")) == {str(ck), str(te)}


def test_settings_panel_changes_link_style_and_persists_it(empty):
    c = empty
    c.page.click("#lf-settings")
    c.page.select_option("select[data-setting=linkStyle]", "straight")
    assert c.hook("lf.app.settings.get('linkStyle')") == "straight"
    assert json.loads(c.page.evaluate("localStorage.getItem('latentflow.settings')"))["linkStyle"] == "straight"
    c.shot("settings")


def test_r_refreshes_the_catalogue_so_new_model_files_appear_in_combos(empty, server):
    c = empty
    ck = c.add_node_by_search("Load Checkpoint", at=(80, 150))
    new = server["base"] / "models" / "checkpoints" / "added_later.safetensors"
    new.write_bytes((server["base"] / "models" / "checkpoints" / "tiny_sd15.safetensors").read_bytes())
    try:
        c.page.mouse.click(900, 700)
        c.page.keyboard.press("r")
        c.page.wait_for_function("id => window.__latentflow.node(id).widget('ckpt_name').options.values.includes('added_later.safetensors')", arg=ck)
    finally:
        new.unlink()


def test_an_image_dropped_on_load_image_is_uploaded_selected_and_shown(empty):
    c = empty
    li = c.add_node_by_search("Load Image", at=(300, 150))
    c.drop_file("dropped_red.png", tiny_png(), "image/png", at=c.hook("lf.bodyPos(arg)", li))
    c.page.wait_for_function("id => window.__latentflow.widgetValue(id, 'image') === 'dropped_red.png'", arg=li)
    c.page.wait_for_function("id => window.__latentflow.node(id).rt.images?.[0]?.img.naturalWidth === 8", arg=li)
    assert c.hook("lf.exportApi()")[str(li)]["inputs"] == {"image": "dropped_red.png"}


def test_custom_node_web_extensions_load_and_hook_node_creation(empty, object_info):
    require_nodes(object_info, "ImageBatchGrid")
    c = empty
    assert "/extensions/example_pack/example.js" in c.page.evaluate("fetch('/extensions').then(r => r.json())")
    nid = c.add_node_by_search("Image Batch to Grid", at=(300, 150))
    assert c.hook("lf.node(arg).widget('background').type", nid) == "grey_level"
    assert "example_pack.canvas" in c.hook("window.latentflow.extensions.map(e => e.name)")
    c.shot("extension_node")


def test_the_socket_reconnects_by_itself(empty):
    c = empty
    c.page.wait_for_function("window.__latentflow.app.api.connected")
    c.hook("(lf.app.api.socket.close(), 1)")
    c.page.wait_for_function("!window.__latentflow.app.api.connected || document.querySelector('#lf-status').textContent !== 'connected'")
    c.page.wait_for_function("window.__latentflow.app.api.connected && document.querySelector('#lf-status').textContent === 'connected'", timeout=10000)


def test_search_filters_by_socket_type_with_in_and_out_prefixes(empty):
    c = empty
    c.page.mouse.dblclick(500, 300)
    c.page.keyboard.type("in:LATENT out:IMAGE")
    types = c.page.locator(".lf-search-item").evaluate_all("els => els.map(e => e.dataset.type)")
    assert "VAEDecode" in types
    assert "KSampler" not in types and "CheckpointLoaderSimple" not in types


def test_links_through_a_reroute_resolve_to_the_real_origin_in_the_api_prompt(empty):
    c = empty
    ck = c.add_node_by_search("Load Checkpoint", at=(60, 150))
    rr = c.add_node_by_search("Reroute", at=(380, 420))
    te = c.add_node_by_search("CLIP Text Encode", at=(600, 150))
    c.connect(ck, 1, rr, 0)
    c.connect(rr, 0, te, 0)
    assert c.summary()["links"] == 2
    api = c.hook("lf.exportApi()")
    assert str(rr) not in api
    assert api[str(te)]["inputs"]["clip"] == [str(ck), 1]


def test_note_nodes_from_the_menu_hold_text_and_stay_out_of_the_api_prompt(empty):
    c = empty
    c.page.mouse.click(500, 300, button="right")
    c.page.click(".lf-menu-item >> text=Add Note")
    (note,) = c.hook("lf.nodeIds()")
    r = c.hook("lf.widgetRect(arg, 'text')", note)
    c.click((r["x"] + 20, r["y"] + 20))
    c.page.keyboard.type("remember the seed")
    c.page.mouse.click(1100, 830)
    assert c.hook("lf.widgetValue(arg, 'text')", note) == "remember the seed"
    assert c.hook("lf.exportApi()") == {}
    assert c.hook("lf.saveWorkflow()")["nodes"][0]["widgets_values"] == ["remember the seed"]


def test_a_primitive_wired_to_a_converted_widget_drives_its_value(empty):
    c = empty
    ks = c.add_node_by_search("KSampler", at=(500, 150))
    c.page.mouse.click(*c.hook("lf.titlePos(arg)", ks), button="right")
    c.page.hover(".lf-menu-item >> text=Convert widget to input")
    c.page.click(".lf-menu-item >> text=seed")
    prim = c.add_node_by_search("Primitive", at=(80, 150))
    c.connect(prim, 0, ks, c.hook("lf.node(arg).inputIndex('seed')", ks))
    assert c.hook("lf.node(arg).widgets.map(w => w.name)", prim) == ["value", "control_after_generate"]
    assert c.hook("lf.widgetRect(arg, 'control_after_generate')", ks) is None   # the primitive's control rules now
    r = c.hook("lf.widgetRect(arg, 'value')", prim)
    c.click((r["x"] + r["w"] / 2, r["y"] + r["h"] / 2))
    c.page.keyboard.press("Control+a")
    c.page.keyboard.type("4242")
    c.page.keyboard.press("Enter")
    api = c.hook("lf.exportApi()")
    assert str(prim) not in api and api[str(ks)]["inputs"]["seed"] == 4242
    c.shot("primitive")


def test_the_upload_button_opens_a_file_chooser_and_uploads_the_pick(empty, tmp_path):
    c = empty
    li = c.add_node_by_search("Load Image", at=(300, 150))
    png = tmp_path / "picked_blue.png"
    png.write_bytes(tiny_png())
    r = c.hook("lf.widgetRect(arg, 'upload')", li)
    with c.page.expect_file_chooser() as fc:
        c.click((r["x"] + r["w"] / 2, r["y"] + r["h"] / 2))
    fc.value.set_files(str(png))
    c.page.wait_for_function("id => window.__latentflow.widgetValue(id, 'image') === 'picked_blue.png'", arg=li)


def test_pasting_an_image_uploads_it_into_the_selected_load_image_node(empty):
    c = empty
    li = c.add_node_by_search("Load Image", at=(300, 150))
    c.click(c.hook("lf.titlePos(arg)", li))
    c.page.evaluate("""bytes => {
        const dt = new DataTransfer(); dt.items.add(new File([new Uint8Array(bytes)], 'pasted_image.png', {type: 'image/png'}));
        document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true}));
    }""", list(tiny_png()))
    c.page.wait_for_function("id => window.__latentflow.widgetValue(id, 'image') === 'pasted_image.png'", arg=li)
