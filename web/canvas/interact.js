// Mouse and keyboard on the canvas: pan/zoom, select/marquee/move, link dragging (with search on
// release over empty space), widget clicks and scrubbing, shortcuts. Every edit is one undo step.
import { LAYOUT, MODE } from "../graph/model.js";
import { nodeBounds, inputPos, outputPos, widgetRects, imageArea, pointInRect, rectsOverlap } from "./geometry.js";
import { widgetKinds } from "../widgets/index.js";
import { COMMANDS, comboOf } from "../ui/keymap.js";

const { TITLE_H } = LAYOUT;
const isTextTarget = t => t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);

export class Interaction {
  constructor(app) {
    this.app = app;
    this.canvas = app.renderer.canvas;
    this.drag = null;         // current gesture
    this.space = false;
    this.mouse = [0, 0];      // last pointer, screen
    const c = this.canvas;
    c.addEventListener("pointerdown", e => this.down(e));
    window.addEventListener("pointermove", e => this.move(e));
    window.addEventListener("pointerup", e => this.up(e));
    c.addEventListener("dblclick", e => this.dblclick(e));
    c.addEventListener("wheel", e => this.wheel(e), { passive: false });
    c.addEventListener("contextmenu", e => this.contextmenu(e));
    window.addEventListener("keydown", e => this.keydown(e));
    window.addEventListener("keyup", e => { if (e.code === "Space") this.space = false; });
  }

  get graph() { return this.app.graph; }
  get ui() { return this.app.ui; }
  local(e) { const r = this.canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }
  world(e) { return this.app.renderer.toWorld(...this.local(e)); }
  dirty() { this.app.renderer.markDirty(); }

  // --- hit testing ------------------------------------------------------------------------------
  nodeAt(wx, wy) {
    const z = this.graph.zorder;
    for (let i = z.length - 1; i >= 0; i--) {
      const n = this.graph.nodes.get(z[i]);
      const b = nodeBounds(n);
      if (pointInRect(wx, wy, [b[0] - 8, b[1], b[2] + 16, b[3]])) return n;
    }
    return null;
  }
  socketAt(n, wx, wy) {
    const r = Math.max(10, 8 / this.app.renderer.view.scale);
    if (n.collapsed) return null;
    for (let i = 0; i < n.outputs.length; i++) { const [x, y] = outputPos(n, i); if (Math.hypot(wx - x, wy - y) < r) return { dir: "out", slot: i }; }
    for (let i = 0; i < n.inputs.length; i++) {
      const [x, y] = inputPos(n, i);
      if (Math.hypot(wx - x, wy - y) < r || (wx > x && wx < x + 60 && Math.abs(wy - y) < 8 && wx < n.pos[0] + n.size[0] / 2)) return { dir: "in", slot: i };
    }
    return null;
  }
  groupAt(wx, wy) {
    for (let i = this.graph.groups.length - 1; i >= 0; i--) {
      const g = this.graph.groups[i], [x, y, w] = g.bounding;
      if (pointInRect(wx, wy, [x, y, w, (g.font_size ?? 24) + 12])) return g;
    }
    return null;
  }

  groupCornerAt(wx, wy) {
    const r = Math.max(12, 10 / this.app.renderer.view.scale);
    return this.graph.groups.findLast(g => { const [x, y, w, h] = g.bounding; return Math.abs(wx - (x + w)) < r && Math.abs(wy - (y + h)) < r; });
  }

  // --- pointer ----------------------------------------------------------------------------------
  down(e) {
    this.app.menu.close(); this.app.search.close(); this.app.dialogs.editor?.commit();
    this.canvas.setPointerCapture?.(e.pointerId);
    const [sx, sy] = this.local(e), [wx, wy] = this.world(e);
    this.mouse = [sx, sy];
    if (e.button === 2) return;
    if (e.button === 1 || this.space) { this.drag = { kind: "pan", last: [sx, sy] }; return; }
    const n = this.nodeAt(wx, wy);
    if (n) return this.downOnNode(e, n, wx, wy, sx, sy);
    const corner = this.groupCornerAt(wx, wy);
    if (corner) { this.ui.selectedGroup = corner; this.drag = { kind: "group-resize", group: corner, start: [wx, wy], bounding: [...corner.bounding] }; return; }
    const g = this.groupAt(wx, wy);
    if (g) {
      this.ui.selection.clear(); this.ui.selectedGroup = g;
      const nodes = this.graph.nodesInGroup(g);
      this.drag = { kind: "move", nodes, groups: [g], start: [wx, wy], origin: nodes.map(x => [...x.pos]), gorigin: [[...g.bounding]], moved: false };
      this.dirty(); return;
    }
    this.ui.selectedGroup = null;
    if (e.ctrlKey || e.shiftKey || e.metaKey) { this.drag = { kind: "marquee", start: [wx, wy], add: e.shiftKey || e.ctrlKey }; return; }
    this.drag = { kind: "pan", last: [sx, sy], start: [sx, sy], moved: false };
  }

