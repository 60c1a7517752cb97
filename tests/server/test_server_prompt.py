"""POST/GET /prompt, /queue, /interrupt, /history and the job-status API: shapes and errors (docs/comfy-api.md §1.1-1.4)."""
import asyncio
import uuid

from serverkit import async_test, served, slow_prompt, sum_prompt, wait_history


@async_test
async def test_post_prompt_answers_id_number_and_empty_node_errors(folders):
    async with served(folders) as c:
        resp = await c.post("/prompt", json={"prompt": sum_prompt(), "client_id": "abc"})
        assert resp.status == 200
        body = await resp.json()
        assert set(body) == {"prompt_id", "number", "node_errors"}
        assert str(uuid.UUID(body["prompt_id"])) == body["prompt_id"]
        assert isinstance(body["number"], int) and body["node_errors"] == {}


@async_test
async def test_accepted_job_runs_and_its_history_entry_has_outputs_status_and_timing(folders):
    async with served(folders) as c:
        pid = (await (await c.post("/prompt", json={"prompt": sum_prompt(4, 5)})).json())["prompt_id"]
        entry = await wait_history(c, pid)
        assert entry["outputs"] == {"4": {"text": ["9"]}}
        assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
        events = [m[0] for m in entry["status"]["messages"]]
        assert events[0] == "execution_start" and "execution_success" in events
        number, item_id, prompt, extra, outputs = entry["prompt"]
        assert item_id == pid and prompt == sum_prompt(4, 5) and outputs == ["4"]
        assert entry["meta"]["4"]["node_id"] == "4"
        assert entry["timing"]["finished"] >= entry["timing"]["started"] >= entry["timing"]["queued"]


@async_test
async def test_prompt_without_prompt_key_is_400_no_prompt(folders):
    async with served(folders, start_worker=False) as c:
        resp = await c.post("/prompt", json={"client_id": "x"})
        assert resp.status == 400
        body = await resp.json()
        assert body["error"]["type"] == "no_prompt" and body["node_errors"] == {}
        assert set(body["error"]) == {"type", "message", "details", "extra_info"}


@async_test
async def test_prompt_body_that_is_not_json_is_400(folders):
    async with served(folders, start_worker=False) as c:
        resp = await c.post("/prompt", data=b"{not json", headers={"Content-Type": "application/json"})
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_prompt"


@async_test
async def test_invalid_prompt_is_400_with_node_errors_naming_the_node(folders):
    prompt = sum_prompt()
    prompt["1"]["inputs"]["value"] = 5000  # above max 1000
    async with served(folders, start_worker=False) as c:
        resp = await c.post("/prompt", json={"prompt": prompt})
        assert resp.status == 400
        body = await resp.json()
        assert body["error"]["type"] == "prompt_outputs_failed_validation"
        assert body["node_errors"]["1"]["class_type"] == "SrvNumber"
        assert body["node_errors"]["1"]["errors"][0]["type"] == "value_bigger_than_max"


@async_test
async def test_unknown_class_is_400_invalid_prompt(folders):
    async with served(folders, start_worker=False) as c:
        resp = await c.post("/prompt", json={"prompt": {"1": {"class_type": "Nope", "inputs": {}}}})
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_prompt"


@async_test
async def test_client_prompt_id_must_be_canonical_uuid_and_unique(folders):
    async with served(folders, start_worker=False) as c:
        bad = await c.post("/prompt", json={"prompt": sum_prompt(), "prompt_id": "../etc"})
        assert bad.status == 400 and (await bad.json())["error"]["type"] == "invalid_prompt_id"
        pid = str(uuid.uuid4())
        first = await c.post("/prompt", json={"prompt": sum_prompt(), "prompt_id": pid})
        assert first.status == 200 and (await first.json())["prompt_id"] == pid
        again = await c.post("/prompt", json={"prompt": sum_prompt(), "prompt_id": pid})
        assert again.status == 400 and (await again.json())["error"]["type"] == "invalid_prompt_id"


@async_test
async def test_get_prompt_counts_queued_jobs(folders):
    async with served(folders, start_worker=False) as c:
        for _ in range(3):
            await c.post("/prompt", json={"prompt": sum_prompt()})
        assert await (await c.get("/prompt")).json() == {"exec_info": {"queue_remaining": 3}}


@async_test
async def test_queue_lists_pending_items_in_comfy_item_shape_and_front_goes_first(folders):
    async with served(folders, start_worker=False) as c:
        a = (await (await c.post("/prompt", json={"prompt": sum_prompt(1, 1)})).json())["prompt_id"]
        b = (await (await c.post("/prompt", json={"prompt": sum_prompt(2, 2), "front": True})).json())["prompt_id"]
        q = await (await c.get("/queue")).json()
        assert q["queue_running"] == []
        assert [item[1] for item in q["queue_pending"]] == [b, a]
        assert all(len(item) == 5 for item in q["queue_pending"])
        assert q["queue_pending"][0][0] < q["queue_pending"][1][0]


