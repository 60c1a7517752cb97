"""Security defaults: traversal and symlink escapes, cross-origin and DNS-rebinding requests, token auth,
active content served as download, upload checks (core/server/security.py, docs/comfy-api.md §10)."""
import io
import os
from argparse import Namespace

import aiohttp
import pytest
from PIL import Image

from serverkit import async_test, served, sum_prompt
from core.server.security import SecurityConfig, config_from_args, is_loopback_bind, sanitize_filename, Refused

SECRET = b"TOP-SECRET-CONTENT"


def png_bytes(color=(1, 2, 3)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture()
def tree(folders, tmp_path):
    """A secret outside every served root, and symlinks inside output pointing at it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    os.symlink(outside / "secret.txt", folders.output_dir / "link.txt")
    os.symlink(outside, folders.output_dir / "linkdir")
    os.symlink(outside, folders.input_dir / "linkdir")
    (folders.output_dir / "ok.png").write_bytes(png_bytes())
    return folders


VIEW_PAYLOADS = [
    "filename=../secret.txt", "filename=..%2fsecret.txt", "filename=%2e%2e%2fsecret.txt",
    "filename=/etc/passwd", "filename=....//secret.txt", "filename=secret.txt&subfolder=..",
    "filename=secret.txt&subfolder=../..", "filename=passwd&subfolder=/etc",
    "filename=secret.txt&subfolder=sub/../..", "filename=ok.png%00.txt", "filename=..%5csecret.txt",
    "filename=secret.txt&subfolder=..%5c..", "filename=%252e%252e%252fsecret.txt",
    "filename=secret.txt&subfolder=%252e%252e", "filename=secret.txt&type=../../etc",
    "filename=secret.txt&type=models", "filename=link.txt", "filename=secret.txt&subfolder=linkdir",
    "filename=../secret.txt%20[output]", "filename=C:%5cWindows%5cwin.ini", "filename=win.ini&subfolder=C:/Windows",
    "filename=secret.txt&subfolder=%2e%2e",
]


@pytest.mark.parametrize("query", VIEW_PAYLOADS)
@async_test
async def test_view_refuses_traversal_payload(tree, query):
    async with served(tree, start_worker=False) as c:
        resp = await c.get("/view?" + query)
        body = await resp.read()
        assert resp.status in (400, 403) and SECRET not in body


OTHER_TRAVERSALS = [
    ("GET", "/userdata/..%2F..%2Fsecret.txt"), ("GET", "/userdata/%2Fetc%2Fpasswd"),
    ("GET", "/userdata/..%2F..%2Foutside%2Fsecret.txt"), ("GET", "/..%2f..%2fsecret.txt"),
    ("GET", "/extensions/serverpack/..%2f..%2fconftest.py"), ("GET", "/extensions/serverpack/%2e%2e/conftest.py"),
    ("GET", "/userdata?dir=..%2F.."), ("GET", "/v2/userdata?path=../.."),
]


@pytest.mark.parametrize("method,url", OTHER_TRAVERSALS)
@async_test
async def test_other_routes_refuse_traversal_payload(tree, method, url):
    async with served(tree, start_worker=False) as c:
        resp = await c.request(method, url)
        body = await resp.read()
        assert resp.status in (400, 403, 404) and SECRET not in body and b"async_test" not in body


UPLOAD_PAYLOADS = [{"subfolder": "../"}, {"subfolder": "/tmp"}, {"subfolder": "linkdir"}, {"type": "../"},
                   {"subfolder": "a/../../.."}, {"subfolder": "%2e%2e"}, {"subfolder": "x\x00y"}]


@pytest.mark.parametrize("fields", UPLOAD_PAYLOADS)
@async_test
async def test_upload_refuses_target_outside_its_folder(tree, fields):
    async with served(tree, start_worker=False) as c:
        form = aiohttp.FormData()
        form.add_field("image", png_bytes(), filename="up.png", content_type="image/png")
        for k, v in fields.items():
            form.add_field(k, v)
        resp = await c.post("/upload/image", data=form)
        assert resp.status in (400, 403)
    assert not (tree.base / "outside" / "up.png").exists()


@async_test
async def test_upload_filename_with_path_is_reduced_to_a_safe_basename_inside_input(tree):
    async with served(tree, start_worker=False) as c:
        # the raw multipart a browser sends (aiohttp's FormData would percent-encode the name)
        body = (b'--XB\r\nContent-Disposition: form-data; name="image"; filename="../../evil<1>.png"\r\n'
                b"Content-Type: image/png\r\n\r\n" + png_bytes() + b"\r\n--XB--\r\n")
        resp = await c.post("/upload/image", data=body, headers={"Content-Type": "multipart/form-data; boundary=XB"})
        body = await resp.json()
    assert body == {"name": "evil_1_.png", "subfolder": "", "type": "input"}
    assert (tree.input_dir / "evil_1_.png").is_file()


@async_test
async def test_upload_mask_refuses_an_original_outside_the_folder(tree):
    async with served(tree, start_worker=False) as c:
        form = aiohttp.FormData()
        form.add_field("image", png_bytes(), filename="mask.png", content_type="image/png")
        form.add_field("original_ref", '{"filename": "../secret.txt", "type": "output"}')
        assert (await c.post("/upload/mask", data=form)).status in (400, 403)


CROSS_ORIGIN = [
    {"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "http://localhost.evil.example"},
    {"Origin": "http://127.0.0.1:1"}, {"Origin": "file://"}, {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"}, {"Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"},
]
STATE_CHANGES = [("POST", "/prompt"), ("POST", "/api/prompt"), ("POST", "/interrupt"), ("POST", "/queue"),
                 ("POST", "/free"), ("POST", "/history"), ("POST", "/upload/image"), ("DELETE", "/userdata/x.json"),
                 ("POST", "/settings")]


@pytest.mark.parametrize("headers", CROSS_ORIGIN)
@async_test
async def test_cross_origin_prompt_is_refused(folders, headers):
    async with served(folders, start_worker=False) as c:
        resp = await c.post("/prompt", json={"prompt": sum_prompt()}, headers=headers)
        assert resp.status == 403
        assert (await (await c.get("/prompt")).json())["exec_info"]["queue_remaining"] == 0


@pytest.mark.parametrize("method,path", STATE_CHANGES)
@async_test
async def test_every_state_changing_route_refuses_a_foreign_origin(folders, method, path):
    async with served(folders, start_worker=False) as c:
        resp = await c.request(method, path, data=b"{}", headers={"Origin": "http://evil.example"})
        assert resp.status == 403


@pytest.mark.parametrize("origin", ["http://evil.example", "null"])
@async_test
async def test_cross_origin_websocket_is_refused(folders, origin):
    async with served(folders, start_worker=False) as c:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await c.ws_connect("/ws", headers={"Origin": origin})
        assert e.value.status == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8188", "127.0.0.1.nip.io", "localhost.evil.example",
                                  "192.168.1.10"])
@async_test
async def test_foreign_host_header_is_refused_while_bound_to_loopback(folders, host):
    async with served(folders, start_worker=False) as c:
        assert (await c.get("/object_info", headers={"Host": host})).status == 403
        assert (await c.post("/prompt", json={"prompt": sum_prompt()}, headers={"Host": host})).status == 403


@async_test
async def test_same_origin_and_originless_clients_are_accepted(folders):
    async with served(folders, start_worker=False) as c:
        origin = f"http://127.0.0.1:{c.port}"
        ok1 = await c.post("/prompt", json={"prompt": sum_prompt()}, headers={"Origin": origin,
                                                                                "Sec-Fetch-Site": "same-origin"})
        ok2 = await c.post("/prompt", json={"prompt": sum_prompt()})  # scripts send no Origin
        ok3 = await c.get("/object_info", headers={"Host": f"localhost:{c.port}"})
        assert (ok1.status, ok2.status, ok3.status) == (200, 200, 200)


@async_test
async def test_enable_cors_header_admits_only_the_named_origin(folders):
    sec = SecurityConfig(cors_origins=("http://good.example",))
    async with served(folders, start_worker=False, security=sec) as c:
        good = await c.post("/prompt", json={"prompt": sum_prompt()}, headers={"Origin": "http://good.example"})
        assert good.status == 200
        assert good.headers["Access-Control-Allow-Origin"] == "http://good.example"
        bad = await c.post("/prompt", json={"prompt": sum_prompt()}, headers={"Origin": "http://evil.example"})
        assert bad.status == 403 and "Access-Control-Allow-Origin" not in bad.headers
        pre = await c.options("/prompt", headers={"Origin": "http://good.example"})
        assert pre.status == 200 and "POST" in pre.headers["Access-Control-Allow-Methods"]


@async_test
async def test_token_is_required_when_configured(folders):
    sec = SecurityConfig(token="s3cret")
    async with served(folders, start_worker=False, security=sec) as c:
        assert (await c.get("/system_stats")).status == 401
        assert (await c.get("/system_stats", headers={"Authorization": "Bearer wrong"})).status == 401
        assert (await c.get("/system_stats", headers={"Authorization": "Bearer s3cret"})).status == 200
        assert (await c.post("/prompt", json={"prompt": sum_prompt()})).status == 401


@async_test
async def test_token_in_the_url_sets_a_cookie_that_authenticates_later_requests(folders):
    sec = SecurityConfig(token="s3cret")
    async with served(folders, start_worker=False, security=sec) as c:
        first = await c.get("/?token=s3cret")
        assert first.status == 200
        cookie = first.cookies["latentflow_token"]
        assert cookie.value == "s3cret" and cookie["httponly"] and cookie["samesite"] == "Strict"
        assert (await c.get("/object_info")).status == 200  # the client jar now carries the cookie


@async_test
async def test_websocket_needs_the_token_too(folders):
    sec = SecurityConfig(token="s3cret")
    async with served(folders, start_worker=False, security=sec) as c:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await c.ws_connect("/ws")
        ws = await c.ws_connect("/ws?token=s3cret")
        assert (await ws.receive_json(timeout=5))["type"] == "status"
        await ws.close()


def test_listen_on_all_interfaces_turns_token_auth_on_unless_disabled():
    assert is_loopback_bind(["127.0.0.1"]) and is_loopback_bind(["::1", "localhost"])
    assert not is_loopback_bind(["0.0.0.0", "::"])
    exposed = config_from_args(Namespace(enable_cors_header=None, disable_auth=False), ["0.0.0.0"])
    assert exposed.token and len(exposed.token) >= 32 and not exposed.loopback_only
    opted_out = config_from_args(Namespace(enable_cors_header=None, disable_auth=True), ["0.0.0.0"])
    assert opted_out.token is None
    local = config_from_args(Namespace(enable_cors_header=None, disable_auth=False), ["127.0.0.1"])
    assert local.token is None and local.loopback_only


@pytest.mark.parametrize("name,content", [("page.html", b"<script>alert(1)</script>"),
                                          ("pic.svg", b"<svg onload=alert(1)></svg>"),
                                          ("code.js", b"alert(1)"), ("data.xml", b"<x/>"),
                                          ("page.xhtml", b"<x/>"), ("noext", b"<script>")])
@async_test
async def test_active_content_is_served_as_a_download(folders, name, content):
    (folders.output_dir / name).write_bytes(content)
    async with served(folders, start_worker=False) as c:
        resp = await c.get(f"/view?filename={name}")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert resp.headers["Content-Disposition"].startswith("attachment")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


@async_test
async def test_images_are_served_inline_with_their_type(folders):
    (folders.output_dir / "ok.png").write_bytes(png_bytes())
    async with served(folders, start_worker=False) as c:
        resp = await c.get("/view?filename=ok.png")
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.headers["Content-Disposition"].startswith("inline")
        assert await resp.read() == png_bytes()


@pytest.mark.parametrize("name,data", [("fake.png", b"<html><script>alert(1)</script>"),
                                       ("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
                                       ("x.html", png_bytes()), ("x", png_bytes())])
@async_test
async def test_upload_accepts_only_real_raster_images(folders, name, data):
    async with served(folders, start_worker=False) as c:
        form = aiohttp.FormData()
        form.add_field("image", data, filename=name)
        assert (await c.post("/upload/image", data=form)).status == 400


@async_test
async def test_upload_over_the_size_limit_is_413(folders):
    async with served(folders, start_worker=False, max_upload_size=10_000) as c:
        form = aiohttp.FormData()
        form.add_field("image", b"\x89PNG" + b"\0" * 20_000, filename="big.png")
        assert (await c.post("/upload/image", data=form)).status == 413


def test_sanitize_filename_strips_paths_and_reserved_characters():
    assert sanitize_filename("..\\..\\a:b*c.PNG") == "a_b_c.png"
    assert sanitize_filename(" .hidden.jpg") == "hidden.jpg"
    with pytest.raises(Refused):
        sanitize_filename("...")
    with pytest.raises(Refused):
        sanitize_filename("a%2f.png")


@async_test
async def test_security_headers_are_on_every_response(folders):
    async with served(folders, start_worker=False) as c:
        for path in ("/object_info", "/nope", "/"):
            resp = await c.get(path)
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Referrer-Policy"] == "no-referrer"
