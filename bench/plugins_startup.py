"""Startup with real custom node packs installed, beside startup without them, measured in the same run.

    python bench/plugins_startup.py /tmp/packs/custom_nodes [--runs N] [--pythonpath DIR]

Each run starts ``main.py --base-directory BASE --port P`` in a subprocess and times spawn to the
first 200 on ``/object_info`` (the catalogue, which needs every pack imported). BASE has an empty
``custom_nodes/`` for the peer and ``custom_nodes`` -> the packs folder (a symlink; no pack code is
copied) for the measured case. With packs, the script also fetches ``/extensions`` and every listed
script of the packs, to check their web extensions are served. ``--pythonpath`` adds a folder of extra
packages the packs need (kept out of the project's environment). Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 10.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def start(base: Path, env: dict, timeout: float = 300.0):
    """(process, base url, seconds from spawn to the first 200 on /object_info)."""
    port = free_port()
    cmd = [sys.executable, str(ROOT / "main.py"), "--port", str(port), "--base-directory", str(base),
           "--dont-print-server"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            status, _ = get(url + "/object_info", timeout=60)
            if status == 200:
                return proc, url, time.perf_counter() - t0
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("no 200 on /object_info")


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def base_dir(packs: Path | None) -> Path:
    base = Path(tempfile.mkdtemp(prefix="lf-bench-packs-"))
    if packs is None:
        (base / "custom_nodes").mkdir()
    else:
        (base / "custom_nodes").symlink_to(packs.resolve(), target_is_directory=True)
    return base


def check_extensions(url: str, packs: set) -> dict:
    """Scripts listed by /extensions per pack folder, and how many of them answer 200."""
    _, body = get(url + "/extensions")
    listed = json.loads(body)
    per_pack: dict = {}
    for path in listed:
        parts = path.split("/")
        if len(parts) < 3 or parts[1] != "extensions":
            continue
        pack = urllib.request.unquote(parts[2])
        if pack not in packs:
            continue  # the frontend's own extensions
        try:
            status, _ = get(url + path)  # already URL-quoted by the server
        except urllib.error.HTTPError as e:
            status = e.code
        entry = per_pack.setdefault(pack, [0, 0])
        entry[0] += 1
        entry[1] += status == 200
    return per_pack


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packs")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pythonpath", default=None)
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (args.pythonpath, env.get("PYTHONPATH")) if p)

    bare, with_packs = base_dir(None), base_dir(Path(args.packs))
    times = {"none": [], "packs": []}
    nodes, extensions = {}, {}
    for _ in range(args.runs):
        for kind, base in (("none", bare), ("packs", with_packs)):  # interleaved: load drifts hit both
            proc, url, seconds = start(base, env)
            try:
                times[kind].append(seconds)
                nodes[kind] = len(json.loads(get(url + "/object_info", timeout=60)[1]))
                if kind == "packs" and not extensions:
                    extensions = check_extensions(url, {p.name for p in Path(args.packs).iterdir()})
            finally:
                stop(proc)
    none_s, packs_s = statistics.median(times["none"]), statistics.median(times["packs"])
    print(f"start to first 200 on /object_info: without packs {none_s:.2f} s ({nodes['none']} nodes), "
          f"with packs {packs_s:.2f} s ({nodes['packs']} nodes); runs: {times}")
    for pack, (listed, served) in sorted(extensions.items()):
        print(f"  /extensions/{pack}: {served}/{listed} scripts served")
    print(json.dumps({"startup_no_packs_s": round(none_s, 2), "startup_with_packs_s": round(packs_s, 2),
                      "startup_with_packs_ratio": round(packs_s / none_s, 2), "nodes_no_packs": nodes["none"],
                      "nodes_with_packs": nodes["packs"],
                      "extension_scripts_listed": sum(v[0] for v in extensions.values()),
                      "extension_scripts_served": sum(v[1] for v in extensions.values()), "runs": args.runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