@async_test
async def test_explicit_number_orders_the_queue(folders):
    async with served(folders, start_worker=False) as c:
        late = (await (await c.post("/prompt", json={"prompt": sum_prompt(), "number": 50})).json())["prompt_id"]
        early = (await (await c.post("/prompt", json={"prompt": sum_prompt(), "number": 2.5})).json())
        q = await (await c.get("/api/queue")).json()
        assert [i[1] for i in q["queue_pending"]] == [early["prompt_id"], late]
        assert early["number"] == 2.5


@async_test
async def test_queue_delete_and_clear_remove_pending_jobs(folders):
    async with served(folders, start_worker=False) as c:
        ids = [(await (await c.post("/prompt", json={"prompt": sum_prompt()})).json())["prompt_id"] for _ in range(3)]
        resp = await c.post("/queue", json={"delete": [ids[0]]})
        assert resp.status == 200 and await resp.read() == b""
        assert [i[1] for i in (await (await c.get("/queue")).json())["queue_pending"]] == ids[1:]
        await c.post("/queue", json={"clear": True})
        assert (await (await c.get("/queue")).json())["queue_pending"] == []


@async_test
async def test_interrupt_stops_the_running_job_and_history_says_error(folders):
    async with served(folders) as c:
        pid = (await (await c.post("/prompt", json={"prompt": slow_prompt(steps=500, delay=0.02)})).json())["prompt_id"]
        for _ in range(200):
            if (await (await c.get("/queue")).json())["queue_running"]:
                break
            await asyncio.sleep(0.02)
        resp = await c.post("/interrupt", data=b"")
        assert resp.status == 200
        entry = await wait_history(c, pid)
        assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
        assert "execution_interrupted" in [m[0] for m in entry["status"]["messages"]]
        job = await (await c.get(f"/api/jobs/{pid}")).json()
        assert job["status"] == "cancelled" and job["state"] == "interrupted"


@async_test
async def test_interrupt_naming_another_prompt_does_not_stop_the_running_one(folders):
    async with served(folders) as c:
        pid = (await (await c.post("/prompt", json={"prompt": slow_prompt(steps=10, delay=0.02)})).json())["prompt_id"]
        await c.post("/interrupt", json={"prompt_id": str(uuid.uuid4())})
        entry = await wait_history(c, pid)
        assert entry["status"]["status_str"] == "success"


@async_test
async def test_failing_node_records_error_with_execution_error_message(folders):
    prompt = {"1": {"class_type": "SrvNumber", "inputs": {"value": 3}},
              "2": {"class_type": "SrvBoom", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "SrvShow", "inputs": {"value": ["2", 0]}}}
    async with served(folders) as c:
        pid = (await (await c.post("/prompt", json={"prompt": prompt})).json())["prompt_id"]
        entry = await wait_history(c, pid)
        assert entry["status"]["status_str"] == "error"
        err = dict(entry["status"]["messages"])["execution_error"]
        assert err["node_id"] == "2" and "boom on 3" in err["exception_message"]
        job = await (await c.get(f"/job/{pid}")).json()
        assert job["status"] == "failed" and job["execution_error"]["node_id"] == "2"


@async_test
async def test_history_max_items_returns_the_last_n_and_delete_clear_work(folders):
    async with served(folders) as c:
        ids = []
        for i in range(3):
            pid = (await (await c.post("/prompt", json={"prompt": sum_prompt(i, 0)})).json())["prompt_id"]
            await wait_history(c, pid)
            ids.append(pid)
        assert list(await (await c.get("/history")).json()) == ids
        assert list(await (await c.get("/history?max_items=2")).json()) == ids[1:]
        assert list(await (await c.get("/history?max_items=1&offset=0")).json()) == ids[:1]
        assert (await c.get("/history?max_items=x")).status == 400
        await c.post("/history", json={"delete": [ids[0]]})
        assert list(await (await c.get("/history")).json()) == ids[1:]
        await c.post("/history", json={"clear": True})
        assert await (await c.get("/history")).json() == {}


@async_test
async def test_history_of_unknown_id_is_an_empty_object(folders):
    async with served(folders, start_worker=False) as c:
        resp = await c.get(f"/history/{uuid.uuid4()}")
        assert resp.status == 200 and await resp.json() == {}


