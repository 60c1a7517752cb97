"""Issue 16, one request each, against a real server process: no 500s, strict JSON out, bounded
memory per image decode, no start-up race, headers on every answer, and the smaller items."""
import asyncio
import io
import json
import sqlite3
import struct
import threading
import time
import uuid
from pathlib import Path

import pytest

from bigpng import bilevel_png
from serverproc import REPO, Server, strict_json

JSON_ROUTES = [("POST", r) for r in ("/prompt", "/queue", "/history", "/interrupt", "/settings",
                                     "/settings/Comfy.Theme", "/free", "/jobs/cancel")]
JSON_ROUTES.append(("PATCH", "/internal/logs/subscribe"))
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "SAMEORIGIN"}
JSON = {"Content-Type": "application/json"}


def sum_prompt(a=2, b=3):
    return {"1": {"class_type": "SrvNumber", "inputs": {"value": a}},
            "2": {"class_type": "SrvNumber", "inputs": {"value": b}},
            "3": {"class_type": "SrvSum", "inputs": {"a": ["1", 0], "b": ["2", 0]}},
            "4": {"class_type": "SrvShow", "inputs": {"value": ["3", 0]}}}


def safetensors_bytes(header) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * 16


def png_bytes(size=(8, 8), mode="RGBA") -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new(mode, size, (10, 20, 30, 255)[:len(mode)]).save(buf, format="PNG")
    return buf.getvalue()


