// Graph model and event bus. Every edit goes through a small set of primitive operations; each
// records its own inverse with the undo manager, so undo is built from commands, never snapshots.

export class Bus {
  constructor() { this._handlers = new Map(); }
  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(fn);
    return () => this._handlers.get(event).delete(fn);
  }
  emit(event, data) {
    const hs = this._handlers.get(event);
    if (hs) for (const fn of [...hs]) {
      try { fn(data); } catch (e) { console.error(`handler for "${event}" failed`, e); }
    }
  }
}

export const MODE = { ALWAYS: 0, ON_EVENT: 1, NEVER: 2, ON_TRIGGER: 3, BYPASS: 4 };

// Node geometry shared by the renderer, hit-testing and sizing.
export const LAYOUT = { TITLE_H: 30, SLOT_H: 20, WIDGET_H: 24, MULTILINE_H: 70, PAD: 6, COLLAPSED_W: 140 };

export class Node {
  constructor(fields) {
    this.id = fields.id;
    this.type = fields.type;
    this.title = fields.title ?? fields.type;
    this.pos = fields.pos ?? [0, 0];
    this.size = fields.size ?? [200, 80];
    this.flags = fields.flags ?? {};
    this.mode = fields.mode ?? MODE.ALWAYS;
    this.order = fields.order ?? 0;
    this.inputs = fields.inputs ?? [];      // {name, type, link, widget?: {name}}
    this.outputs = fields.outputs ?? [];    // {name, type, links: [ids]}
    this.widgets = fields.widgets ?? [];    // {name, type, value, options, serialize}
    this.properties = fields.properties ?? {};
    this.color = fields.color; this.bgcolor = fields.bgcolor;
    this.def = fields.def ?? null;          // catalogue entry (object_info) or null
    this.kind = fields.kind ?? "normal";    // normal | virtual | missing
    this.raw = fields.raw ?? null;          // original JSON, for passthrough of unknown keys
    this.hasCustomTitle = fields.hasCustomTitle ?? false;
    // Run-time state: never part of undo or of saved files.
    this.rt = { images: null, preview: null, progress: null, running: false, errors: null };
  }
  widget(name) { return this.widgets.find(w => w.name === name); }
  inputIndex(name) { return this.inputs.findIndex(i => i.name === name); }
  get collapsed() { return !!this.flags.collapsed; }
}

export class Graph extends Bus {
  constructor() {
    super();
    this.nodes = new Map();
    this.zorder = [];            // node ids, back to front
    this.links = new Map();
    this.groups = [];
    this.lastNodeId = 0;
    this.lastLinkId = 0;
    this.extra = {};
    this.passthrough = {};       // unknown top-level keys of a loaded workflow
    this.recorder = null;        // set by UndoManager: fn(doFn, undoFn)
  }

  // --- recording -------------------------------------------------------------------------------
  _do(doFn, undoFn, what) {
    doFn();
    if (this.recorder) this.recorder(doFn, undoFn, what);
    this.emit("change", what);
  }

  getNode(id) { return this.nodes.get(Number(id)) ?? this.nodes.get(id); }

  // --- nodes -----------------------------------------------------------------------------------
  addNode(node) {
    const prevLast = this.lastNodeId;
    if (node.id == null || this.getNode(node.id)) node.id = ++this.lastNodeId;
    else if (typeof node.id === "number") this.lastNodeId = Math.max(this.lastNodeId, node.id);
    const nextLast = this.lastNodeId;
    // Undo hands the id back, so undo/redo leaves last_node_id exactly as it was.
    const add = () => { this.nodes.set(node.id, node); this.zorder.push(node.id); this.lastNodeId = nextLast; };
    const remove = () => { this.nodes.delete(node.id); this.zorder = this.zorder.filter(i => i !== node.id); this.lastNodeId = prevLast; };
    this._do(add, remove, { kind: "node-add", node });
    return node;
  }

  removeNode(id) {
    const node = this.getNode(id);
    if (!node) return;
    for (const inp of node.inputs) if (inp.link != null) this.disconnect(inp.link);
    for (const out of node.outputs) for (const l of [...(out.links ?? [])]) this.disconnect(l);
    const z = this.zorder.indexOf(node.id);
    const remove = () => { this.nodes.delete(node.id); this.zorder = this.zorder.filter(i => i !== node.id); };
    const add = () => { this.nodes.set(node.id, node); this.zorder.splice(z, 0, node.id); };
    this._do(remove, add, { kind: "node-remove", node });
  }