@async_test
async def test_job_status_tells_pending_completed_and_unknown_apart(folders):
    async with served(folders, start_worker=False) as c:
        pid = (await (await c.post("/prompt", json={"prompt": sum_prompt()})).json())["prompt_id"]
        job = await (await c.get(f"/api/jobs/{pid}")).json()
        assert job["status"] == "pending" and job["id"] == pid
        unknown = await c.get(f"/api/jobs/{uuid.uuid4()}")
        assert unknown.status == 404 and (await unknown.json())["status"] == "unknown"


@async_test
async def test_jobs_list_filters_by_status_and_paginates(folders):
    async with served(folders, start_worker=False) as c:
        ids = [(await (await c.post("/prompt", json={"prompt": sum_prompt()})).json())["prompt_id"] for _ in range(3)]
        page = await (await c.get("/api/jobs?status=pending&limit=2&sort_order=asc")).json()
        assert [j["id"] for j in page["jobs"]] == ids[:2]
        assert page["pagination"] == {"offset": 0, "limit": 2, "total": 3, "has_more": True}
        assert (await (await c.get("/api/jobs?status=completed")).json())["jobs"] == []
        assert (await c.get("/api/jobs?limit=-1")).status == 400


@async_test
async def test_cancel_of_a_pending_job_removes_it_from_the_queue(folders):
    async with served(folders, start_worker=False) as c:
        pid = (await (await c.post("/prompt", json={"prompt": sum_prompt()})).json())["prompt_id"]
        assert await (await c.post(f"/api/jobs/{pid}/cancel")).json() == {"cancelled": True}
        assert (await (await c.get(f"/api/jobs/{pid}")).json())["status"] == "cancelled"
        assert (await (await c.get("/queue")).json())["queue_pending"] == []


@async_test
async def test_sensitive_extra_data_never_reaches_queue_or_history(folders):
    async with served(folders, start_worker=False) as c:
        await c.post("/prompt", json={"prompt": sum_prompt(), "extra_data": {"api_key_comfy_org": "secret", "k": 1}})
        extra = (await (await c.get("/queue")).json())["queue_pending"][0][3]
        assert "api_key_comfy_org" not in extra and extra["k"] == 1


@async_test
async def test_client_id_is_copied_into_extra_data(folders):
    async with served(folders, start_worker=False) as c:
        await c.post("/prompt", json={"prompt": sum_prompt(), "client_id": "me"})
        assert (await (await c.get("/queue")).json())["queue_pending"][0][3]["client_id"] == "me"


def ui_workflow(a=4, b=5) -> dict:
    def node(i, kind, widgets, inputs=(), outputs=()):
        return {"id": i, "type": kind, "pos": [0, 0], "size": [100, 50], "flags": {}, "order": i, "mode": 0,
                "inputs": list(inputs), "outputs": list(outputs), "properties": {}, "widgets_values": widgets}
    return {"last_node_id": 4, "last_link_id": 3, "version": 0.4, "groups": [], "config": {}, "extra": {},
            "nodes": [node(1, "SrvNumber", [a], outputs=[{"name": "INT", "type": "INT", "links": [1]}]),
                      node(2, "SrvNumber", [b], outputs=[{"name": "INT", "type": "INT", "links": [2]}]),
                      node(3, "SrvSum", [], inputs=[{"name": "a", "type": "INT", "link": 1},
                                                    {"name": "b", "type": "INT", "link": 2}],
                           outputs=[{"name": "INT", "type": "INT", "links": [3]}]),
                      node(4, "SrvShow", [], inputs=[{"name": "value", "type": "INT", "link": 3}])],
            "links": [[1, 1, 0, 3, 0, "INT"], [2, 2, 0, 3, 1, "INT"], [3, 3, 0, 4, 0, "INT"]]}


@async_test
async def test_a_ui_workflow_posted_as_prompt_is_converted_and_run(folders):
    async with served(folders) as c:
        resp = await c.post("/prompt", json={"prompt": ui_workflow(4, 5)})
        assert resp.status == 200, await resp.text()
        entry = await wait_history(c, (await resp.json())["prompt_id"])
        assert entry["outputs"]["4"] == {"text": ["9"]}
        assert entry["prompt"][3]["extra_pnginfo"]["workflow"]["nodes"][0]["type"] == "SrvNumber"
        assert entry["prompt"][2]["3"] == {"class_type": "SrvSum", "inputs": {"a": ["1", 0], "b": ["2", 0]},
                                           "_meta": {"title": "SrvSum"}}


@async_test
async def test_a_ui_workflow_file_posted_as_the_whole_body_is_accepted(folders):
    async with served(folders, start_worker=False) as c:
        resp = await c.post("/prompt", json=ui_workflow())
        assert resp.status == 200, await resp.text()
