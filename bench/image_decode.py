"""Peak memory of six concurrent /view?channel=rgb decodes of a 20 KB, 15000x11000 1-bit PNG (issue 16).

Ours: a real server process (core.server, default decode budget) answering six concurrent requests.
Peer: the same six decodes (Pillow: open, load, convert to RGB, encode PNG) on six threads of a bare
process with no budget, which is what a server without one does. Both report the process's peak RSS
growth over its RSS before the decodes, sampled every 10 ms.
Last line: one JSON object (``peak_rss_ratio`` = ours / peer; ``wall_ratio`` likewise).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "server"))

from bigpng import bilevel_png  # noqa: E402
from serverproc import Server  # noqa: E402

WIDTH, HEIGHT, CONCURRENT = 15000, 11000, 6

PEER = """
import io, sys, time
from concurrent.futures import ThreadPoolExecutor
from PIL import Image
Image.MAX_IMAGE_PIXELS = None
def decode(_):
    with Image.open(sys.argv[1]) as img:
        img.load()
        rgb = img.convert("RGB")
        buf = io.BytesIO()
        rgb.save(buf, format="PNG", compress_level=1)
        return len(buf.getvalue())
sys.stdin.readline()  # start when the parent has its baseline
with ThreadPoolExecutor(%d) as pool:
    sizes = list(pool.map(decode, range(%d)))
print(sizes[0], flush=True)
""" % (CONCURRENT, CONCURRENT)


def peak_growth(pid: int, work) -> tuple:
    """(peak RSS growth in bytes, seconds) of process pid while work() runs."""
    import psutil

    proc = psutil.Process(pid)
    before = proc.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], proc.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.01)
    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.perf_counter()
    try:
        work()
    finally:
        seconds = time.perf_counter() - t0
        done.set()
        sampler.join()
    return peak[0] - before, seconds


def measure_ours(base: Path) -> tuple:
    with Server(base) as server:
        url = f"{server.url}/view?filename=huge.png&type=input&channel=rgb"

        def six():
            def one(_):
                with urllib.request.urlopen(url, timeout=600) as r:
                    assert r.status == 200
                    return len(r.read())
            with ThreadPoolExecutor(CONCURRENT) as pool:
                list(pool.map(one, range(CONCURRENT)))
        return peak_growth(server.proc.pid, six)


def measure_peer(png: Path) -> tuple:
    proc = subprocess.Popen([sys.executable, "-c", PEER, str(png)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    time.sleep(1.0)  # Pillow imported

    def six():
        proc.stdin.write("go\n")
        proc.stdin.flush()
        proc.stdout.readline()
    try:
        return peak_growth(proc.pid, six)
    finally:
        proc.wait(60)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for d in ("input", "output", "temp"):
            (base / d).mkdir()
        png = bilevel_png(base / "input" / "huge.png", WIDTH, HEIGHT)
        size = png.stat().st_size
        ours, ours_s = measure_ours(base)
        peer, peer_s = measure_peer(png)
    gib = 2**30
    print(f"{CONCURRENT} concurrent channel=rgb decodes of a {size} B {WIDTH}x{HEIGHT} 1-bit PNG: "
          f"server peak RSS +{ours / gib:.2f} GiB in {ours_s:.1f} s | unbudgeted Pillow +{peer / gib:.2f} GiB "
          f"in {peer_s:.1f} s")
    print(json.dumps({"peak_rss_growth_gib": round(ours / gib, 3), "peer_peak_rss_growth_gib": round(peer / gib, 3),
                      "peak_rss_ratio": round(ours / peer, 3), "wall_s": round(ours_s, 2),
                      "peer_wall_s": round(peer_s, 2), "wall_ratio": round(ours_s / peer_s, 3),
                      "concurrent": CONCURRENT, "pixels": WIDTH * HEIGHT}))


if __name__ == "__main__":
    main()