def multipart(fields: dict, files: dict):
    boundary = uuid.uuid4().hex
    out = []
    for name, value in fields.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                   f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def make_base(path: Path) -> Path:
    for d in ("input", "output", "temp", "models/checkpoints"):
        (path / d).mkdir(parents=True)
    ckpt = path / "models" / "checkpoints"
    (ckpt / "list.safetensors").write_bytes(safetensors_bytes([1, 2, 3]))
    (ckpt / "deep.safetensors").write_bytes(safetensors_bytes(b"[" * 100_000 + b"]" * 100_000))
    (ckpt / "negative.safetensors").write_bytes(safetensors_bytes(
        {"__metadata__": {"a": "b"}, "w": {"dtype": "F32", "shape": [-2, 2], "data_offsets": [0, 16]}}))
    (ckpt / "float.safetensors").write_bytes(safetensors_bytes(
        {"__metadata__": {"a": "b"}, "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0.0, 16.0]}}))
    (ckpt / "good.safetensors").write_bytes(safetensors_bytes(
        {"__metadata__": {"ss_name": "x"}, "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}))
    (path / "input" / "photo.png").write_bytes(png_bytes())
    return path


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    base = make_base(tmp_path_factory.mktemp("hardening"))
    with Server(base) as server:
        yield server


def assert_strict_error(answer, status=400, *words):
    assert answer.status == status, answer
    body = answer.json()
    message = body["error"] if isinstance(body["error"], str) else body["error"]["details"]
    for word in words:
        assert word in message, (word, message)
    return message


# --- 1. deep nesting ------------------------------------------------------------------------------
@pytest.mark.parametrize("route", JSON_ROUTES)
def test_a_hundred_thousand_brackets_get_400_naming_the_depth_limit(srv, route):
    answer = srv.call(route[0], route[1], "[" * 100_000, JSON)
    assert_strict_error(answer, 400, "nested too deeply")


def test_a_deeply_nested_feature_flags_message_leaves_the_socket_open(srv):
    import aiohttp

    async def scenario():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{srv.url}/ws?clientId=deep") as ws:
                first = strict_json((await ws.receive(timeout=10)).data)
                assert first["type"] == "status"
                await ws.send_str('{"type": "feature_flags", "data": ' + "[" * 100_000 + "]" * 100_000 + "}")
                async with http.post(f"{srv.url}/queue", json={}) as resp:  # broadcasts a status message
                    assert resp.status == 200
                msg = await ws.receive(timeout=10)
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                assert strict_json(msg.data)["type"] == "status"
    asyncio.run(scenario())


# --- 2./3. numbers ----------------------------------------------------------------------------------
def test_an_integer_of_400_digits_as_number_is_400(srv):
    body = '{"prompt": %s, "number": 1%s}' % (json.dumps(sum_prompt()), "0" * 400)
    message = assert_strict_error(srv.call("POST", "/prompt", body, JSON), 400, "too large")
    assert "integer" in message


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_in_a_prompt_are_refused(srv, token):
    body = json.dumps({"prompt": sum_prompt()}).replace('"value": 2', f'"value": {token}')
    assert token in body
    assert_strict_error(srv.call("POST", "/prompt", body, JSON), 400, token)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_in_extra_data_are_refused_and_nothing_is_queued(srv, token):
    before = srv.call("GET", "/jobs").json()["pagination"]["total"]
    body = '{"prompt": %s, "extra_data": {"x": %s}}' % (json.dumps(sum_prompt()), token)
    assert_strict_error(srv.call("POST", "/prompt", body, JSON), 400)
    assert srv.call("GET", "/jobs").json()["pagination"]["total"] == before


def test_jobs_stored_with_nan_before_the_fix_are_served_as_strict_json(tmp_path):
    from core.server.store import Store

    base = make_base(tmp_path / "b")
    db = base / "user" / "latentflow.db"
    store = Store(db)
    done, waiting = str(uuid.uuid4()), str(uuid.uuid4())
    store.add(done, sum_prompt(), {"client_id": "c"}, ["4"])
    store.finish(done, "success", {"4": {"value": [1.0]}}, [])
    store.add(waiting, {"1": {"class_type": "SrvMissing", "inputs": {}}}, {}, ["1"])
    store.close()
    with sqlite3.connect(db) as con:  # what the old json.dumps wrote
        con.execute("UPDATE jobs SET extra_data='{\"x\": NaN, \"y\": [Infinity, -Infinity]}', "
                    "outputs='{\"4\": {\"value\": [NaN]}}' WHERE prompt_id=?", (done,))
        con.execute("UPDATE jobs SET extra_data='{\"x\": NaN}', status='pending' WHERE prompt_id=?", (waiting,))
    with Server(base, "--database", str(db)) as server:
        history = server.call("GET", "/history").json()
        assert history[done]["prompt"][3]["x"] is None and history[done]["prompt"][3]["y"] == [None, None]
        assert history[done]["outputs"]["4"]["value"] == [None]
        assert server.call("GET", f"/history/{done}").json()[done]["outputs"]["4"]["value"] == [None]
        assert server.call("GET", "/jobs").json()["pagination"]["total"] == 2
        queue = server.call("GET", "/queue")
        assert queue.status == 200
        queue.json()  # strict, whether the broken job is still pending or already ran


# --- 4. /view_metadata ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name,reason", [("list.safetensors", "not an object"),
                                         ("deep.safetensors", "nested too deeply"),
                                         ("negative.safetensors", "invalid shape"),
                                         ("float.safetensors", "invalid data_offsets")])
def test_view_metadata_of_a_malformed_header_is_400_naming_the_file(srv, name, reason):
    answer = srv.call("GET", f"/view_metadata/checkpoints?filename={name}")
    message = assert_strict_error(answer, 400, reason, f"checkpoints/{name}")
    assert str(srv.base) not in message


def test_view_metadata_of_a_good_header_answers_its_metadata(srv):
    assert srv.call("GET", "/view_metadata/checkpoints?filename=good.safetensors").json() == {"ss_name": "x"}


# --- 5. /upload/mask ---------------------------------------------------------------------------------------
def test_upload_mask_with_a_numeric_subfolder_in_original_ref_is_400(srv):
    body, headers = multipart({"original_ref": json.dumps({"filename": "photo.png", "type": "input",
                                                           "subfolder": 7})},
                              {"image": ("mask.png", png_bytes())})
    assert_strict_error(srv.call("POST", "/upload/mask", body, headers), 400, "original_ref.subfolder", "string")


def test_upload_mask_with_nan_in_original_ref_is_400(srv):
    body, headers = multipart({"original_ref": '{"filename": "photo.png", "type": "input", "x": NaN}'},
                              {"image": ("mask.png", png_bytes())})
    assert_strict_error(srv.call("POST", "/upload/mask", body, headers), 400, "original_ref")


def test_upload_mask_still_merges_a_mask(srv):
    body, headers = multipart({"original_ref": json.dumps({"filename": "photo.png", "type": "input"}),
                               "type": "input"}, {"image": ("mask.png", png_bytes())})
    answer = srv.call("POST", "/upload/mask", body, headers)
    assert answer.status == 200 and answer.json()["type"] == "input"


# --- 6. decode budget ------------------------------------------------------------------------------------
def peak_rss_during(server, work) -> tuple:
    """(peak RSS growth over the RSS before, RSS growth after) of the server process while work() runs."""
    before = server.rss()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], server.rss())
            time.sleep(0.01)
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = work()
    finally:
        done.set()
        sampler.join()
    return peak[0] - before, server.rss() - before, result


def test_six_concurrent_rgb_decodes_of_a_165_megapixel_png_stay_under_1_5_gb(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    base = make_base(tmp_path / "b")
    png = bilevel_png(base / "input" / "huge.png", 15000, 11000)
    assert png.stat().st_size < 30_000
    with Server(base) as server:
        path = "/view?filename=huge.png&type=input&channel=rgb"

        def six():
            with ThreadPoolExecutor(6) as pool:
                return list(pool.map(lambda _: server.call("GET", path, timeout=300), range(6)))
        peak, after, answers = peak_rss_during(server, six)
        print(f"peak RSS growth {peak / 2**30:.2f} GiB, held afterwards {after / 2**30:.2f} GiB")
        assert [a.status for a in answers] == [200] * 6
        with Image.open(io.BytesIO(answers[0].body)) as img:
            assert img.size == (15000, 11000) and img.mode == "RGB"
        assert peak < 1.5 * 2**30, f"peak RSS growth {peak / 2**30:.2f} GiB"
        assert after < 0.5 * 2**30, f"{after / 2**30:.2f} GiB still held after the decodes"


def test_an_image_beyond_the_pixel_limit_is_413_before_decoding(srv):
    bilevel_png(srv.base / "input" / "bomb.png", 20000, 10000)
    answer = srv.call("GET", "/view?filename=bomb.png&type=input&channel=a")
    assert_strict_error(answer, 413, "200000000 pixels")
    answer = srv.call("GET", "/view?filename=bomb.png&type=input&preview=webp;90")
    assert answer.status == 413


# --- 7. start-up race ------------------------------------------------------------------------------------
def test_system_stats_answers_503_with_retry_after_until_the_device_set_up_is_done(tmp_path):
    base = make_base(tmp_path / "b")
    env = {"LATENTFLOW_TEST_RUNTIME_SETUP": "6", "LATENTFLOW_TEST_SETUP_WAIT_S": "0.5"}
    with Server(base, env=env, ready_path="/prompt") as server:
        answer = server.call("GET", "/system_stats")
        assert_strict_error(answer, 503, "setting up")
        assert answer.headers["Retry-After"] == "1"
        assert all(answer.headers[k] == v for k, v in SECURITY_HEADERS.items())
        assert server.call("GET", "/object_info/SrvSum").status == 200  # the rest answers meanwhile
        deadline = time.monotonic() + 60
        while (answer := server.call("GET", "/system_stats")).status == 503:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert answer.status == 200 and answer.json()["devices"]


def test_system_stats_during_a_short_device_set_up_waits_for_it_and_answers_200(tmp_path):
    base = make_base(tmp_path / "b")
    env = {"LATENTFLOW_TEST_RUNTIME_SETUP": "6", "LATENTFLOW_TEST_SETUP_WAIT_S": "60"}
    with Server(base, env=env, ready_path="/prompt") as server:
        start = time.monotonic()
        answer = server.call("GET", "/system_stats")
        assert answer.status == 200 and answer.json()["devices"]
        # held until the 6 s set-up finished (the server itself answered /prompt well before that)
        assert time.monotonic() - start > 1.0


def test_system_stats_never_fails_while_torch_imports_in_the_background(tmp_path):
    base = make_base(tmp_path / "b")
    with Server(base, env={"LATENTFLOW_TEST_RUNTIME_SETUP": "main"}, ready_path="/prompt") as server:
        statuses = []
        deadline = time.monotonic() + 60
        while not statuses or statuses[-1] != 200:
            statuses.append(server.call("GET", "/system_stats").status)
            assert time.monotonic() < deadline
        assert set(statuses) <= {200, 503}, statuses
        assert server.call("GET", "/system_stats").json()["devices"][0]["name"]


# --- 8. headers on 500s ----------------------------------------------------------------------------------
def test_a_failing_route_answers_500_json_with_the_security_headers(srv):
    answer = srv.call("GET", "/serverpack/broken")
    message = assert_strict_error(answer, 500, "internal server error")
    assert "plugin route failed" not in message  # the traceback goes to the log, not to the client
    assert all(answer.headers[k] == v for k, v in SECURITY_HEADERS.items())
    assert "a plugin route failed" in srv.log_path.read_text()


# --- 9. smaller items --------------------------------------------------------------------------------------
def test_the_auth_token_is_masked_in_system_stats_argv(tmp_path):
    base = make_base(tmp_path / "b")
    secret = "s3cret-" + uuid.uuid4().hex
    with Server(base, "--auth-token", secret) as server:
        answer = server.call("GET", "/system_stats", headers={"Authorization": f"Bearer {secret}"})
        argv = answer.json()["system"]["argv"]
        assert secret not in json.dumps(argv) and argv[argv.index("--auth-token") + 1] == "***"


def test_save_image_with_a_backslash_prefix_writes_a_file_view_serves(tmp_path):
    base = make_base(tmp_path / "b")
    with Server(base, env={"LATENTFLOW_TEST_BUILTIN_NODES": "1"}) as server:
        prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1,
                                                                 "color": 0}},
                  "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0],
                                                               "filename_prefix": "night\\shot"}}}
        prompt_id = server.post("/prompt", {"prompt": prompt})["prompt_id"]
        image = server.wait_finished(prompt_id)["outputs"]["2"]["images"][0]
        assert image["subfolder"] == "night" and image["filename"].startswith("shot_")
        answer = server.call("GET", f"/view?filename={image['filename']}&subfolder=night&type=output")
        assert answer.status == 200 and answer.body.startswith(b"\x89PNG")
        assert not list((base / "output").glob("*\\*"))


