"""The store's claims for the cluster: a chosen job, the worker recorded, a job put back after a loss."""
from __future__ import annotations

import pytest

from core.server.store import Store


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "q.db", durable=False)
    yield s
    s.close()


def test_claim_takes_the_job_the_chooser_picks_among_the_first_pending_and_records_the_worker(store):
    for i in range(3):
        store.add(f"p{i}", {}, {}, [])
    seen = []

    def pick_last(jobs):
        seen.append([j.prompt_id for j in jobs])
        return len(jobs) - 1

    job = store.claim_next(pick_last, worker="w1", window=2)
    assert seen == [["p0", "p1"]]
    assert job.prompt_id == "p1" and job.worker == "w1"
    assert store.get("p1").status == "running" and store.get("p1").worker == "w1"


def test_a_chooser_answering_none_claims_nothing(store):
    store.add("p0", {}, {}, [])
    assert store.claim_next(lambda jobs: None, worker="w0") is None
    assert store.get("p0").status == "pending"


def test_requeue_puts_a_running_job_back_at_its_place_and_counts_the_attempt(store):
    store.add("p0", {}, {}, [])
    store.add("p1", {}, {}, [])
    store.claim_next(worker="w0")
    assert store.requeue("p0")
    again = store.claim_next(worker="w1")
    assert again.prompt_id == "p0" and again.attempts == 1 and again.worker == "w1"


def test_requeue_refuses_a_job_that_is_not_running(store):
    store.add("p0", {}, {}, [])
    assert not store.requeue("p0")
    assert store.get("p0").attempts == 0


def test_a_database_from_before_the_cluster_columns_opens_and_gains_them(tmp_path):
    import sqlite3

    from core.server import store as store_module

    path = tmp_path / "old.db"
    old_schema = store_module._SCHEMA.replace(
        ",\n    worker TEXT,                   -- the cluster worker that ran it last (None: the in-process worker)"
        "\n    attempts INTEGER NOT NULL DEFAULT 0  -- times it was put back in the queue after its worker died", "")
    assert "attempts" not in old_schema
    db = sqlite3.connect(path)
    db.executescript(old_schema)
    db.execute("INSERT INTO jobs(prompt_id, number, sort_key, status, prompt, extra_data, outputs_to_execute,"
               " created) VALUES('old', '0', 0, 'pending', '{}', '{}', '[]', 0)")
    db.commit()
    db.close()
    s = Store(path, durable=False)
    assert s.claim_next(worker="w0").prompt_id == "old"
    s.close()