  bringToFront(node) {  // view state, not an edit
    this.zorder = this.zorder.filter(i => i !== node.id);
    this.zorder.push(node.id);
  }

  setProp(node, key, value) {
    const old = structuredClone(node[key]);
    const v = structuredClone(value);
    this._do(() => { node[key] = structuredClone(v); }, () => { node[key] = structuredClone(old); },
      { kind: "prop", node, key });
  }

  setFlag(node, flag, value) {
    const old = node.flags[flag];
    const set = v => () => { if (v === undefined) delete node.flags[flag]; else node.flags[flag] = v; };
    this._do(set(value), set(old), { kind: "prop", node, key: "flags" });
  }

  setWidget(node, name, value) {
    const w = node.widget(name);
    if (!w || w.value === value) return;
    const old = w.value;
    if (w.childrenFor) {   // a dynamic combo: the chosen option's widgets follow it
      const before = node.widgets;
      const prefix = `${name}.`;
      const i = before.indexOf(w);
      const after = [...before.slice(0, i + 1), ...w.childrenFor(value),
        ...before.slice(i + 1).filter(x => !x.name.startsWith(prefix))];
      this._do(() => { w.value = value; node.widgets = after; }, () => { w.value = old; node.widgets = before; },
        { kind: "widget", node, name });
      return;
    }
    this._do(() => { w.value = value; }, () => { w.value = old; }, { kind: "widget", node, name });
  }

  moveNodes(nodes, dx, dy, groups = []) {
    if (!dx && !dy) return;
    // Undo restores the exact old positions (subtracting the delta again leaves float residue).
    const before = nodes.map(n => [...n.pos]), gBefore = groups.map(g => [...g.bounding]);
    const after = before.map(p => [p[0] + dx, p[1] + dy]), gAfter = gBefore.map(b => [b[0] + dx, b[1] + dy, b[2], b[3]]);
    const put = (ps, gs) => () => { nodes.forEach((n, i) => { n.pos = [...ps[i]]; }); groups.forEach((g, i) => { g.bounding = [...gs[i]]; }); };
    this._do(put(after, gAfter), put(before, gBefore), { kind: "move" });
  }

  // Turn a widget into an input socket (toInput) or back; the widget keeps its widgets_values slot.
  convertWidget(node, name, toInput) {
    const w = node.widget(name);
    if (!w) return;
    const idx = node.inputIndex(name);
    if (toInput && idx >= 0) return;
    if (!toInput) {
      if (idx < 0) return;
      if (node.inputs[idx].link != null) this.disconnect(node.inputs[idx].link);
    }
    const slot = { name, type: w.inputType ?? String(w.type).toUpperCase(), link: null, widget: { name } };
    const at = toInput ? node.inputs.length : idx;
    const add = () => { node.inputs.splice(at, 0, slot); w.converted = true; this._fixTargetSlots(node); };
    const rem = () => { node.inputs.splice(at, 1); w.converted = false; this._fixTargetSlots(node); };
    if (toInput) this._do(add, rem, { kind: "convert", node });
    else { const s = node.inputs[idx]; const add2 = () => { node.inputs.splice(at, 0, s); w.converted = true; this._fixTargetSlots(node); }; this._do(rem, add2, { kind: "convert", node }); }
  }

  _fixTargetSlots(node) {  // keep link target_slot equal to the input's index after a splice
    node.inputs.forEach((inp, i) => { if (inp.link != null) { const l = this.links.get(inp.link); if (l) l.target_slot = i; } });
  }

  // --- links -----------------------------------------------------------------------------------
  static typesMatch(outType, inType) {
    if (outType === "*" || inType === "*" || outType == null || inType == null) return true;
    const a = String(outType).split(","), b = String(inType).split(",");
    return a.some(t => b.includes(t));
  }

  canConnect(origin, oslot, target, tslot) {
    if (!origin || !target || origin === target) return false;
    const out = origin.outputs[oslot], inp = target.inputs[tslot];
    if (!out || !inp) return false;
    // A Reroute carries the type of what flows through it: its output the upstream type (else what it
    // feeds), its input what it feeds (its current input link is the one being replaced).
    const outType = origin.type === "Reroute" ? this.rerouteType(origin) : out.type;
    const inType = target.type === "Reroute" ? this.rerouteType(target, { up: false }) : inp.type;
    return Graph.typesMatch(outType, inType);
  }

