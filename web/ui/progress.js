// Overall run progress: the share of the prompt's nodes done (cached ones count as done, the running
// node counts by its own step progress), the time left estimated from the rate so far, shown as a bar
// under the toolbar, in the status text, in the tab title and as a progress ring in the favicon.
export class RunProgress {
  constructor(app) {
    this.app = app;
    this.bar = app.root.querySelector("#lf-progress");
    this.sizes = new Map();          // prompt_id -> number of nodes it runs (known for our own prompts)
    this.reset();
    const api = app.api;
    api.on("execution_start", d => { this.reset(); this.promptId = d.prompt_id; this.total = this.sizes.get(d.prompt_id) ?? 0; this.started = performance.now(); this.update(); });
    api.on("execution_cached", d => { if (d.prompt_id === this.promptId) { for (const id of d.nodes ?? []) this.done.add(String(id)); this.update(); } });
    api.on("executing", d => {
      if (d.prompt_id && d.prompt_id !== this.promptId) return;
      if (this.running != null) this.done.add(this.running);
      this.running = d.node == null ? null : String(d.node);
      this.step = 0;
      if (d.node == null) this.finish();
      else this.update();
    });
    api.on("progress", d => { if (!d.prompt_id || d.prompt_id === this.promptId) { this.step = d.max ? d.value / d.max : 0; this.update(); } });
    for (const ev of ["execution_success", "execution_error", "execution_interrupted"]) api.on(ev, () => this.finish());
  }

  expect(promptId, nodeCount) { this.sizes.set(promptId, nodeCount); }

  reset() { this.promptId = null; this.total = 0; this.done = new Set(); this.running = null; this.step = 0; this.started = 0; this.fraction = null; }

  // 0..1, or null when the prompt's size is unknown (queued by another client)
  compute() {
    if (!this.promptId) return null;
    if (!this.total) return this.running ? this.step : null;
    return Math.min(1, (this.done.size + (this.running ? this.step : 0)) / this.total);
  }

  update() {
    const f = this.compute();
    this.fraction = f;
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = f && f > 0.02 && f < 1 ? elapsed * (1 - f) / f : null;
    this.eta = eta;
    if (this.bar) { this.bar.style.width = f == null ? "0" : `${(f * 100).toFixed(1)}%`; this.bar.classList.toggle("active", f != null); }
    const status = this.app.root.querySelector("#lf-progress-text");
    if (status) status.textContent = f == null ? "" : `${Math.round(f * 100)}%${eta != null ? ` · ${formatTime(eta)} left` : ""}`;
    this.app.updateTitle();
    drawFavicon(f);
  }

  finish() { this.reset(); this.update(); }
}

export function formatTime(s) {
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}` : `${m}:${String(sec).padStart(2, "0")}`;
}

// A 32×32 favicon: the app's mark, with a progress ring while a prompt runs.
function drawFavicon(f) {
  const c = document.createElement("canvas");
  c.width = c.height = 32;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#4f8cff";
  ctx.beginPath(); ctx.arc(16, 16, f == null ? 14 : 9, 0, Math.PI * 2); ctx.fill();
  if (f != null) {
    ctx.strokeStyle = "#4caf50"; ctx.lineWidth = 5;
    ctx.beginPath(); ctx.arc(16, 16, 13, -Math.PI / 2, -Math.PI / 2 + 2 * Math.PI * f); ctx.stroke();
  }
  let link = document.querySelector("link[rel=icon]");
  if (!link) { link = document.createElement("link"); link.rel = "icon"; document.head.appendChild(link); }
  link.href = c.toDataURL("image/png");
  link.dataset.progress = f == null ? "" : String(Math.round(f * 100));
}
