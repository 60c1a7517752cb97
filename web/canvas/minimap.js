// Minimap: the whole graph in a small corner canvas, the visible area outlined; click or drag on it to
// move the view there. It redraws after the main canvas draws, at most once per frame, and its cost is
// one rectangle per node (bench/canvas.py measures it at 2,000 nodes).
import { P } from "./theme.js";

export class Minimap {
  constructor(app, host) {
    this.app = app;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "lf-minimap";
    this.canvas.width = 220; this.canvas.height = 150;
    host.appendChild(this.canvas);
    this.ctx = this.canvas.getContext("2d");
    this.map = null;   // world -> minimap transform of the last layer
    this.changes = 0;  // graph edits seen: the node layer is redrawn when this moves
    app.graph.on("change", () => { this.changes++; });
    app.graph.on("selection", () => { this.changes++; });
    app.settings.on("change", ({ id }) => { if (id === "minimap") this.draw(); });   // show/hide at once
    app.renderer.hooks.afterDraw = app.renderer.hooks.afterDraw ?? [];
    app.renderer.hooks.afterDraw.push(() => this.draw());
    const pan = e => {
      if (!this.map) return;
      const r = this.canvas.getBoundingClientRect();
      const wx = (e.clientX - r.left - this.map.ox) / this.map.k + this.map.x0;
      const wy = (e.clientY - r.top - this.map.oy) / this.map.k + this.map.y0;
      const R = this.app.renderer, s = R.view.scale;
      R.view.offset = [R.canvas.clientWidth / s / 2 - wx, R.canvas.clientHeight / s / 2 - wy];
      R.markDirty();
    };
    this.canvas.addEventListener("pointerdown", e => {
      e.stopPropagation();
      if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();   // commit an open editor
      this.canvas.setPointerCapture(e.pointerId);
      pan(e);
      const move = ev => pan(ev);
      const up = () => { this.canvas.removeEventListener("pointermove", move); this.canvas.removeEventListener("pointerup", up); };
      this.canvas.addEventListener("pointermove", move);
      this.canvas.addEventListener("pointerup", up);
    });
    this.canvas.addEventListener("wheel", e => e.preventDefault(), { passive: false });
  }

  get visible() { return this.app.settings.get("minimap") !== false; }

  // The nodes are drawn into a cached layer, redrawn only when the graph changed; a frame blits it and
  // outlines the view.
  draw() {
    this.canvas.hidden = !this.visible;
    if (!this.visible) return;
    const { ctx, canvas } = this, W = canvas.width, H = canvas.height;
    const R = this.app.renderer, g = this.app.graph;
    const stamp = `${this.changes}:${g.nodes.size}:${[...this.app.ui.selection].join(",")}:${this.app.runner?.previewNode?.id}:${P.name}`;
    if (stamp !== this.stamp) { this.stamp = stamp; this.drawLayer(W, H); }
    ctx.clearRect(0, 0, W, H);
    ctx.drawImage(this.layer, 0, 0);
    if (!this.map) return;
    const { k, ox, oy, x0, y0 } = this.map, vis = R.visibleRect();
    ctx.save(); ctx.beginPath(); ctx.rect(0, 0, W, H); ctx.clip();
    ctx.strokeStyle = P.minimapView; ctx.lineWidth = 1.5;
    ctx.strokeRect(ox + (vis[0] - x0) * k, oy + (vis[1] - y0) * k, vis[2] * k, vis[3] * k);
    ctx.restore();
  }

  drawLayer(W, H) {
    if (!this.layer) { this.layer = document.createElement("canvas"); this.layer.width = W; this.layer.height = H; }
    const ctx = this.layer.getContext("2d"), nodes = this.app.graph.nodes;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = P.minimapBg; ctx.fillRect(0, 0, W, H);
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of nodes.values()) {
      x0 = Math.min(x0, n.pos[0]); y0 = Math.min(y0, n.pos[1] - 30);
      x1 = Math.max(x1, n.pos[0] + n.size[0]); y1 = Math.max(y1, n.pos[1] + n.size[1]);
    }
    if (!nodes.size) { this.map = null; return; }
    const pad = 6, k = Math.min((W - 2 * pad) / Math.max(1, x1 - x0), (H - 2 * pad) / Math.max(1, y1 - y0));
    const ox = pad + ((W - 2 * pad) - (x1 - x0) * k) / 2, oy = pad + ((H - 2 * pad) - (y1 - y0) * k) / 2;
    this.map = { k, ox, oy, x0, y0 };
    const byColor = new Map();
    for (const n of nodes.values()) {
      const c = this.app.ui.selection.has(n.id) ? P.selected : n.rt.running ? P.running : (n.color ?? P.minimapNode);
      let a = byColor.get(c); if (!a) byColor.set(c, a = []);
      a.push(n);
    }
    for (const [c, list] of byColor) {
      ctx.fillStyle = c; ctx.beginPath();
      for (const n of list) ctx.rect(ox + (n.pos[0] - x0) * k, oy + (n.pos[1] - 30 - y0) * k, Math.max(1, n.size[0] * k), Math.max(1, (n.size[1] + 30) * k));
      ctx.fill();
    }
  }
}
