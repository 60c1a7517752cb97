// Queue and history side panel: cancel running, delete pending, reload or delete past runs.
export class QueuePanel {
  constructor(root, app) {
    this.app = app;
    this.el = document.createElement("aside");
    this.el.className = "lf-queue hidden";
    (root.querySelector("main") ?? root).appendChild(this.el);
    app.api.on("status", () => { if (this.visible) this.refresh(); });
    app.api.on("execution_success", () => { if (this.visible) this.refresh(); });
  }
  get visible() { return !this.el.classList.contains("hidden"); }
  toggle() { this.el.classList.toggle("hidden"); if (this.visible) this.refresh(); }

  async refresh() {
    const { api } = this.app;
    let queue = { queue_running: [], queue_pending: [] }, history = {};
    try { [queue, history] = await Promise.all([api.getQueue(), api.getHistory(50)]); } catch (e) { console.warn("queue panel", e); }
    this.el.innerHTML = "";
    const section = (title, items, build) => {
      const h = document.createElement("h3"); h.textContent = `${title} (${items.length})`;
      this.el.appendChild(h);
      for (const it of items) this.el.appendChild(build(it));
    };
    const row = (label, buttons, thumb = null, kind = "") => {
      const div = document.createElement("div"); div.className = "lf-queue-item " + kind;
      if (thumb) { const img = document.createElement("img"); img.src = thumb; div.appendChild(img); }
      const span = document.createElement("span"); span.textContent = label; div.appendChild(span);
      for (const [text, fn] of buttons) { const b = document.createElement("button"); b.textContent = text; b.onclick = fn; div.appendChild(b); }
      return div;
    };
    section("Running", queue.queue_running ?? [], it => row(`#${it[0]} ${String(it[1]).slice(0, 8)}`, [["Cancel", () => api.interrupt()]]));
    const pending = [...(queue.queue_pending ?? [])].sort((a, b) => a[0] - b[0]);
    section("Pending", pending, it => row(`#${it[0]} ${String(it[1]).slice(0, 8)}`, [["Delete", async () => { await api.deleteQueued([it[1]]); this.refresh(); }]]));
    const past = Object.entries(history).reverse();
    section("History", past, ([id, h]) => {
      const img = Object.values(h.outputs ?? {}).flatMap(o => o.images ?? [])[0];
      const workflow = h.prompt?.[3]?.extra_pnginfo?.workflow;
      const status = h.status?.status_str ?? "";
      const r = row(`${id.slice(0, 8)} ${status}`, [
        ["Load", () => workflow ? this.app.loadWorkflow(workflow) : this.app.loadApiPrompt(h.prompt?.[2])],
        ["Delete", async () => { await api.deleteHistory([id]); this.refresh(); }],
      ], img ? api.viewUrl(img) : null, "history");
      const meta = document.createElement("span"); meta.className = "meta"; meta.textContent = runSummary(h);
      r.querySelector("span").appendChild(meta);
      return r;
    });
  }
}

// "12.4 s · seed 42 · 20 steps · cfg 7 · euler/normal · 512×512": the run's time, from the status
// messages' timestamps (execution_start to success/error), and the sampling parameters of its prompt.
export function runSummary(h) {
  const parts = [];
  const times = Object.fromEntries((h.status?.messages ?? []).map(([kind, d]) => [kind, d?.timestamp]));
  const end = times.execution_success ?? times.execution_error ?? times.execution_interrupted;
  if (times.execution_start && end) parts.push(`${((end - times.execution_start) / 1000).toFixed(1)} s`);
  const prompt = h.prompt?.[2] ?? {};
  const sampler = Object.values(prompt).find(n => /^KSampler/.test(n?.class_type ?? ""))?.inputs ?? {};
  const seed = sampler.seed ?? sampler.noise_seed;
  if (typeof seed === "number") parts.push(`seed ${seed}`);
  if (typeof sampler.steps === "number") parts.push(`${sampler.steps} steps`);
  if (typeof sampler.cfg === "number") parts.push(`cfg ${sampler.cfg}`);
  if (typeof sampler.sampler_name === "string") parts.push(`${sampler.sampler_name}/${sampler.scheduler ?? ""}`);
  const latent = Object.values(prompt).find(n => /Empty.*Latent/.test(n?.class_type ?? ""))?.inputs ?? {};
  if (typeof latent.width === "number" && typeof latent.height === "number") parts.push(`${latent.width}×${latent.height}`);
  return parts.join(" · ");
}
