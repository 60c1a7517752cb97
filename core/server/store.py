"""The persistent job queue and history: one SQLite database in WAL mode.

A job accepted by POST /prompt is committed before the client gets its answer, so a restart or a
``kill -9`` loses nothing. The worker *claims* a job (pending -> running) in a transaction before it
runs it; a job found in ``running`` when the store is opened was in flight when the process died,
and is marked ``lost`` (reported as failed, with a message) rather than run a second time.

Statuses: ``pending`` -> ``running`` -> ``success`` | ``error`` | ``interrupted``; ``lost`` for a
job that was running during a crash; ``cancelled`` for a pending job deleted from the queue (kept
only so ``/api/jobs/{id}`` can tell "cancelled" from "unknown").

Ordering follows ComfyUI: the smallest ``number`` runs first (``front`` gives a negative number),
ties broken by arrival.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.server import jsonio

log = logging.getLogger(__name__)

MAX_HISTORY = 10_000  # finished jobs kept, as ComfyUI's history (oldest evicted)
FINISHED = ("success", "error", "interrupted", "lost")
# Out of the queue for good: what clearing the history removes and the history size bounds.
DONE = FINISHED + ("cancelled",)
LOST_MESSAGE = "the server stopped while this job was running; it was not run again"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_id TEXT NOT NULL UNIQUE,
    number TEXT NOT NULL,          -- JSON: int or float exactly as given, ComfyUI's priority
    sort_key REAL NOT NULL,
    status TEXT NOT NULL,
    prompt TEXT NOT NULL,
    extra_data TEXT NOT NULL,
    outputs_to_execute TEXT NOT NULL,
    client_id TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    outputs TEXT,
    messages TEXT,
    error TEXT,
    worker TEXT,                   -- the cluster worker that ran it last (None: the in-process worker)
    attempts INTEGER NOT NULL DEFAULT 0  -- times it was put back in the queue after its worker died
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, sort_key, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class Job:
    prompt_id: str
    number: float
    status: str
    prompt: dict
    extra_data: dict
    outputs_to_execute: list
    client_id: str | None = None
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    outputs: dict = field(default_factory=dict)
    messages: list = field(default_factory=list)
    error: dict | None = None
    worker: str | None = None
    attempts: int = 0

    def queue_item(self) -> list:
        """The 5-element queue/history item clients expect (docs/comfy-api.md §1.2)."""
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs_to_execute]


class Store:
    """Thread-safe: the event loop and the worker thread share one connection under a lock."""

    def __init__(self, path, *, max_history: int = MAX_HISTORY, durable: bool = True):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.max_history = max_history
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL already survives a process crash in WAL mode; FULL also survives power loss.
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._migrate()
        self.recovered = self._recover()
        self._counter = int(self._meta_get("counter") or 0)

    # --- startup -------------------------------------------------------------------------------
    def _recover(self) -> list:
        """Mark jobs that were running when the last process died as lost; return their ids."""
        with self._lock:
            rows = self._db.execute("SELECT prompt_id FROM jobs WHERE status='running'").fetchall()
            ids = [r[0] for r in rows]
            now = time.time()
            err = json.dumps({"type": "lost", "message": LOST_MESSAGE})
            for prompt_id in ids:
                messages = json.dumps([["execution_error", {
                    "prompt_id": prompt_id, "node_id": None, "node_type": None, "executed": [],
                    "exception_message": LOST_MESSAGE, "exception_type": "ServerRestart",
                    "traceback": [], "current_inputs": {}, "current_outputs": [],
                    "timestamp": int(now * 1000)}]])
                self._db.execute("UPDATE jobs SET status='lost', finished=?, error=?, messages=? WHERE prompt_id=?",
                                 (now, err, messages, prompt_id))
            if ids:
                log.warning("%d job(s) were running when the server stopped; marked failed: %s",
                            len(ids), ", ".join(ids))
            return ids

    def _migrate(self):
        """Databases made before the cluster columns existed get them (added last, as _job expects)."""
        have = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
        if "worker" not in have:
            self._db.execute("ALTER TABLE jobs ADD COLUMN worker TEXT")
        if "attempts" not in have:
            self._db.execute("ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")

    def _meta_get(self, key):
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    # --- queue ---------------------------------------------------------------------------------
    def add(self, prompt_id: str, prompt: dict, extra_data: dict, outputs_to_execute: list, *,
            number=None, front: bool = False, client_id: str | None = None) -> Job:
        """Commit a new pending job (one transaction, one fsync); KeyError if the prompt_id is known."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            counted = number is None
            try:
                if counted:
                    # ComfyUI's priority counter, persisted so numbers keep growing across restarts
                    number = -self._counter if front else self._counter
                    self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('counter', ?)",
                                     (str(self._counter + 1),))
                self._db.execute(
                    "INSERT INTO jobs(prompt_id, number, sort_key, status, prompt, extra_data,"
                    " outputs_to_execute, client_id, created) VALUES(?,?,?,?,?,?,?,?,?)",
                    (prompt_id, _dump(number), float(number), "pending", _dump(prompt),
                     _dump(extra_data), _dump(outputs_to_execute), client_id, time.time()))
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError as e:
                self._db.execute("ROLLBACK")
                raise KeyError(f"prompt_id {prompt_id!r} already exists") from e
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if counted:
                self._counter += 1
        return Job(prompt_id, number, "pending", prompt, extra_data, list(outputs_to_execute), client_id)

    def claim_next(self, choose=None, *, worker: str | None = None, window: int = 16) -> Job | None:
        """Atomically move the first pending job to running and return it (None if the queue is empty).

        ``choose(jobs) -> index | None`` may pick another of the first ``window`` pending jobs (the
        cluster's model affinity, core/cluster/affinity.py); ``worker`` is recorded on the job.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute("SELECT * FROM jobs WHERE status='pending' ORDER BY sort_key, seq LIMIT ?",
                                        (window if choose is not None else 1,)).fetchall()
                index = 0 if choose is None or not rows else choose([self._job(r) for r in rows])
                if index is None or not rows:
                    self._db.execute("COMMIT")
                    return None
                row = rows[index]
                now = time.time()
                self._db.execute("UPDATE jobs SET status='running', started=?, worker=? WHERE seq=?",
                                 (now, worker, row[0]))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        job = self._job(row)
        job.status, job.started, job.worker = "running", now, worker
        return job

    def requeue(self, prompt_id: str) -> bool:
        """Put a running job back in the queue at its old place (its worker died); counts the attempt."""
        with self._lock:
            cur = self._db.execute("UPDATE jobs SET status='pending', started=NULL, attempts=attempts+1"
                                   " WHERE prompt_id=? AND status='running'", (prompt_id,))
            return cur.rowcount > 0

    def finish(self, prompt_id: str, status: str, outputs: dict, messages: list, error: dict | None = None):
        if status not in FINISHED:
            raise ValueError(f"finish: {status!r} is not a final status")
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status=?, finished=?, outputs=?, messages=?, error=? WHERE prompt_id=?",
                (status, time.time(), _dump(outputs), _dump(messages),
                 _dump(error) if error is not None else None, prompt_id))
            self._evict()

    def _evict(self):
        marks = ",".join("?" * len(DONE))
        n = self._db.execute(f"SELECT COUNT(*) FROM jobs WHERE status IN ({marks})", DONE).fetchone()[0]
        if n > self.max_history:
            self._db.execute(
                f"DELETE FROM jobs WHERE seq IN (SELECT seq FROM jobs WHERE status IN ({marks})"
                " ORDER BY finished, seq LIMIT ?)", (*DONE, n - self.max_history))

    def pending(self) -> list:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE status='pending' ORDER BY sort_key, seq").fetchall()
        return [self._job(r) for r in rows]

    def running(self) -> list:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs WHERE status='running' ORDER BY started").fetchall()
        return [self._job(r) for r in rows]

    def count_remaining(self) -> int:
        with self._lock:
            return self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status IN ('pending','running')").fetchone()[0]

    def delete_pending(self, prompt_ids) -> int:
        """Remove pending jobs by id (running ones are untouched); they stay known as cancelled."""
        ids = [str(i) for i in prompt_ids]
        if not ids:
            return 0
        with self._lock:
            cur = self._db.execute(
                f"UPDATE jobs SET status='cancelled', finished=? WHERE status='pending' AND prompt_id IN "
                f"({','.join('?' * len(ids))})", (time.time(), *ids))
            return cur.rowcount

    def clear_pending(self) -> int:
        with self._lock:
            return self._db.execute(
                "UPDATE jobs SET status='cancelled', finished=? WHERE status='pending'", (time.time(),)).rowcount

    # --- history -------------------------------------------------------------------------------
    def history(self, max_items: int | None = None, offset: int | None = None) -> list:
        """Finished jobs oldest first; with max_items and no offset, the last max_items (as ComfyUI)."""
        q = f"SELECT * FROM jobs WHERE status IN ({','.join('?' * len(FINISHED))}) ORDER BY finished, seq"
        with self._lock:
            rows = self._db.execute(q, FINISHED).fetchall()
        jobs = [self._job(r) for r in rows]
        if offset is not None and offset >= 0:
            jobs = jobs[offset:]
            if max_items is not None:
                jobs = jobs[:max_items]
        elif max_items is not None:
            jobs = jobs[-max_items:] if max_items > 0 else []
        return jobs

    def get(self, prompt_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE prompt_id=?", (prompt_id,)).fetchone()
        return self._job(row) if row else None

    def jobs(self, statuses=None) -> list:
        with self._lock:
            if statuses:
                rows = self._db.execute(
                    f"SELECT * FROM jobs WHERE status IN ({','.join('?' * len(statuses))}) ORDER BY seq",
                    tuple(statuses)).fetchall()
            else:
                rows = self._db.execute("SELECT * FROM jobs ORDER BY seq").fetchall()
        return [self._job(r) for r in rows]

    def delete_history(self, prompt_ids) -> int:
        ids = [str(i) for i in prompt_ids]
        if not ids:
            return 0
        with self._lock:
            return self._db.execute(
                f"DELETE FROM jobs WHERE status IN ({','.join('?' * len(FINISHED))}) AND prompt_id IN "
                f"({','.join('?' * len(ids))})", (*FINISHED, *ids)).rowcount

    def clear_history(self) -> int:
        """Forget every job that left the queue: finished ones and cancelled ones (so /jobs empties too)."""
        with self._lock:
            return self._db.execute(
                f"DELETE FROM jobs WHERE status IN ({','.join('?' * len(DONE))})", DONE).rowcount

    def close(self):
        with self._lock:
            self._db.close()

    @staticmethod
    def _job(row) -> Job:
        (_seq, prompt_id, number, _key, status, prompt, extra, outs_exec, client_id, created, started,
         finished, outputs, messages, error, worker, attempts) = row
        return Job(prompt_id=prompt_id, number=_load(number), status=status, prompt=_load(prompt),
                   extra_data=_load(extra), outputs_to_execute=_load(outs_exec), client_id=client_id,
                   created=created, started=started, finished=finished,
                   outputs=_load(outputs) if outputs else {},
                   messages=_load(messages) if messages else [],
                   error=_load(error) if error else None, worker=worker, attempts=attempts or 0)


def _dump(value) -> str:
    """Strict JSON (NaN/Infinity written as null, unknown objects as their str()): what we store."""
    return jsonio.dumps(value)


def _load(text):
    """Stored JSON; rows written before the strict writer may hold NaN/Infinity: read as None, so one
    old job cannot make /history or /queue unreadable for every client."""
    try:
        return json.loads(text, parse_constant=lambda _name: None)
    except RecursionError:
        return None
