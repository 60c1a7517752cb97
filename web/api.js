// HTTP + websocket client for the server routes of docs/comfy-api.md §1 and the messages of §2.
// The socket reconnects by itself (backoff up to 5 s) so a server restart needs no page reload.
import { Bus } from "./graph/model.js";

export class Api extends Bus {
  constructor(base = "") {
    super();
    this.base = base;
    this.clientId = sessionStorage.getItem("latentflow.clientId") ?? crypto.randomUUID().replace(/-/g, "");
    sessionStorage.setItem("latentflow.clientId", this.clientId);
    this.socket = null;
    this.connected = false;
    this._retry = 250;
  }

  async json(path, opts = {}) {
    const res = await fetch(this.base + path, opts);
    const text = await res.text();
    const body = text ? JSON.parse(text) : null;
    if (!res.ok) { const err = new Error(`${opts.method ?? "GET"} ${path} → ${res.status}`); err.status = res.status; err.body = body; throw err; }
    return body;
  }
  post(path, body) {
    return this.json(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  objectInfo() { return this.json("/object_info"); }
  queuePrompt(body) { return this.post("/prompt", body); }
  getQueue() { return this.json("/queue"); }
  getHistory(max = 50) { return this.json(`/history?max_items=${max}`); }
  deleteQueued(ids) { return this.post("/queue", { delete: ids }); }
  deleteHistory(ids) { return this.post("/history", { delete: ids }); }
  clearQueue() { return this.post("/queue", { clear: true }); }
  interrupt() { return this.post("/interrupt", {}); }
  async extensions() { try { return await this.json("/extensions"); } catch { return []; } }
  viewUrl({ filename, subfolder = "", type = "output" }) {
    const q = new URLSearchParams({ filename, subfolder, type });
    return `${this.base}/view?${q}`;
  }
  async uploadImage(file, { overwrite = false } = {}) {
    const form = new FormData();
    form.append("image", file, file.name || "pasted.png");
    if (overwrite) form.append("overwrite", "true");
    return this.json("/upload/image", { method: "POST", body: form });
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const host = this.base ? new URL(this.base).host : location.host;
    const ws = new WebSocket(`${proto}://${host}/ws?clientId=${this.clientId}`);
    ws.binaryType = "arraybuffer";
    this.socket = ws;
    ws.onopen = () => { this.connected = true; this._retry = 250; this.emit("socket", { connected: true }); };
    ws.onclose = () => {
      if (this.connected) this.emit("socket", { connected: false });
      this.connected = false;
      setTimeout(() => this.connect(), this._retry);
      this._retry = Math.min(5000, this._retry * 2);
    };
    ws.onmessage = ev => {
      if (typeof ev.data === "string") {
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return; }
        if (msg.type === "status" && msg.data?.sid) this.clientId = msg.data.sid;
        this.emit(msg.type, msg.data ?? {});
      } else this._binary(ev.data);
    };
  }

  // Binary frames (§2): 4-byte BE event type; 1 = preview (4-byte BE format 1 JPEG / 2 PNG + bytes),
  // 4 = preview with a JSON metadata header, 3 = progress text for a node.
  _binary(buf) {
    const dv = new DataView(buf);
    const event = dv.getUint32(0);
    if (event === 1) {
      const fmt = dv.getUint32(4) === 2 ? "image/png" : "image/jpeg";
      this.emit("preview", { blob: new Blob([buf.slice(8)], { type: fmt }) });
    } else if (event === 4) {
      const n = dv.getUint32(4);
      const meta = JSON.parse(new TextDecoder().decode(buf.slice(8, 8 + n)));
      this.emit("preview", { blob: new Blob([buf.slice(8 + n)], { type: meta.image_type ?? "image/jpeg" }), meta });
    } else if (event === 3) {
      const n = dv.getUint32(4);
      const td = new TextDecoder();
      this.emit("progress_text", { node: td.decode(buf.slice(8, 8 + n)), text: td.decode(buf.slice(8 + n)) });
    }
  }
}
