"""Catalogue, status, file and user-storage routes: shapes and errors (docs/comfy-api.md §1.5-1.8), static files."""
import io
import json

import aiohttp
from PIL import Image, PngImagePlugin

from serverkit import async_test, served, sum_prompt, wait_history


def png(color=(10, 20, 30), mode="RGB", text=None) -> bytes:
    buf = io.BytesIO()
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    Image.new(mode, (4, 4), color).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def upload_form(data, name="a.png", **fields):
    form = aiohttp.FormData()
    form.add_field("image", data, filename=name, content_type="image/png")
    for k, v in fields.items():
        form.add_field(k, v)
    return form


@async_test
async def test_object_info_lists_every_node_with_the_reference_keys(folders):
    async with served(folders, start_worker=False) as c:
        info = await (await c.get("/object_info")).json()
        assert {"SrvNumber", "SrvSum", "SrvShow", "SrvSlow", "SrvBoom"} <= set(info)
        node = info["SrvNumber"]
        assert node["input"]["required"]["value"][0] == "INT"
        assert node["display_name"] == "Number (server test)" and node["python_module"] == "custom_nodes.serverpack"
        assert info["SrvShow"]["output_node"] is True
        assert await (await c.get("/api/object_info/SrvSum")).json() == {"SrvSum": info["SrvSum"]}
        assert await (await c.get("/object_info/Missing")).json() == {}


@async_test
async def test_system_stats_has_system_devices_and_an_instance_id(folders):
    async with served(folders, start_worker=False) as c:
        stats = await (await c.get("/system_stats")).json()
        again = await (await c.get("/api/system_stats")).json()
    for key in ("os", "ram_total", "ram_free", "comfyui_version", "python_version", "pytorch_version",
                "embedded_python", "argv", "instance_id"):
        assert key in stats["system"]
    assert stats["devices"][0]["type"] in ("cpu", "cuda")
    assert stats["system"]["instance_id"] == again["system"]["instance_id"]


@async_test
async def test_a_new_server_instance_has_a_new_instance_id(folders):
    async with served(folders, start_worker=False) as c:
        first = (await (await c.get("/system_stats")).json())["system"]["instance_id"]
    async with served(folders, start_worker=False) as c:
        second = (await (await c.get("/system_stats")).json())["system"]["instance_id"]
    assert first != second


@async_test
async def test_features_embeddings_models_and_extensions(folders):
    (folders.models_dir / "embeddings").mkdir(parents=True)
    (folders.models_dir / "embeddings" / "easy.safetensors").write_bytes(b"x")
    (folders.models_dir / "checkpoints").mkdir(parents=True)
    (folders.models_dir / "checkpoints" / "m.safetensors").write_bytes(b"x")
    async with served(folders, start_worker=False, max_upload_size=1234) as c:
        features = await (await c.get("/features")).json()
        assert features["supports_preview_metadata"] is True and features["max_upload_size"] == 1234
        assert await (await c.get("/embeddings")).json() == ["easy"]
        models = await (await c.get("/models")).json()
        assert "checkpoints" in models and "loras" in models
        assert await (await c.get("/models/checkpoints")).json() == ["m.safetensors"]
        assert (await c.get("/models/nonsense")).status == 404
        assert await (await c.get("/extensions")).json() == ["/extensions/serverpack/hello.js"]
        js = await c.get("/extensions/serverpack/hello.js")
        assert js.status == 200 and "javascript" in js.headers["Content-Type"]


@async_test
async def test_view_metadata_reads_the_safetensors_header_only(folders):
    header = json.dumps({"__metadata__": {"ss_name": "x"}}).encode()
    blob = len(header).to_bytes(8, "little") + header
    (folders.models_dir / "loras").mkdir(parents=True)
    (folders.models_dir / "loras" / "l.safetensors").write_bytes(blob)
    async with served(folders, start_worker=False) as c:
        assert await (await c.get("/view_metadata/loras?filename=l.safetensors")).json() == {"ss_name": "x"}
        assert (await c.get("/view_metadata/loras?filename=none.safetensors")).status == 404


@async_test
async def test_free_is_accepted_and_later_jobs_still_run(folders):
    async with served(folders) as c:
        resp = await c.post("/free", json={"unload_models": True, "free_memory": True})
        assert resp.status == 200 and await resp.read() == b""
        pid = (await (await c.post("/prompt", json={"prompt": sum_prompt(1, 1)})).json())["prompt_id"]
        assert (await wait_history(c, pid))["outputs"]["4"] == {"text": ["2"]}


@async_test
async def test_schemas_of_both_formats_are_served(folders):
    async with served(folders, start_worker=False) as c:
        prompt = await (await c.get("/api/schema/prompt")).json()
        workflow = await (await c.get("/api/schema/workflow")).json()
        assert prompt["required"] == ["prompt"] and workflow["required"] == ["nodes"]
        assert (await c.get("/api/schema/other")).status == 404


@async_test
async def test_view_missing_file_is_404_and_missing_filename_is_404(folders):
    async with served(folders, start_worker=False) as c:
        assert (await c.get("/view?filename=nope.png")).status == 404
        assert (await c.get("/view")).status == 404


@async_test
async def test_view_preview_and_channel_reencode(folders):
    (folders.output_dir / "rgba.png").write_bytes(png((1, 2, 3, 128), mode="RGBA"))
    async with served(folders, start_worker=False) as c:
        prev = await c.get("/view?filename=rgba.png&preview=jpeg;50&channel=rgb")
        assert prev.headers["Content-Type"] == "image/jpeg"
        alpha = await c.get("/view?filename=rgba.png&channel=a")
        img = Image.open(io.BytesIO(await alpha.read()))
        assert img.getchannel("A").getpixel((0, 0)) == 128 and img.getpixel((0, 0))[:3] == (0, 0, 0)
        annotated = await c.get("/view?filename=rgba.png%20[output]&type=input")
        assert annotated.status == 200


