"""The server with ``--ray local --workers 2``: a real local Ray cluster of two CPU worker actors running
the built-in SD1.5 nodes on tiny checkpoints (64x64, one step) and the stand-in pack from custom_nodes.

One cluster serves the whole module (Ray and two workers take a while to start); tests run in file
order and the two that kill a worker come last.
"""
from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from tests.cluster import clusterkit as ck

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from core import paths
    from core.server import create_app
    from core.server.state import STATE

    previous = paths.get()
    base = ck.make_base(tmp_path_factory.mktemp("cluster"))
    registry, config = ck.build(base, ck.cluster_options(workers=2))
    app = create_app(registry, config)
    server = ck.ThreadServer(app).start()
    pool = app[STATE].worker
    try:
        ck.wait_workers(pool, 2)
        server.base, server.pool, server.registry = base, pool, registry
        yield server
    finally:
        server.close()
        paths.folders = previous


def _history(url, prompt_id) -> dict:
    return ck.get(url, f"/history/{prompt_id}")[prompt_id]


def test_twenty_jobs_from_the_api_all_finish_once_spread_over_both_workers(cluster):
    ws = ck.WsRecorder(cluster.url)
    ids = [ck.queue(cluster.url, ck.sd_prompt(seed=i), ws.client_id) for i in range(20)]
    done = ck.wait_done(cluster.url, ids)
    ws.wait_for(lambda m: m["type"] == "executing" and m["data"].get("node") is None
                and m["data"].get("prompt_id") == ids[-1])
    ws.close()

    assert {j["status"] for j in done.values()} == {"completed"}
    starts = Counter(m["data"]["prompt_id"] for m in ws.messages if m["type"] == "execution_start")
    assert all(starts[i] == 1 for i in ids), "every job ran exactly once"
    assert set(Counter(j["worker_id"] for j in done.values())) == {"w0", "w1"}
    names = [img["filename"] for j in done.values() for img in j["outputs"]["9"]["images"]]
    assert len(set(names)) == 20, "each job's image reached the server's output folder under its own name"
    assert all((cluster.base / "output" / n).is_file() for n in names)


def test_websocket_clients_see_the_same_message_sequence_as_with_the_in_process_worker(cluster):
    from core.server import ServerConfig, create_app

    local = ck.ThreadServer(create_app(cluster.registry, ServerConfig(
        db_path=cluster.base / "user" / "local.db", web_root=cluster.base / "web", durable=False))).start()
    try:
        sequences = []
        for server in (local, cluster):
            for seed in (100, 101):  # the second run of each shows the warm (cached loader) sequence
                ws = ck.WsRecorder(server.url)
                pid = ck.queue(server.url, ck.sd_prompt(seed=seed), ws.client_id)
                ws.wait_for(lambda m: m["type"] == "executing" and m["data"].get("node") is None
                            and m["data"].get("prompt_id") == pid)
                ws.close()
            # progress and progress_state are throttled by time, so their counts vary from run to run
            timed = {"progress", "progress_state"}
            events = [(m["type"], m["data"].get("node")) for m in ws.for_prompt(pid) if m["type"] not in timed]
            sequences.append(events)
            assert {m["type"] for m in ws.for_prompt(pid)} >= timed
            executed = [m for m in ws.for_prompt(pid) if m["type"] == "executed"]
            image = executed[-1]["data"]["output"]["images"][0]
            assert (cluster.base / "output" / image["filename"]).is_file()
    finally:
        local.close()
    assert sequences[0] == sequences[1]
    assert [t for t, _ in sequences[1]][:2] == ["execution_start", "execution_cached"]
    assert sequences[1][-2:] == [("execution_success", None), ("executing", None)]


def test_previews_and_custom_node_messages_from_a_worker_reach_the_client(cluster):
    ws = ck.WsRecorder(cluster.url)
    pid = ck.queue(cluster.url, ck.sd_prompt(seed=150, hold=0.1), ws.client_id)  # --preview-method latent2rgb
    ws.wait_for(lambda m: m["type"] == "executing" and m["data"].get("node") is None
                and m["data"].get("prompt_id") == pid)
    ws.close()
    previews = [frame for kind, frame in ws.binary if kind == 1]  # PREVIEW_IMAGE, this client sent no flags
    assert previews and previews[0][4:8] == (1).to_bytes(4, "big") and previews[0][8:10] == b"\xff\xd8"  # JPEG
    hold = [m for m in ws.messages if m["type"] == "cluster_hold"]
    assert len(hold) == 1 and hold[0]["data"]["pid"] in {lane.info["pid"] for lane in cluster.pool.lanes}