  // The concrete type a Reroute passes on ("*" while nothing typed is wired to it), through chains.
  rerouteType(node, { up = true, down = true } = {}, seen = new Set()) {
    if (seen.has(node.id)) return "*";
    seen.add(node.id);
    const concrete = t => t && t !== "*";
    if (up) {
      const l = this.links.get(node.inputs[0]?.link);
      const o = l && this.getNode(l.origin_id);
      const t = o && (o.type === "Reroute" ? this.rerouteType(o, { down: false }, seen) : o.outputs[l.origin_slot]?.type);
      if (concrete(t)) return t;
    }
    if (down) {
      for (const id of node.outputs[0]?.links ?? []) {
        const d = this.links.get(id), t = d && this.getNode(d.target_id);
        if (!t) continue;
        const ty = t.type === "Reroute" ? this.rerouteType(t, { up: false }, seen) : t.inputs[d.target_slot]?.type;
        if (concrete(ty)) return ty;
      }
    }
    return "*";
  }

  connect(originId, oslot, targetId, tslot, linkId = null) {
    const origin = this.getNode(originId), target = this.getNode(targetId);
    if (!this.canConnect(origin, oslot, target, tslot)) return null;
    const inp = target.inputs[tslot];
    if (inp.link != null) this.disconnect(inp.link);
    const prevLast = this.lastLinkId;
    const id = linkId ?? ++this.lastLinkId;
    this.lastLinkId = Math.max(this.lastLinkId, id);
    const nextLast = this.lastLinkId;
    const outType = origin.type === "Reroute" ? this.rerouteType(origin) : origin.outputs[oslot].type;
    const type = outType === "*" ? inp.type : outType;
    const link = { id, origin_id: origin.id, origin_slot: oslot, target_id: target.id, target_slot: tslot, type };
    const add = () => {
      this.links.set(id, link);
      const out = origin.outputs[link.origin_slot];
      out.links = [...(out.links ?? []), id];
      target.inputs[link.target_slot].link = id;
      this.lastLinkId = nextLast;
    };
    const rem = () => { this._unlink(link); this.lastLinkId = prevLast; };
    this._do(add, rem, { kind: "link", link });
    return link;
  }

  _unlink(link) {
    this.links.delete(link.id);
    const o = this.getNode(link.origin_id), t = this.getNode(link.target_id);
    const out = o?.outputs[link.origin_slot];
    if (out?.links) out.links = out.links.filter(x => x !== link.id);
    const inp = t?.inputs[link.target_slot];
    if (inp && inp.link === link.id) inp.link = null;
  }

  disconnect(linkId) {
    const link = this.links.get(linkId);
    if (!link) return;
    const o = this.getNode(link.origin_id);
    const pos = o?.outputs[link.origin_slot]?.links?.indexOf(linkId) ?? -1;
    const rem = () => this._unlink(link);
    const add = () => {
      this.links.set(link.id, link);
      const out = this.getNode(link.origin_id)?.outputs[link.origin_slot];
      if (out) { out.links = [...(out.links ?? [])]; out.links.splice(pos < 0 ? out.links.length : pos, 0, link.id); }
      const inp = this.getNode(link.target_id)?.inputs[link.target_slot];
      if (inp) inp.link = link.id;
    };
    this._do(rem, add, { kind: "unlink", link });
  }

  // --- groups ----------------------------------------------------------------------------------
  addGroup(group) {
    this._do(() => this.groups.push(group), () => { this.groups = this.groups.filter(g => g !== group); },
      { kind: "group" });
    return group;
  }
  removeGroup(group) {
    const i = this.groups.indexOf(group);
    if (i < 0) return;
    this._do(() => this.groups.splice(i, 1), () => this.groups.splice(i, 0, group), { kind: "group" });
  }
  setGroupProp(group, key, value) {
    const old = structuredClone(group[key]), v = structuredClone(value);
    this._do(() => { group[key] = structuredClone(v); }, () => { group[key] = structuredClone(old); }, { kind: "group" });
  }
  nodesInGroup(group) {
    const [gx, gy, gw, gh] = group.bounding;
    return [...this.nodes.values()].filter(n => n.pos[0] >= gx && n.pos[1] >= gy &&
      n.pos[0] + n.size[0] <= gx + gw && n.pos[1] + n.size[1] <= gy + gh);
  }

  // Remove everything without recording (loading a file starts a new history).
  clear() {
    this.nodes.clear(); this.zorder = []; this.links.clear(); this.groups = [];
    this.lastNodeId = 0; this.lastLinkId = 0; this.extra = {}; this.passthrough = {};
    this.emit("change", { kind: "clear" });
  }
}