  downOnNode(e, n, wx, wy, sx, sy) {
    const app = this.app;
    this.graph.bringToFront(n);
    // Collapse dot in the title bar.
    if (wy < n.pos[1] && wx < n.pos[0] + 24) {
      app.undo.transact("collapse", () => this.graph.setFlag(n, "collapsed", n.collapsed ? undefined : true));
      return;
    }
    const sock = this.socketAt(n, wx, wy);
    if (sock) {
      if (sock.dir === "in" && n.inputs[sock.slot].link != null) {
        // Pick up an existing link by its input end and re-drop it elsewhere: one undo step.
        const l = this.graph.links.get(n.inputs[sock.slot].link);
        const o = this.graph.getNode(l.origin_id);
        app.undo.begin("relink");
        this.graph.disconnect(l.id);
        this.startLinkDrag(o, l.origin_slot, "out", true);
      } else this.startLinkDrag(n, sock.slot, sock.dir, false);
      this.drag.to = [wx, wy];
      return;
    }
    if (wy > n.pos[1] && !n.collapsed) {
      const r = widgetRects(n).find(r => pointInRect(wx, wy, [r.x, r.y, r.w, r.h]));
      if (r) { this.drag = { kind: "widget", node: n, rect: r, start: [sx, sy], wx, value: r.widget.value, moved: false }; return; }
      if ((n.rt.images?.length || n.rt.preview) && pointInRect(wx, wy, imageArea(n)) && !e.ctrlKey && !e.shiftKey) {
        this.drag = { kind: "image", node: n, start: [sx, sy] }; return;
      }
    }
    const sel = this.ui.selection;
    if (e.ctrlKey || e.shiftKey || e.metaKey) { if (sel.has(n.id) && !e.shiftKey) sel.delete(n.id); else sel.add(n.id); }
    else if (!sel.has(n.id)) { sel.clear(); sel.add(n.id); }
    this.ui.selectedGroup = null;
    // Resize handle: bottom-right corner.
    if (!n.collapsed && wx > n.pos[0] + n.size[0] - 12 && wy > n.pos[1] + n.size[1] - 12) {
      this.drag = { kind: "resize", node: n, start: [wx, wy], size: [...n.size] }; this.dirty(); return;
    }
    const nodes = [...sel].map(id => this.graph.getNode(id)).filter(Boolean);
    this.drag = { kind: "move", nodes, groups: [], start: [wx, wy], origin: nodes.map(x => [...x.pos]), gorigin: [], moved: false };
    this.app.graph.emit("selection", sel);
    this.dirty();
  }

  startLinkDrag(node, slot, dir, inTransaction) {
    const sock = dir === "out" ? node.outputs[slot] : node.inputs[slot];
    const graph = this.graph;
    this.ui.linkDrag = this.drag = {
      kind: "link", node, slot, dir, type: sock.type, inTransaction,
      from: dir === "out" ? outputPos(node, slot) : inputPos(node, slot),
      compatible: (n, i, d) => d !== dir && n !== node && (dir === "out" ? graph.canConnect(node, slot, n, i) : graph.canConnect(n, i, node, slot)),
    };
  }