@async_test
async def test_upload_image_stores_reuses_identical_and_renames_different(folders):
    async with served(folders, start_worker=False) as c:
        first = await (await c.post("/upload/image", data=upload_form(png(), subfolder="sub"))).json()
        assert first == {"name": "a.png", "subfolder": "sub", "type": "input"}
        same = await (await c.post("/upload/image", data=upload_form(png(), subfolder="sub"))).json()
        assert same["name"] == "a.png"
        other = await (await c.post("/upload/image", data=upload_form(png((9, 9, 9)), subfolder="sub"))).json()
        assert other["name"] == "a (1).png"
        over = await (await c.post("/upload/image", data=upload_form(png((7, 7, 7)), subfolder="sub",
                                                                     overwrite="true"))).json()
        assert over["name"] == "a.png"
    assert (folders.input_dir / "sub" / "a.png").read_bytes() == png((7, 7, 7))


@async_test
async def test_upload_without_file_is_400(folders):
    async with served(folders, start_worker=False) as c:
        form = aiohttp.FormData()
        form.add_field("type", "input")
        assert (await c.post("/upload/image", data=form)).status == 400


@async_test
async def test_upload_mask_puts_the_mask_alpha_on_the_original_and_keeps_its_text(folders):
    (folders.output_dir / "orig.png").write_bytes(png((50, 60, 70), text={"prompt": "{}"}))
    mask = png((0, 0, 0, 40), mode="RGBA")
    async with served(folders, start_worker=False) as c:
        form = upload_form(mask, name="masked.png", original_ref=json.dumps({"filename": "orig.png"}))
        body = await (await c.post("/upload/mask", data=form)).json()
    assert body == {"name": "masked.png", "subfolder": "", "type": "input"}
    out = Image.open(folders.input_dir / "masked.png")
    assert out.getpixel((0, 0)) == (50, 60, 70, 40) and out.text["prompt"] == "{}"


@async_test
async def test_userdata_saves_lists_reads_moves_and_deletes_workflows(folders):
    async with served(folders, start_worker=False) as c:
        saved = await c.post("/userdata/workflows%2Fmine.json", data=b'{"nodes": []}')
        assert saved.status == 200 and await saved.json() == "workflows/mine.json"
        assert await (await c.get("/userdata?dir=workflows")).json() == ["mine.json"]
        assert await (await c.get("/userdata/workflows%2Fmine.json")).read() == b'{"nodes": []}'
        refused = await c.post("/userdata/workflows%2Fmine.json?overwrite=false", data=b"{}")
        assert refused.status == 409
        moved = await c.post("/userdata/workflows%2Fmine.json/move/workflows%2Fother.json")
        assert await moved.json() == "workflows/other.json"
        v2 = await (await c.get("/v2/userdata?path=workflows")).json()
        assert [e["name"] for e in v2] == ["other.json"]
        assert (await c.delete("/userdata/workflows%2Fother.json")).status == 204
        assert (await c.get("/userdata/workflows%2Fother.json")).status == 404


@async_test
async def test_settings_round_trip(folders):
    async with served(folders, start_worker=False) as c:
        assert await (await c.get("/settings")).json() == {}
        await c.post("/settings", json={"Comfy.Theme": "dark"})
        await c.post("/settings/Comfy.Zoom", json=2)
        assert await (await c.get("/settings")).json() == {"Comfy.Theme": "dark", "Comfy.Zoom": 2}
        assert await (await c.get("/settings/Comfy.Theme")).json() == "dark"
        assert (await (await c.get("/users")).json())["storage"] == "server"


@async_test
async def test_index_and_static_files_come_from_the_web_root(folders, tmp_path):
    web = tmp_path / "frontend"
    (web / "lib").mkdir(parents=True)
    (web / "index.html").write_text("<h1>canvas</h1>")
    (web / "lib" / "app.js").write_text("export {}")
    async with served(folders, start_worker=False, web_root=web) as c:
        index = await c.get("/")
        assert "canvas" in await index.text() and index.headers["Cache-Control"] == "no-cache"
        js = await c.get("/lib/app.js")
        assert js.status == 200 and "javascript" in js.headers["Content-Type"]
        assert (await c.get("/lib/missing.js")).status == 404


@async_test
async def test_without_a_frontend_the_index_explains_itself(folders):
    async with served(folders, start_worker=False) as c:
        assert "no frontend" in await (await c.get("/")).text()


@async_test
async def test_every_api_route_also_answers_under_api(folders):
    async with served(folders, start_worker=False) as c:
        for path in ("/prompt", "/queue", "/history", "/object_info", "/system_stats", "/embeddings", "/models",
                     "/extensions", "/features", "/settings", "/jobs"):
            bare, api = await c.get(path), await c.get("/api" + path)
            assert bare.status == api.status == 200, path


def test_flags_map_onto_the_server_config(tmp_path):
    from core.cli import flags as cli
    from core.server import config_from_args

    args = cli.parse_args(["--front-end-root", str(tmp_path), "--max-upload-size", "2", "--cache-lru", "5",
                           "--enable-cors-header", "http://a.example", "--database", str(tmp_path / "q.db")])
    config = config_from_args(args)
    assert config.web_root == tmp_path.resolve() and config.max_upload_size == 2 * 1024 * 1024
    assert (config.cache, config.cache_lru) == ("lru", 5)
    assert config.security.cors_origins == ("http://a.example",) and config.security.token is None
    assert str(config.db_path) == str(tmp_path / "q.db")
