// One 2D-canvas renderer. It draws only when something marked it dirty (one frame per change),
// skips nodes and links outside the viewport, and drops text and widgets when zoomed far out.
import { LAYOUT, MODE } from "../graph/model.js";
import { typeColor, nodeBounds, inputPos, outputPos, widgetRects, imageArea, rectsOverlap } from "./geometry.js";
import { widgetKinds } from "../widgets/index.js";
import { P } from "./theme.js";

const { TITLE_H, SLOT_H } = LAYOUT;
// Far enough out to fit any graph people build (2,000 nodes in a 60×35 grid fit a 1024 px window).
export const MIN_SCALE = 0.01;

export class Renderer {
  constructor(canvas, graph, ui) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.graph = graph;
    this.ui = ui;                       // {selection:Set, settings, linkDrag, marquee, hoverSocket}
    this.view = { scale: 1, offset: [0, 0] };
    this.cull = true;                   // bench/canvas.py compares with culling and LOD off
    this.lod = true;
    this.pending = false;
    this.frames = 0;
    this.lastFrameMs = 0;
    this.hooks = { drawNode: [], drawForeground: [] };   // extension drawing hooks
  }

  markDirty() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  toWorld(sx, sy) { return [sx / this.view.scale - this.view.offset[0], sy / this.view.scale - this.view.offset[1]]; }
  toScreen(wx, wy) { return [(wx + this.view.offset[0]) * this.view.scale, (wy + this.view.offset[1]) * this.view.scale]; }
  visibleRect() {
    const [x0, y0] = this.toWorld(0, 0);
    const [x1, y1] = this.toWorld(this.canvas.clientWidth, this.canvas.clientHeight);
    return [x0, y0, x1 - x0, y1 - y0];
  }

  zoomAt(factor, sx, sy) {
    const [wx, wy] = this.toWorld(sx, sy);
    this.view.scale = Math.min(4, Math.max(MIN_SCALE, this.view.scale * factor));
    this.view.offset = [sx / this.view.scale - wx, sy / this.view.scale - wy];
    this.markDirty();
  }

  fitView(nodes = [...this.graph.nodes.values()]) {
    if (!nodes.length) { this.view = { scale: 1, offset: [0, 0] }; this.markDirty(); return; }
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of nodes) { const b = nodeBounds(n); x0 = Math.min(x0, b[0]); y0 = Math.min(y0, b[1]); x1 = Math.max(x1, b[0] + b[2]); y1 = Math.max(y1, b[1] + b[3]); }
    const W = this.canvas.clientWidth || 800, H = this.canvas.clientHeight || 600, m = 40;
    const scale = Math.min(2, Math.max(MIN_SCALE, Math.min((W - 2 * m) / (x1 - x0), (H - 2 * m) / (y1 - y0))));
    this.view = { scale, offset: [(W / scale - (x1 - x0)) / 2 - x0, (H / scale - (y1 - y0)) / 2 - y0] };
    this.markDirty();
  }

  draw() {
    const t0 = performance.now();
    const { canvas, ctx } = this;
    const dpr = window.devicePixelRatio || 1;
    const W = canvas.clientWidth, H = canvas.clientHeight;
    if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) {
      canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = P.bg;
    ctx.fillRect(0, 0, W, H);
    const s = this.view.scale;
    ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * s * this.view.offset[0], dpr * s * this.view.offset[1]);
    const vis = this.visibleRect();
    this.drawGrid(vis);
    for (const g of this.graph.groups) if (!this.cull || rectsOverlap(g.bounding, vis)) this.drawGroup(g);
    this.drawLinks(vis);
    const lod = this.lod && s < 0.45;
    if (lod) this.drawNodesLod(vis);
    else for (const id of this.graph.zorder) {
      const n = this.graph.nodes.get(id);
      if (!n) continue;
      if (this.cull && !rectsOverlap(nodeBounds(n), vis)) continue;
      this.drawNode(n, lod);
    }
    this.drawOverlays();
    for (const fn of this.hooks.drawForeground) fn(ctx, this);
    this.lastFrameMs = performance.now() - t0;   // the main canvas alone; the minimap is timed apart
    const t1 = performance.now();
    for (const fn of this.hooks.afterDraw ?? []) fn(this);
    this.lastExtrasMs = performance.now() - t1;
    this.frames++;
  }

  drawGrid(vis) {
    const { ctx } = this;
    const step = 40;
    if (this.view.scale < 0.3) return;
    ctx.fillStyle = P.grid;
    const x0 = Math.floor(vis[0] / step) * step, y0 = Math.floor(vis[1] / step) * step;
    for (let x = x0; x < vis[0] + vis[2]; x += step)
      for (let y = y0; y < vis[1] + vis[3]; y += step) ctx.fillRect(x - 1, y - 1, 2, 2);
  }

  drawGroup(g) {
    const { ctx } = this;
    const [x, y, w, h] = g.bounding;
    const color = g.color ?? "#3f789e";
    ctx.globalAlpha = 0.18; ctx.fillStyle = color; ctx.fillRect(x, y, w, h);
    ctx.globalAlpha = 0.9; ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.strokeRect(x, y, w, h);
    ctx.globalAlpha = 1;
    const fs = g.font_size ?? 24;
    ctx.fillStyle = P.groupText; ctx.font = `${fs}px sans-serif`; ctx.textBaseline = "top";
    ctx.fillText(g.title ?? "Group", x + 8, y + 6);
    if (this.ui.selectedGroup === g) { ctx.strokeStyle = P.selected; ctx.setLineDash([6, 4]); ctx.strokeRect(x - 3, y - 3, w + 6, h + 6); ctx.setLineDash([]); }
  }

  linkPath(a, b) {
    this.ctx.beginPath();
    this.linkSegment(a, b);
  }

  // One link added to the current path, in the chosen style.
  linkSegment(a, b) {
    const { ctx } = this;
    const style = this.ui.settings.get("linkStyle");
    ctx.moveTo(a[0], a[1]);
    if (style === "straight") ctx.lineTo(b[0], b[1]);
    else if (style === "linear") { ctx.lineTo(a[0] + 15, a[1]); ctx.lineTo(b[0] - 15, b[1]); ctx.lineTo(b[0], b[1]); }
    else { const d = Math.max(40, Math.abs(b[0] - a[0]) * 0.5); ctx.bezierCurveTo(a[0] + d, a[1], b[0] - d, b[1], b[0], b[1]); }
  }

  // Links are batched into one path per colour and opacity (one stroke call each); far out they are
  // straight lines, which at that size look the same and cost a fraction of a curve.
  drawLinks(vis) {
    const { ctx, graph } = this;
    const far = this.lod && this.view.scale < 0.2;
    const batches = new Map();
    for (const l of graph.links.values()) {
      const o = graph.nodes.get(l.origin_id), t = graph.nodes.get(l.target_id);
      if (!o || !t) continue;
      const a = outputPos(o, l.origin_slot), b = inputPos(t, l.target_slot);
      if (this.cull) {
        const bx = [Math.min(a[0], b[0]) - 50, Math.min(a[1], b[1]) - 50, Math.abs(a[0] - b[0]) + 100, Math.abs(a[1] - b[1]) + 100];
        if (!rectsOverlap(bx, vis)) continue;
      }
      const key = typeColor(l.type) + (o.mode === MODE.NEVER || t.mode === MODE.NEVER ? "|0.3" : "|0.85");
      let list = batches.get(key);
      if (!list) batches.set(key, list = []);
      list.push(a, b);
    }
    ctx.lineWidth = far ? Math.max(3, 1.5 / this.view.scale) : 3;
    for (const [key, pts] of batches) {
      const [color, alpha] = key.split("|");
      ctx.strokeStyle = color; ctx.globalAlpha = Number(alpha);
      ctx.beginPath();
      for (let i = 0; i < pts.length; i += 2) {
        if (far) { ctx.moveTo(pts[i][0], pts[i][1]); ctx.lineTo(pts[i + 1][0], pts[i + 1][1]); }
        else this.linkSegment(pts[i], pts[i + 1]);
      }
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }

  drawNode(n, lod) {
    const { ctx } = this;
    const [x, y, w, h] = nodeBounds(n);
    const selected = this.ui.selection.has(n.id);
    const bypass = n.mode === MODE.BYPASS, muted = n.mode === MODE.NEVER;
    if (lod) {   // far out: two rectangles per node and its title at a readable size, nothing else
      ctx.fillStyle = bypass ? P.bypassBody : (n.bgcolor ?? P.nodeBody);
      ctx.fillRect(x, y, w, h);
      ctx.fillStyle = n.rt.errors ? P.error : n.rt.running ? P.running : selected ? P.selected : bypass ? P.bypassTitle : (n.color ?? P.nodeTitle);
      ctx.fillRect(x, y, w, TITLE_H);
      this.drawLodTitle(n, x, y, w, h);
      return;
    }
    ctx.globalAlpha = muted ? 0.45 : 1;
    // Body.
    ctx.fillStyle = bypass ? P.bypassBody : (n.bgcolor ?? P.nodeBody);
    ctx.beginPath(); ctx.roundRect(x, y, w, h, 8); ctx.fill();
    ctx.fillStyle = bypass ? P.bypassTitle : (n.color ?? P.nodeTitle);
    ctx.beginPath(); ctx.roundRect(x, y, w, TITLE_H, n.collapsed ? 8 : [8, 8, 0, 0]); ctx.fill();
    // Outline: error > running > selected.
    const outline = n.rt.errors ? P.error : n.rt.running ? P.running : selected ? P.selected : null;
    if (outline) { ctx.strokeStyle = outline; ctx.lineWidth = n.rt.errors || n.rt.running ? 3 : 2; ctx.beginPath(); ctx.roundRect(x - 2, y - 2, w + 4, h + 4, 10); ctx.stroke(); }
    if (n.kind === "missing") { ctx.strokeStyle = P.missing; ctx.setLineDash([6, 4]); ctx.lineWidth = 2; ctx.strokeRect(x, y, w, h); ctx.setLineDash([]); }
    if (n.rt.progress && n.rt.running) {
      const p = n.rt.progress.max ? n.rt.progress.value / n.rt.progress.max : 0;
      ctx.fillStyle = P.running; ctx.fillRect(x, y + TITLE_H - 4, w * p, 4);
    }
    if (!lod) {
      ctx.fillStyle = n.color && P.name === "light" ? "#f2f2f2" : P.titleText; ctx.font = "bold 14px sans-serif"; ctx.textBaseline = "middle";
      ctx.fillText(this.fit(n.title + (n.kind === "missing" ? " (missing)" : ""), w - (n.kind === "subgraph" ? 52 : 30)), x + 24, y + TITLE_H / 2);
      if (n.kind === "subgraph") {   // a subgraph instance: double-click its body to open it
        ctx.fillStyle = P.slotText; ctx.font = "12px sans-serif"; ctx.textAlign = "right";
        ctx.fillText("⧉ open", x + w - 8, y + TITLE_H / 2); ctx.textAlign = "left";
      }
      ctx.fillStyle = n.collapsed ? P.dotCollapsed : P.dot; ctx.beginPath(); ctx.arc(x + 12, y + TITLE_H / 2, 5, 0, 7); ctx.fill();
    }
    if (n.collapsed) { this.drawCollapsedSockets(n); ctx.globalAlpha = 1; return; }
    this.drawSockets(n, lod);
    if (!lod) {
      for (const r of widgetRects(n)) {
        const kind = widgetKinds.get(r.widget.type);
        if (kind) kind.draw(ctx, n, r.widget, r, this);
      }
      this.drawImages(n);
      for (const fn of this.hooks.drawNode) fn(ctx, n, this);
    }
    ctx.globalAlpha = 1;
  }

  // Far out, nodes are two rectangles (body, title bar) and a title: the rectangles are batched into
  // one path per colour (one fill call each instead of two per node), then the titles drawn on top.
  drawNodesLod(vis) {
    const { ctx } = this, bodies = new Map(), bars = new Map(), shown = [];
    const add = (map, color, r) => { let a = map.get(color); if (!a) map.set(color, a = []); a.push(r); };
    for (const id of this.graph.zorder) {
      const n = this.graph.nodes.get(id);
      if (!n) continue;
      const b = nodeBounds(n);
      if (this.cull && !rectsOverlap(b, vis)) continue;
      const bypass = n.mode === MODE.BYPASS, selected = this.ui.selection.has(n.id);
      add(bodies, bypass ? P.bypassBody : (n.bgcolor ?? P.nodeBody), b);
      add(bars, n.rt.errors ? P.error : n.rt.running ? P.running : selected ? P.selected : bypass ? P.bypassTitle : (n.color ?? P.nodeTitle), b);
      shown.push([n, b]);
    }
    for (const [color, rects] of bodies) { ctx.fillStyle = color; ctx.beginPath(); for (const r of rects) ctx.rect(r[0], r[1], r[2], r[3]); ctx.fill(); }
    for (const [color, rects] of bars) { ctx.fillStyle = color; ctx.beginPath(); for (const r of rects) ctx.rect(r[0], r[1], r[2], Math.min(TITLE_H, r[3])); ctx.fill(); }
    for (const [n, b] of shown) this.drawLodTitle(n, b[0], b[1], b[2], b[3]);
  }

  // Level-of-detail title: 12 screen pixels high whatever the zoom, inside the node, when the node is
  // wide enough on screen to hold a few letters (below that a word would only be noise).
  drawLodTitle(n, x, y, w, h) {
    if (!this.ui.settings.get("lodText")) return;
    const s = this.view.scale, px = w * s;
    if (px < 36) return;
    const { ctx } = this, size = 12 / s;
    ctx.fillStyle = P.lodText; ctx.font = `bold ${size}px sans-serif`; ctx.textBaseline = "top";
    ctx.fillText(n.title, x + 4 / s, y + Math.max(2 / s, (TITLE_H - size) / 2), w - 8 / s);
  }

  drawCollapsedSockets(n) {
    const { ctx } = this;
    if (n.inputs.length) { const [x, y] = inputPos(n, 0); ctx.fillStyle = P.socketCollapsed; ctx.beginPath(); ctx.arc(x, y, 4, 0, 7); ctx.fill(); }
    if (n.outputs.length) { const [x, y] = outputPos(n, 0); ctx.fillStyle = P.socketCollapsed; ctx.beginPath(); ctx.arc(x, y, 4, 0, 7); ctx.fill(); }
  }

  drawSockets(n, lod) {
    const { ctx } = this;
    const errs = n.rt.errors?.inputs ?? {};
    ctx.font = "12px sans-serif"; ctx.textBaseline = "middle";
    n.inputs.forEach((inp, i) => {
      const [sx, sy] = inputPos(n, i);
      const hl = this.ui.linkDrag && this.ui.linkDrag.compatible?.(n, i, "in");
      ctx.fillStyle = typeColor(inp.type);
      ctx.beginPath(); ctx.arc(sx, sy, hl ? 7 : 5, 0, 7);
      if (inp.link != null || hl) ctx.fill(); else { ctx.lineWidth = 2; ctx.strokeStyle = ctx.fillStyle; ctx.stroke(); }
      if (!lod) { ctx.fillStyle = errs[inp.name] ? P.slotError : P.slotText; ctx.textAlign = "left"; ctx.fillText(inp.label ?? inp.name, sx + 12, sy); }
    });
    n.outputs.forEach((out, i) => {
      const [sx, sy] = outputPos(n, i);
      const hl = this.ui.linkDrag && this.ui.linkDrag.compatible?.(n, i, "out");
      ctx.fillStyle = typeColor(out.type);
      ctx.beginPath(); ctx.arc(sx, sy, hl ? 7 : 5, 0, 7); ctx.fill();
      if (!lod) { ctx.fillStyle = P.slotText; ctx.textAlign = "right"; ctx.fillText(out.label ?? out.name, sx - 12, sy); ctx.textAlign = "left"; }
    });
  }

  drawImages(n) {
    const img = n.rt.preview ?? n.rt.images?.[n.rt.imageIndex ?? 0]?.img;
    if (!img || !img.width) return;
    const [x, y, w, h] = imageArea(n);
    if (h < 20) return;
    const k = Math.min(w / img.width, h / img.height);
    const dw = img.width * k, dh = img.height * k;
    this.ctx.drawImage(img, x + (w - dw) / 2, y + (h - dh) / 2, dw, dh);
    if (n.rt.images?.length > 1) {
      this.ctx.fillStyle = P.imageCount; this.ctx.font = "11px sans-serif";
      this.ctx.fillText(`${(n.rt.imageIndex ?? 0) + 1}/${n.rt.images.length}`, x + 4, y + 10);
    }
  }

  drawOverlays() {
    const { ctx, ui } = this;
    if (ui.linkDrag?.to) {
      const d = ui.linkDrag;
      ctx.strokeStyle = typeColor(d.type); ctx.lineWidth = 3; ctx.setLineDash([8, 6]);
      d.dir === "out" ? this.linkPath(d.from, d.to) : this.linkPath(d.to, d.from);
      ctx.stroke(); ctx.setLineDash([]);
    }
    if (ui.marquee) {
      const [x, y, w, h] = ui.marquee;
      ctx.fillStyle = P.marqueeFill; ctx.fillRect(x, y, w, h);
      ctx.strokeStyle = P.marqueeLine; ctx.lineWidth = 1 / this.view.scale; ctx.strokeRect(x, y, w, h);
    }
  }

  fit(text, maxW) {
    if (this.ctx.measureText(text).width <= maxW) return text;
    let t = text;
    while (t.length > 1 && this.ctx.measureText(t + "…").width > maxW) t = t.slice(0, -1);
    return t + "…";
  }
}