  move(e) {
    const [sx, sy] = this.local(e);
    this.mouse = [sx, sy];
    const d = this.drag;
    if (!d) { if (e.target === this.canvas) this.hover(...this.world(e)); return; }
    const [wx, wy] = this.world(e);
    if (d.kind === "pan") {
      const v = this.app.renderer.view;
      v.offset = [v.offset[0] + (sx - d.last[0]) / v.scale, v.offset[1] + (sy - d.last[1]) / v.scale];
      d.last = [sx, sy];
      if (d.start && Math.hypot(sx - d.start[0], sy - d.start[1]) > 3) d.moved = true;
      this.dirty();
    } else if (d.kind === "move") {
      const dx = wx - d.start[0], dy = wy - d.start[1];
      // A click is not a move: start moving only past 3 screen pixels.
      if (!d.moved && Math.hypot(dx, dy) * this.app.renderer.view.scale < 3) return;
      d.moved = true;
      d.nodes.forEach((n, i) => { n.pos = [d.origin[i][0] + dx, d.origin[i][1] + dy]; });
      d.groups.forEach((g, i) => { g.bounding = [d.gorigin[i][0] + dx, d.gorigin[i][1] + dy, d.gorigin[i][2], d.gorigin[i][3]]; });
      this.dirty();
    } else if (d.kind === "resize") {
      d.node.size = [Math.max(80, d.size[0] + wx - d.start[0]), Math.max(30, d.size[1] + wy - d.start[1])];
      this.dirty();
    } else if (d.kind === "group-resize") {
      const b = d.bounding;
      d.group.bounding = [b[0], b[1], Math.max(100, b[2] + wx - d.start[0]), Math.max(60, b[3] + wy - d.start[1])];
      this.dirty();
    } else if (d.kind === "link") { d.to = [wx, wy]; this.dirty(); }
    else if (d.kind === "marquee") {
      this.ui.marquee = [Math.min(d.start[0], wx), Math.min(d.start[1], wy), Math.abs(wx - d.start[0]), Math.abs(wy - d.start[1])];
      this.dirty();
    } else if (d.kind === "widget") {
      const dx = sx - d.start[0];
      const kind = widgetKinds.get(d.rect.widget.type);
      if (Math.abs(dx) > 3 && kind?.drag && !d.moved) { d.moved = true; this.app.undo.begin("scrub"); }
      if (d.moved && kind?.drag) kind.drag(this.app, d.node, d.rect.widget, d.value, dx);
    }
  }

  // Cursor feedback only; no redraw.
  hover(wx, wy) {
    let cursor = this.space ? "grab" : "default";
    const n = this.nodeAt(wx, wy);
    if (n) {
      const r = !n.collapsed && widgetRects(n).find(r => pointInRect(wx, wy, [r.x, r.y, r.w, r.h]));
      cursor = this.socketAt(n, wx, wy) ? "crosshair" : r ? (r.widget.type === "number" ? "ew-resize" : "pointer")
        : wy < n.pos[1] ? "move" : (wx > n.pos[0] + n.size[0] - 12 && wy > n.pos[1] + n.size[1] - 12) ? "nwse-resize" : "default";
    } else if (this.groupCornerAt(wx, wy)) cursor = "nwse-resize";
    else if (this.groupAt(wx, wy)) cursor = "move";
    if (this.canvas.style.cursor !== cursor) this.canvas.style.cursor = cursor;
  }

  up(e) {
    const d = this.drag;
    this.drag = null;
    if (!d) return;
    const [wx, wy] = this.world(e);
    const app = this.app, graph = this.graph;
    if (d.kind === "pan" && d.start && !d.moved) { this.ui.selection.clear(); this.ui.selectedGroup = null; graph.emit("selection", this.ui.selection); }
    else if (d.kind === "move" && d.moved) {
      // Put nodes back, then record the whole move as one command (snapped if asked).
      let dx = wx - d.start[0], dy = wy - d.start[1];
      if (app.settings.get("snapToGrid") && d.nodes.length) {
        const g = app.settings.get("gridSize") || 20, p = d.origin[0];
        dx = Math.round((p[0] + dx) / g) * g - p[0]; dy = Math.round((p[1] + dy) / g) * g - p[1];
      }
      d.nodes.forEach((n, i) => { n.pos = [...d.origin[i]]; });
      d.groups.forEach((g, i) => { g.bounding = [...d.gorigin[i]]; });
      app.undo.transact("move", () => graph.moveNodes(d.nodes, dx, dy, d.groups));
    } else if (d.kind === "resize") {
      const size = [...d.node.size]; d.node.size = d.size;
      app.undo.transact("resize", () => graph.setProp(d.node, "size", size));
    } else if (d.kind === "group-resize") {
      const b = [...d.group.bounding]; d.group.bounding = d.bounding;
      if (b.some((v, i) => v !== d.bounding[i])) app.undo.transact("resize group", () => graph.setGroupProp(d.group, "bounding", b));
    } else if (d.kind === "marquee") {
      const m = this.ui.marquee; this.ui.marquee = null;
      if (!d.add) this.ui.selection.clear();
      if (m) for (const n of graph.nodes.values()) if (rectsOverlap(nodeBounds(n), m)) this.ui.selection.add(n.id);
      graph.emit("selection", this.ui.selection);
    } else if (d.kind === "widget") {
      const kind = widgetKinds.get(d.rect.widget.type);
      if (d.moved) app.undo.end();
      else kind?.click?.(app, d.node, d.rect.widget, d.rect, d.wx, e);
    } else if (d.kind === "image") {
      app.showGallery(d.node);
    } else if (d.kind === "link") {
      this.ui.linkDrag = null;
      this.dropLink(d, wx, wy, e);
      if (d.inTransaction) app.undo.end();
    }
    this.dirty();
  }

