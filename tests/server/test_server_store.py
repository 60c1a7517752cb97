"""core/server/store.py: the SQLite queue and history on its own (ordering, claiming, recovery, eviction)."""
import sqlite3

import pytest

from core.server.store import Store


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "q.db")
    yield s
    s.close()


def add(store, pid, **kw):
    return store.add(pid, {"1": {"class_type": "X", "inputs": {}}}, {}, ["1"], **kw)


def test_database_is_in_wal_mode(tmp_path):
    Store(tmp_path / "q.db").close()
    assert sqlite3.connect(tmp_path / "q.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_claim_takes_smallest_number_first_and_front_jumps_the_queue(store):
    add(store, "a")
    add(store, "b")
    add(store, "c", front=True)
    add(store, "d", number=-100.5)
    assert [store.claim_next().prompt_id for _ in range(4)] == ["d", "c", "a", "b"]
    assert store.claim_next() is None


def test_numbers_keep_growing_across_restarts(tmp_path):
    s = Store(tmp_path / "q.db")
    first = add(s, "a").number
    s.close()
    s = Store(tmp_path / "q.db")
    assert add(s, "b").number == first + 1
    s.close()


def test_duplicate_prompt_id_is_refused(store):
    add(store, "a")
    with pytest.raises(KeyError):
        add(store, "a")


def test_a_job_running_when_the_store_was_last_open_becomes_lost_not_pending(tmp_path):
    s = Store(tmp_path / "q.db")
    add(s, "run")
    add(s, "wait")
    assert s.claim_next().prompt_id == "run"
    s._db.close()  # no finish(): as if the process died
    s = Store(tmp_path / "q.db")
    assert s.recovered == ["run"]
    assert s.get("run").status == "lost" and s.get("run").error["type"] == "lost"
    assert s.claim_next().prompt_id == "wait" and s.claim_next() is None
    s.close()


def test_finish_records_outputs_messages_and_timings(store):
    add(store, "a")
    store.claim_next()
    store.finish("a", "success", {"1": {"text": ["x"]}}, [["execution_start", {"prompt_id": "a"}]])
    job = store.get("a")
    assert job.status == "success" and job.outputs == {"1": {"text": ["x"]}}
    assert job.messages == [["execution_start", {"prompt_id": "a"}]]
    assert job.created <= job.started <= job.finished


def test_finish_refuses_a_non_final_status(store):
    add(store, "a")
    with pytest.raises(ValueError):
        store.finish("a", "pending", {}, [])


def test_deleted_and_cleared_pending_jobs_are_cancelled_not_run(store):
    for p in "abc":
        add(store, p)
    assert store.delete_pending(["b", "zzz"]) == 1
    assert [j.prompt_id for j in store.pending()] == ["a", "c"]
    assert store.clear_pending() == 2
    assert store.claim_next() is None and store.get("b").status == "cancelled"


def test_history_is_capped_oldest_first(tmp_path):
    s = Store(tmp_path / "q.db", max_history=3)
    for p in "abcde":
        add(s, p)
        s.claim_next()
        s.finish(p, "success", {}, [])
    assert [j.prompt_id for j in s.history()] == ["c", "d", "e"]
    assert [j.prompt_id for j in s.history(max_items=2)] == ["d", "e"]
    assert [j.prompt_id for j in s.history(max_items=1, offset=1)] == ["d"]
    s.close()