def test_save_image_with_a_control_character_in_the_prefix_fails_naming_the_input(folders):
    import torch

    from nodes.image_output import SaveImage

    with pytest.raises(ValueError, match="SaveImage, input 'filename_prefix': .*control characters"):
        SaveImage().execute(torch.zeros(1, 4, 4, 3), filename_prefix="bad\nname")
    assert list(folders.output_dir.iterdir()) == []


def test_both_forms_of_the_auth_token_flag_are_masked():
    from core.server.routes_info import public_argv

    argv = ["main.py", "--auth-token", "t1", "--listen", "--auth-token=t2", "--port", "8188"]
    assert public_argv(argv) == ["main.py", "--auth-token", "***", "--listen", "--auth-token=***", "--port", "8188"]


def test_webp_preview_content_disposition_is_quoted_safely(srv):
    from PIL import Image

    name = 'say "hi"\r\nX-Evil: 1 é.png'
    Image.new("RGB", (4, 4)).save(srv.base / "output" / name)
    from urllib.parse import quote
    answer = srv.call("GET", f"/view?filename={quote(name)}&preview=webp;80")
    assert answer.status == 200 and answer.headers["Content-Type"] == "image/webp"
    assert "X-Evil" not in answer.headers
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith('inline; filename="say _hi___X-Evil: 1 _.webp"; filename*=UTF-8\'\'')
    assert quote('say "hi"\r\nX-Evil: 1 é.webp', safe="") in disposition