  dropLink(d, wx, wy, e) {
    const app = this.app, graph = this.graph;
    const n = this.nodeAt(wx, wy);
    const connect = (target, slot) => d.dir === "out"
      ? graph.connect(d.node.id, d.slot, target.id, slot) : graph.connect(target.id, slot, d.node.id, d.slot);
    if (n && n !== d.node) {
      const sock = this.socketAt(n, wx, wy);
      let slot = sock && sock.dir !== d.dir ? sock.slot : -1;
      if (slot >= 0 && !d.compatible(n, slot, sock.dir)) { app.toast(`Cannot connect ${d.type} to that socket`); return; }
      if (slot < 0) {   // dropped on a node body: first compatible free socket, else first compatible
        const list = d.dir === "out" ? n.inputs : n.outputs;
        const ok = list.map((_, i) => i).filter(i => d.compatible(n, i, d.dir === "out" ? "in" : "out"));
        slot = ok.find(i => d.dir !== "out" || n.inputs[i].link == null) ?? ok[0] ?? -1;
      }
      if (slot < 0) { app.toast(`${n.title} has no socket for ${d.type}`); return; }
      app.undo.transact("link", () => app.wirePrimitive(connect(n, slot)));
      return;
    }
    if (n) return;
    const [sx, sy] = this.local(e);
    const action = app.settings.get("linkRelease");
    const place = type => {
      app.undo.transact("add linked node", () => {
        const node = app.addNode(type, [wx, wy]);
        if (!node) return;
        const list = d.dir === "out" ? node.inputs : node.outputs;
        const slot = list.findIndex((_, i) => d.compatible(node, i, d.dir === "out" ? "in" : "out"));
        if (slot >= 0) app.wirePrimitive(connect(node, slot));
      });
    };
    const filter = d.dir === "out" ? { inputType: d.type } : { outputType: d.type };
    const r = this.canvas.getBoundingClientRect();
    if (action === "search") app.search.open(sx + r.left, sy + r.top, place, filter);
    else if (action === "context menu") app.canvasMenu(sx + r.left, sy + r.top, [wx, wy], place, filter);
  }

  dblclick(e) {
    const [wx, wy] = this.world(e);
    const n = this.nodeAt(wx, wy);
    if (n && wy < n.pos[1]) { this.app.renameNode(n); return; }
    if (n && n.kind === "subgraph") { this.app.subgraphs.enter(n); return; }   // double-click the body: open it
    if (n) return;
    const g = this.groupAt(wx, wy);
    if (g) { this.app.renameGroup(g); return; }
    this.app.search.open(e.clientX, e.clientY, type => this.app.undo.transact("add node", () => this.app.addNode(type, [wx, wy])));
  }

  wheel(e) {
    e.preventDefault();
    const [sx, sy] = this.local(e);
    this.app.renderer.zoomAt(Math.exp(-e.deltaY * 0.0015), sx, sy);
  }

  contextmenu(e) {
    e.preventDefault();
    const [wx, wy] = this.world(e);
    const n = this.nodeAt(wx, wy);
    if (n) {
      if (!this.ui.selection.has(n.id)) { this.ui.selection.clear(); this.ui.selection.add(n.id); }
      this.app.nodeMenu(n, e.clientX, e.clientY);
    } else {
      const g = this.groupAt(wx, wy);
      if (g) this.app.groupMenu(g, e.clientX, e.clientY);
      else this.app.canvasMenu(e.clientX, e.clientY, [wx, wy]);
    }
    this.dirty();
  }

  // --- keyboard ---------------------------------------------------------------------------------
  keydown(e) {
    if (isTextTarget(e.target)) return;      // text fields keep their own undo and keys
    if (e.target.closest?.(".lf-modal-back")) return;   // modal dialogs handle their own keys
    const app = this.app;
    const handled = () => { e.preventDefault(); this.dirty(); };
    if (e.code === "Space" && !e.ctrlKey && !e.altKey) { this.space = true; return handled(); }
    if (e.key === "Escape") { app.closeTopmost(); this.ui.selection.clear(); return handled(); }
    const combo = comboOf(e);
    const id = combo && app.keymap.commandFor(combo);
    if (!id) return;
    COMMANDS[id].run(app, app.renderer.toWorld(...this.mouse));
    return handled();
  }
}

export { TITLE_H };
