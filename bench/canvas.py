"""Canvas frame times on 500- and 2,000-node graphs in headless Chromium, beside peers measured in the same run.

Scenarios (each a sequence of view changes, one synchronous redraw per frame, flushed with a 1-pixel
readback so the software rasteriser's work is counted):
  pan_1x      panning at 100 % zoom (most nodes off-screen)
  zoom_sweep  zooming from 100 % out to the whole graph and back
  fit_all     panning while the whole graph is in view (level-of-detail drawing)
The measured frames are the app's own: culling, level-of-detail titles and the minimap all on (a frame
includes the minimap's redraw). Peers: the same page and graph with culling, level-of-detail and the
minimap off (naive full redraw), and the same page with an empty graph (the floor). Also counts frames
drawn while idle (should be 0).

Usage: .venv/bin/python bench/canvas.py [--nodes 500,2000] [--frames 120]
Last line: JSON with, per graph size, *_ratio = naive_ms / culled_ms (higher is better) and
*_fps60_ratio = 16.7 ms / the median frame time with everything on (>= 1: frames fit a 60 fps budget;
the p95 is printed beside it, and is what a busy machine spoils first).
"""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))
from classic_nodes import classic_object_info  # noqa: E402

BUILD = """([info, count]) => {
  const lf = window.__latentflow, app = lf.app;
  lf.setCatalogue({...lf.catalogue(), ...info});
  app.clearGraph();
  const types = ["CheckpointLoaderSimple", "CLIPTextEncode", "KSampler", "VAEDecode", "EmptyLatentImage", "SaveImage", "LoraLoader"];
  const cols = Math.ceil(Math.sqrt(count * 1.6));
  const made = [];
  for (let i = 0; i < count; i++) {
    const n = app.addNode(types[i % types.length], [(i % cols) * 420, Math.floor(i / cols) * 380]);
    made.push(n);
  }
  // Chain compatible sockets so links are drawn too (about one per node).
  for (let i = 1; i < made.length; i++) {
    const a = made[i - 1], b = made[i];
    for (let o = 0; o < a.outputs.length; o++) {
      const s = b.inputs.findIndex((inp, k) => inp.link == null && app.graph.canConnect(a, o, b, k));
      if (s >= 0) { app.graph.connect(a.id, o, b.id, s); break; }
    }
  }
  app.undo.reset();
  return lf.summary();
}"""

RUN = """([scenario, frames, cull]) => {
  const app = window.__latentflow.app, r = app.renderer;
  r.cull = cull; r.lod = cull;
  app.settings.values.minimap = cull; app.settings.values.lodText = cull;
  const W = r.canvas.clientWidth, H = r.canvas.clientHeight;
  r.fitView(); const fit = {...r.view, offset: [...r.view.offset]};
  const times = [];
  const flush = () => r.ctx.getImageData(0, 0, 1, 1);
  for (let f = 0; f < frames; f++) {
    const t = f / frames;
    if (scenario === "pan_1x") r.view = {scale: 1, offset: [-t * 6000, -t * 3000]};
    else if (scenario === "zoom_sweep") { const s = Math.exp(Math.log(fit.scale) * (1 - Math.abs(2 * t - 1))); r.view = {scale: 1, offset: [0, 0]}; r.zoomAt(s, W / 2, H / 2); }
    else r.view = {scale: fit.scale, offset: [fit.offset[0] - t * 200, fit.offset[1]]};
    const t0 = performance.now();
    r.draw(); flush();
    times.push(performance.now() - t0);
  }
  r.cull = true; r.lod = true;
  app.settings.values.minimap = true; app.settings.values.lodText = true;
  return times;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stats(times):
    times = sorted(times)
    return {"median_ms": round(statistics.median(times), 3), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="500,2000", help="graph sizes, comma-separated")
    ap.add_argument("--frames", type=int, default=120)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    base = Path(tempfile.mkdtemp(prefix="lf_bench_"))
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), "--port", str(port), "--cpu", "--base-directory", str(base)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "object_info", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.goto(url)
            page.wait_for_function("window.__latentflow && window.__latentflow.isReady", timeout=30000)
            info = classic_object_info()
            sizes = [int(n) for n in str(args.nodes).split(",")]
            result = {"nodes": sizes, "frames": args.frames, "viewport": "1600x900"}
            # Floor: same page, empty graph.
            page.evaluate("() => window.__latentflow.app.clearGraph()")
            empty = page.evaluate(RUN, ["pan_1x", args.frames, True])
            result["empty_pan_1x"] = stats(empty)
            for size in sizes:
                summary = page.evaluate(BUILD, [info, size])
                result[f"graph_{size}"] = summary
                page.evaluate(RUN, ["fit_all", 10, True])   # warm up (fonts, JIT)
                for scenario in ("pan_1x", "zoom_sweep", "fit_all"):
                    culled = stats(page.evaluate(RUN, [scenario, args.frames, True]))
                    naive = stats(page.evaluate(RUN, [scenario, args.frames, False]))
                    key = f"n{size}_{scenario}"
                    result[key] = {"culled": culled, "naive": naive}
                    result[f"{key}_ratio"] = round(naive["median_ms"] / max(culled["median_ms"], 1e-3), 2)
                    result[f"{key}_fps60_ratio"] = round(16.7 / max(culled["median_ms"], 1e-3), 2)
            # Redraw only on change: frames drawn over one idle second.
            result["idle_frames_per_s"] = page.evaluate(
                "() => new Promise(res => { const r = window.__latentflow.app.renderer, f0 = r.frames; setTimeout(() => res(r.frames - f0), 1000); })")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)
    for size in result["nodes"]:
        for k in ("pan_1x", "zoom_sweep", "fit_all"):
            key = f"n{size}_{k}"
            c, n = result[key]["culled"], result[key]["naive"]
            print(f"{size:5d} {k:11s} app median {c['median_ms']:7.2f} ms p95 {c['p95_ms']:7.2f} | naive median {n['median_ms']:7.2f} ms"
                  f" p95 {n['p95_ms']:7.2f} | ratio {result[key + '_ratio']} | 60 fps budget ratio {result[key + '_fps60_ratio']}")
    print(f"empty graph pan median {result['empty_pan_1x']['median_ms']} ms; idle frames/s {result['idle_frames_per_s']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