def test_tracebacks_in_history_are_relative_to_the_install(srv):
    prompt = {"1": {"class_type": "SrvNumber", "inputs": {"value": 4}},
              "2": {"class_type": "SrvBoom", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "SrvShow", "inputs": {"value": ["2", 0]}}}
    prompt_id = srv.post("/prompt", {"prompt": prompt})["prompt_id"]
    entry = srv.wait_finished(prompt_id)
    error = dict(entry["status"]["messages"])["execution_error"]
    text = json.dumps(entry) + json.dumps(srv.call("GET", f"/jobs/{prompt_id}").json())
    assert str(REPO) not in text and str(Path.home()) + "/" not in text
    assert any('File "tests/server/serverpack/nodes.py"' in line for line in error["traceback"])
    assert error["exception_message"] == "boom on 4"


def test_clearing_history_drops_cancelled_jobs_from_jobs(srv):
    blocker = srv.post("/prompt", {"prompt": {"1": {"class_type": "SrvJournal",
                                                    "inputs": {"tag": "block", "delay": 20}}}})["prompt_id"]
    waiting = srv.post("/prompt", {"prompt": sum_prompt(7, 8)})["prompt_id"]
    srv.post("/queue", {"delete": [waiting]})
    assert srv.job(waiting)["status"] == "cancelled"
    srv.post("/interrupt", {})
    srv.wait_finished(blocker)
    srv.post("/history", {"clear": True})
    ids = [j["id"] for j in srv.get("/jobs")["jobs"]]
    assert waiting not in ids and blocker not in ids
    assert srv.job(waiting)["status"] == "unknown"


