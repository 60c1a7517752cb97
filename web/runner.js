// Running prompts: queueing (batch, front, seed control timing), validation errors marked on
// nodes, and the websocket events that drive progress, previews, output images and error dialogs.
import { MODE } from "./graph/model.js";
import { promptRequest } from "./graph/to_prompt.js";

export class Runner {
  constructor(app) {
    this.app = app;
    this.previewNode = null;
    this.bindServerEvents();
  }

  applySeedControls() {
    const walk = n => n.widgets.forEach((w, i) => {
      if (w.type !== "control") return;
      const target = n.widgets[i - 1];
      if (!target || target.converted) return;   // a linked input is driven upstream
      if (target.type === "combo") {   // step through (or pick from) the options
        const values = target.options.values ?? [], at = values.indexOf(target.value);
        let next = at;
        if (w.value === "increment") next = Math.min(values.length - 1, at + 1);
        else if (w.value === "decrement") next = Math.max(0, at - 1);
        else if (w.value === "randomize") next = Math.floor(Math.random() * values.length);
        if (next !== at && next >= 0) this.app.graph.setWidget(n, target.name, values[next]);
        return;
      }
      if (target.type !== "number") return;
      const o = target.options, v = Number(target.value);
      const max = Math.min(o.max ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), min = o.min ?? 0;
      let nv = v;
      if (w.value === "increment") nv = Math.min(max, v + (o.step ?? 1));
      else if (w.value === "decrement") nv = Math.max(min, v - (o.step ?? 1));
      else if (w.value === "randomize") nv = Math.floor(Math.random() * Math.min(max - min, 2 ** 50)) + min;
      if (nv !== v) this.app.graph.setWidget(n, target.name, nv);
    });
    this.app.undo.transact("seed control", () => { for (const n of this.app.graph.nodes.values()) if (n.mode === MODE.ALWAYS) walk(n); });
  }

  async queue({ front = false, count = null } = {}) {
    const batch = count ?? Math.max(1, Number(this.app.root.querySelector("#lf-batch")?.value) || 1);
    this.clearErrors();
    const before = this.app.settings.get("seedControlTiming") === "before";
    let last = null;
    for (let i = 0; i < batch; i++) {
      if (before) this.applySeedControls();
      const body = promptRequest(this.app.runGraph(), this.app.saveWorkflow(), { clientId: this.app.api.clientId, front, catalogue: this.app.catalogue });
      try {
        last = await this.app.api.queuePrompt(body);
        this.app.progress?.expect(last.prompt_id, Object.keys(body.prompt).length);
        this.app.graph.emit("queued", last);
      } catch (e) {
        this.showPromptError(e.body ?? { error: { message: e.message } });
        return null;
      }
      if (!before) this.applySeedControls();
    }
    return last;
  }

  async interrupt() { try { await this.app.api.interrupt(); } catch (e) { this.app.toast(e.message); } }

  clearErrors() { for (const n of this.app.graph.nodes.values()) n.rt.errors = null; this.app.renderer.markDirty(); }

  showPromptError(body) {
    const errs = body?.node_errors ?? {};
    const lines = [body?.error?.message ?? "Prompt rejected"];
    // the details repeat the node errors listed below; show them only when there are none
    if (body?.error?.details && !Object.keys(errs).length) lines.push(body.error.details);
    for (const [id, ne] of Object.entries(errs)) {
      const node = this.app.graph.getNode(id);
      const inputs = {};
      for (const err of ne.errors ?? []) {
        const name = err.extra_info?.input_name;
        if (name) inputs[name] = err.message;
        lines.push(`${node?.title ?? ne.class_type} #${id}${name ? `, input '${name}'` : ""}: ${err.message}${err.details ? " — " + err.details : ""}`);
      }
      if (node) node.rt.errors = { inputs, list: ne.errors ?? [] };
    }
    this.app.renderer.markDirty();
    this.app.dialogs.text("Prompt validation failed", lines.join("\n"), { className: "lf-error" });
  }

  bindServerEvents() {
    const api = this.app.api, R = () => this.app.renderer.markDirty();
    const node = id => id == null ? null : this.app.graph.getNode(id);
    const setStatus = t => { const el = this.app.root.querySelector("#lf-status"); if (el) el.textContent = t; };
    api.on("socket", ({ connected }) => { setStatus(connected ? "connected" : "reconnecting…"); this.app.root.classList.toggle("offline", !connected); if (connected && this.app.catalogue.names.length) this.app.refreshCatalogue({ quiet: true }); });
    api.on("status", d => { const q = d.status?.exec_info?.queue_remaining; if (q != null) this.app.root.querySelector("#lf-queue-size").textContent = `queue: ${q}`; });
    api.on("execution_start", d => { this.runningPrompt = d.prompt_id; for (const n of this.app.graph.nodes.values()) { n.rt.running = false; n.rt.progress = null; } R(); });
    api.on("executing", d => {
      for (const n of this.app.graph.nodes.values()) if (n.rt.running) { n.rt.running = false; n.rt.preview = null; }
      const n = node(d.display_node ?? d.node);
      if (n) { n.rt.running = true; n.rt.progress = null; this.previewNode = n; }
      if (d.node == null) this.previewNode = null;
      R();
    });
    api.on("progress", d => { const n = node(d.node) ?? this.previewNode; if (n) { n.rt.progress = { value: d.value, max: d.max }; R(); } });
    api.on("executed", d => {
      const n = node(d.display_node ?? d.node);
      const images = d.output?.images;
      if (!n || !images?.length) return;
      n.rt.preview = null;
      n.rt.images = images.map(im => { const url = api.viewUrl(im); const img = new Image(); img.onload = R; img.src = url; return { url, img, ref: im }; });
      n.rt.imageIndex = 0;
      if (n.size[1] < 300) n.size = [Math.max(n.size[0], 256), 320];   // room for the image (view state)
      R();
    });
    api.on("preview", async ({ blob, meta }) => {
      const n = node(meta?.display_node_id ?? meta?.node_id) ?? this.previewNode;
      if (!n) return;
      try { n.rt.preview = await createImageBitmap(blob); R(); } catch { /* undecodable frame */ }
    });
    api.on("execution_error", d => {
      const n = node(d.node_id);
      if (n) n.rt.errors = { inputs: {}, list: [{ message: d.exception_message }] };
      for (const m of this.app.graph.nodes.values()) m.rt.running = false;
      this.app.dialogs.executionError(d);
      R();
    });
    api.on("execution_interrupted", () => { for (const m of this.app.graph.nodes.values()) m.rt.running = false; this.app.toast("Interrupted"); R(); });
    api.on("execution_success", () => { for (const m of this.app.graph.nodes.values()) { m.rt.running = false; m.rt.preview = null; } R(); });
  }

}