def test_jobs_go_first_to_the_worker_that_already_holds_their_checkpoint(cluster):
    # each worker ends up holding one checkpoint: both take a held job, one for A, one for B
    warm = [ck.queue(cluster.url, ck.sd_prompt(ck.CKPT_A, seed=200, hold=4.0)),
            ck.queue(cluster.url, ck.sd_prompt(ck.CKPT_B, seed=201, hold=4.0))]
    holder = {ck.CKPT_A: ck.wait_running(cluster.url, warm[0])["worker_id"],
              ck.CKPT_B: ck.wait_running(cluster.url, warm[1])["worker_id"]}
    assert holder[ck.CKPT_A] != holder[ck.CKPT_B]
    # queued in model order while both are busy: first-come-first-served would give both workers A jobs
    batch = [(ckpt, ck.queue(cluster.url, ck.sd_prompt(ckpt, seed=210 + i)))
             for i, ckpt in enumerate([ck.CKPT_A] * 4 + [ck.CKPT_B] * 4)]
    done = ck.wait_done(cluster.url, warm + [pid for _, pid in batch])

    by_worker = {}
    for ckpt, pid in sorted(batch, key=lambda b: done[b[1]]["execution_start_time"]):
        by_worker.setdefault(done[pid]["worker_id"], []).append(ckpt)
    for ckpt, worker in holder.items():
        assert by_worker[worker][0] == ckpt, f"{worker} first took a job for the checkpoint it held"
    on_holder = sum(done[pid]["worker_id"] == holder[ckpt] for ckpt, pid in batch)
    assert on_holder >= 6, f"only {on_holder} of 8 jobs ran on the worker holding their checkpoint"


def test_interrupt_stops_the_named_job_on_its_worker_and_not_the_other(cluster):
    keep = ck.queue(cluster.url, ck.sd_prompt(seed=300, hold=3.0))
    stop = ck.queue(cluster.url, ck.sd_prompt(seed=301, hold=60.0))
    ck.wait_running(cluster.url, keep)
    running = ck.wait_running(cluster.url, stop)
    time.sleep(0.5)
    ck.post(cluster.url, "/interrupt", {"prompt_id": stop})
    done = ck.wait_done(cluster.url, [keep, stop], timeout=60)
    assert done[stop]["status"] == "cancelled" and done[stop]["worker_id"] == running["worker_id"]
    assert done[keep]["status"] == "completed"
    assert any(m[0] == "execution_interrupted" for m in _history(cluster.url, stop)["status"]["messages"])


def test_system_stats_lists_every_worker_and_free_memory_empties_their_models(cluster):
    stats = ck.get(cluster.url, "/system_stats")
    workers = {w["worker_id"]: w for w in stats["workers"]}
    assert set(workers) == {"w0", "w1"} and all(w["alive"] for w in workers.values())
    assert {d["worker_id"] for d in stats["devices"]} == {"w0", "w1"}
    assert len({w["pid"] for w in workers.values()}) == 2
    assert any(w["models"] for w in workers.values())

    ck.post(cluster.url, "/free", {"unload_models": True, "free_memory": True})
    assert all(not w["models"] for w in ck.get(cluster.url, "/system_stats")["workers"])
    pid = ck.queue(cluster.url, ck.sd_prompt(seed=400))
    assert ck.wait_done(cluster.url, [pid])[pid]["status"] == "completed"


def _kill_worker_mid_job(cluster, on_loss):
    cluster.pool.options.on_worker_loss = on_loss
    ws = ck.WsRecorder(cluster.url)
    # long enough to be killed in the middle; short, as with retry it then runs in full elsewhere
    victim = ck.queue(cluster.url, ck.sd_prompt(seed=500, hold=6.0))
    job = ck.wait_running(cluster.url, victim)
    lane = next(lane for lane in cluster.pool.lanes if lane.worker_id == job["worker_id"])
    hold = ws.wait_for(lambda m: m["type"] == "cluster_hold")  # the node is running in that process
    assert hold["data"]["pid"] == lane.info["pid"]
    rest = [ck.queue(cluster.url, ck.sd_prompt(seed=510 + i)) for i in range(4)]
    os.kill(lane.info["pid"], signal.SIGKILL)
    done = ck.wait_done(cluster.url, [victim, *rest])
    ws.close()
    return victim, job["worker_id"], rest, done


def test_a_worker_killed_mid_job_fails_that_job_with_the_reason_and_the_rest_finish(cluster):
    victim, worker, rest, done = _kill_worker_mid_job(cluster, "fail")
    assert all(done[pid]["status"] == "completed" for pid in rest)
    assert done[victim]["status"] == "failed"
    error = done[victim]["execution_error"]
    assert error["exception_type"] == "WorkerLost"
    assert f"worker {worker}" in error["exception_message"] and "not run again" in error["exception_message"]
    starts = [m for m in _history(cluster.url, victim)["status"]["messages"] if m[0] == "execution_start"]
    assert len(starts) == 1
    ck.wait_workers(cluster.pool, 2)  # Ray restarted the actor


def test_a_worker_killed_mid_job_with_retry_reruns_it_once_on_the_other_worker(cluster):
    victim, worker, rest, done = _kill_worker_mid_job(cluster, "retry")
    assert all(done[pid]["status"] == "completed" for pid in rest)
    assert done[victim]["status"] == "completed"
    assert done[victim]["worker_id"] != worker
    messages = _history(cluster.url, victim)["status"]["messages"]
    assert messages[0][0] == "worker_lost" and messages[0][1]["worker_id"] == worker
    assert sum(m[0] == "execution_start" for m in messages) == 1  # the messages of the run that counted
    ck.wait_workers(cluster.pool, 2)
    after = [ck.queue(cluster.url, ck.sd_prompt(seed=600 + i)) for i in range(4)]
    assert {j["status"] for j in ck.wait_done(cluster.url, after).values()} == {"completed"}