def test_head_view_answers_like_get_without_a_body(srv):
    head = srv.call("HEAD", "/view?filename=photo.png&type=input")
    get = srv.call("GET", "/view?filename=photo.png&type=input")
    assert head.status == get.status == 200 and head.body == b""
    assert head.headers["Content-Type"] == "image/png" == get.headers["Content-Type"]
    assert int(head.headers["Content-Length"]) == len(get.body)
    assert srv.call("HEAD", "/view?filename=missing.png&type=input").status == 404
    assert srv.call("HEAD", "/api/view?filename=photo.png&type=input").status == 200


def test_folder_paths_get_save_image_path_treats_backslashes_as_folders(tmp_path):
    from core.compat import folder_paths

    folder, filename, _counter, subfolder, _prefix = folder_paths.get_save_image_path("night\\shot", str(tmp_path))
    assert (subfolder, filename) == ("night", "shot") and folder == str(tmp_path / "night")


@pytest.mark.parametrize("path", ["/view?filename={long}.png", "/view?filename=a.png&subfolder={long}",
                                  "/userdata/{long}.json", "/v2/userdata?path={long}"])
def test_a_name_longer_than_the_os_allows_is_400_not_500(srv, path):
    # found by the long fuzz run: the OS's ENAMETOOLONG escaped as an OSError
    answer = srv.call("GET", path.format(long="9" * 300))
    assert_strict_error(answer, 400, "too long")


def test_a_model_preview_past_the_pixel_limit_is_never_decoded(srv):
    bilevel_png(srv.base / "models" / "checkpoints" / "good.preview.png", 20000, 10000)
    before = srv.rss()
    answer = srv.call("GET", "/api/experiment/models/preview/checkpoints/0/good.webp")
    assert answer.status == 404 and srv.rss() - before < 100 * 2**20
