// UI workflow format 0.4 (docs/comfy-api.md §3.2): load into the model and save back. Unknown keys, unknown
// node types and their values pass through untouched, so a workflow saves back as it came.
import { Node, MODE } from "./model.js";
import { createNode, adoptPrimitiveWidget, VIRTUAL_TYPES } from "./catalogue.js";

const NODE_KEYS = new Set(["id", "type", "pos", "size", "flags", "order", "mode", "inputs", "outputs",
  "properties", "widgets_values", "title", "color", "bgcolor"]);

function xy(p, fallback) {
  if (Array.isArray(p)) return [Number(p[0]), Number(p[1])];
  if (p && typeof p === "object") return [Number(p[0] ?? p["0"]), Number(p[1] ?? p["1"])];
  return fallback;
}

// v1 files keep links as objects and ids under `state`; normalise to 0.4 shapes.
function normalise(data) {
  if (data.version === 1 || (data.links?.length && !Array.isArray(data.links[0]))) {
    data = { ...data };
    data.links = (data.links ?? []).map(l => Array.isArray(l) ? l : [l.id, l.origin_id, l.origin_slot, l.target_id, l.target_slot, l.type]);
    data.last_node_id ??= data.state?.lastNodeId; data.last_link_id ??= data.state?.lastLinkId;
  }
  return data;
}

export function loadWorkflow(graph, data, catalogue) {
  const fromV1 = data.version === 1;
  data = normalise(data);
  graph.clear();
  const missing = new Set();
  graph.passthrough = Object.fromEntries(Object.entries(data).filter(([k]) =>
    !["nodes", "links", "groups", "last_node_id", "last_link_id", "extra"].includes(k)));
  if (fromV1) {   // saved back as 0.4: links are arrays now, ids live in last_*_id
    graph.passthrough.version = 0.4;
    delete graph.passthrough.state;
  }
  graph.extra = structuredClone(data.extra ?? {});
  const rec = graph.recorder; graph.recorder = null;   // loading is not an undoable edit
  try {
    for (const raw of data.nodes ?? []) {
      const node = nodeFromJSON(raw, catalogue);
      if (node.kind === "missing") missing.add(raw.type);
      graph.nodes.set(node.id, node);
      graph.zorder.push(node.id);
    }
    for (const l of data.links ?? []) {
      if (!l) continue;
      const [id, oid, oslot, tid, tslot, type] = l;
      graph.links.set(id, { id, origin_id: oid, origin_slot: oslot, target_id: tid, target_slot: tslot, type, raw: l.length > 6 ? l : null });
    }
    for (const node of graph.nodes.values()) if (node.type === "PrimitiveNode") bindPrimitive(graph, node);
    graph.groups = (data.groups ?? []).map(g => ({ ...structuredClone(g), bounding: [...g.bounding] }));
    const ids = [...graph.nodes.keys()].filter(k => typeof k === "number");
    graph.lastNodeId = Math.max(Number(data.last_node_id ?? 0), ...ids, 0);
    graph.lastLinkId = Math.max(Number(data.last_link_id ?? 0), ...graph.links.keys(), 0);
  } finally { graph.recorder = rec; }
  graph.emit("change", { kind: "load" });
  return { missing: [...missing] };
}

export function nodeFromJSON(raw, catalogue) {
  const known = catalogue.has(raw.type);
  const pos = xy(raw.pos, [0, 0]);
  let node;
  if (known) {
    // the stored values pick the options of dynamic combos, which decide the widget layout
    node = createNode(catalogue, raw.type, { id: raw.id, pos, stored: Array.isArray(raw.widgets_values) ? raw.widgets_values : null });
    const sockets = node.inputs;
    // The file's inputs are authoritative (they carry link ids and converted widgets); sockets the
    // file lacks (an optional input added later) are appended so their indices stay stable.
    node.inputs = (raw.inputs ?? []).map(i => ({ ...structuredClone(i) }));
    for (const s of sockets) if (!node.inputs.some(i => i.name === s.name)) node.inputs.push(s);
    for (const inp of node.inputs) if (inp.widget?.name) { const w = node.widget(inp.widget.name); if (w) w.converted = true; }
    const outs = node.outputs;
    node.outputs = (raw.outputs ?? []).map(o => ({ ...structuredClone(o), links: o.links ? [...o.links] : [] }));
    for (let i = node.outputs.length; i < outs.length; i++) node.outputs.push(outs[i]);
    const wv = raw.widgets_values;
    if (Array.isArray(wv) && node.type !== "PrimitiveNode") {
      node.widgets.forEach((w, i) => { if (i < wv.length) w.value = wv[i]; });
      node.extraValues = wv.slice(node.widgets.length);   // kept, saved back
    } else if (wv !== undefined && !Array.isArray(wv)) node.rawValues = wv;
    // Old files without widgets_values mean "defaults"; saved back the same way while untouched.
    if (wv === undefined) node.defaultValues = node.widgets.map(w => w.value);
  } else {
    node = new Node({ id: raw.id, type: raw.type, pos, kind: "missing",
      inputs: (raw.inputs ?? []).map(i => structuredClone(i)),
      outputs: (raw.outputs ?? []).map(o => ({ ...structuredClone(o), links: o.links ? [...o.links] : [] })) });
    node.rawValues = structuredClone(raw.widgets_values);
  }
  node.raw = raw;
  node.size = xy(raw.size, node.size);
  node.flags = structuredClone(raw.flags ?? {});
  node.mode = raw.mode ?? MODE.ALWAYS;
  node.order = raw.order ?? 0;
  node.properties = structuredClone(raw.properties ?? {});
  if (raw.title != null) { node.title = raw.title; node.hasCustomTitle = true; }
  else if (!known) node.title = raw.type;
  if (raw.color) node.color = raw.color;
  if (raw.bgcolor) node.bgcolor = raw.bgcolor;
  return node;
}

function bindPrimitive(graph, prim) {
  const wv = Array.isArray(prim.raw?.widgets_values) ? prim.raw.widgets_values : [];
  for (const lid of prim.outputs[0]?.links ?? []) {
    const l = graph.links.get(lid);
    const target = l && graph.getNode(l.target_id);
    const wname = target?.inputs[l.target_slot]?.widget?.name;
    const tw = wname && target.widget(wname);
    if (tw) { const keep = prim.outputs[0].name; adoptPrimitiveWidget(prim, tw, wv); prim.outputs[0].name = keep; return; }
  }
  prim.widgets = wv.map((v, i) => ({ name: i ? `value${i}` : "value", type: typeof v === "number" ? "number" : "text",
    value: v, options: {}, serialize: i === 0 }));
}

export function widgetsValues(node) {
  if (node.kind === "missing" || node.rawValues !== undefined) return structuredClone(node.rawValues);
  if (node.defaultValues && node.widgets.every((w, i) => w.value === node.defaultValues[i])) return undefined;
  return [...node.widgets.map(w => w.value), ...(node.extraValues ?? [])];
}

export function nodeToJSON(node) {
  const out = {};
  const raw = node.raw ?? {};
  for (const [k, v] of Object.entries(raw)) if (!NODE_KEYS.has(k)) out[k] = structuredClone(v);
  const base = {
    id: node.id, type: node.type, pos: [...node.pos], size: [...node.size], flags: structuredClone(node.flags),
    order: node.order, mode: node.mode,
    inputs: node.inputs.map(i => structuredClone(i)),
    outputs: node.outputs.map((o, i) => ({ ...structuredClone(o),
      links: !o.links?.length && raw.outputs?.[i]?.links === null ? null : [...(o.links ?? [])] })),
    properties: structuredClone(node.properties),
  };
  const wv = widgetsValues(node);
  if (wv !== undefined) base.widgets_values = wv;
  if (node.hasCustomTitle) base.title = node.title;
  if (node.color) base.color = node.color;
  if (node.bgcolor) base.bgcolor = node.bgcolor;
  // Preserve the original key order where the file had these keys.
  const ordered = {};
  for (const k of Object.keys(raw)) if (k in base) ordered[k] = base[k]; else if (k in out) ordered[k] = out[k];
  for (const [k, v] of Object.entries(base)) if (!(k in ordered)) ordered[k] = v;
  for (const [k, v] of Object.entries(out)) if (!(k in ordered)) ordered[k] = v;
  if (node.inputs.length === 0 && raw.inputs === undefined) delete ordered.inputs;
  if (node.outputs.length === 0 && raw.outputs === undefined) delete ordered.outputs;
  return ordered;
}

export function saveWorkflow(graph, view = null) {
  const extra = structuredClone(graph.extra ?? {});
  if (view) extra.ds = { scale: view.scale, offset: [view.offset[0], view.offset[1]] };
  const nodes = [...graph.nodes.values()];
  assignOrder(graph, nodes);
  return {
    ...structuredClone(graph.passthrough),
    last_node_id: graph.lastNodeId,
    last_link_id: graph.lastLinkId,
    nodes: nodes.map(nodeToJSON),
    links: [...graph.links.values()].map(l => l.raw ? [l.id, l.origin_id, l.origin_slot, l.target_id, l.target_slot, l.type, ...l.raw.slice(6)]
      : [l.id, l.origin_id, l.origin_slot, l.target_id, l.target_slot, l.type]),
    groups: structuredClone(graph.groups),
    config: graph.passthrough.config ?? {},
    extra,
    version: graph.passthrough.version ?? 0.4,
  };
}

// Execution order (topological) written to node.order, as the reference frontend does; nodes that
// were loaded keep the order they had unless the graph was edited since.
function assignOrder(graph, nodes) {
  // Kahn's algorithm with ties broken by id, so the result does not depend on z-order.
  const indeg = new Map(nodes.map(n => [n.id, 0]));
  for (const l of graph.links.values()) if (indeg.has(l.target_id)) indeg.set(l.target_id, indeg.get(l.target_id) + 1);
  const ready = nodes.filter(n => indeg.get(n.id) === 0).map(n => n.id);
  const order = new Map();
  const byId = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  while (ready.length) {
    ready.sort(byId);
    const id = ready.shift();
    order.set(id, order.size);
    for (const out of graph.getNode(id).outputs) for (const lid of out.links ?? []) {
      const l = graph.links.get(lid); if (!l || !indeg.has(l.target_id)) continue;
      indeg.set(l.target_id, indeg.get(l.target_id) - 1);
      if (indeg.get(l.target_id) === 0) ready.push(l.target_id);
    }
  }
  for (const n of nodes) if (!n.raw && order.has(n.id)) n.order = order.get(n.id);
}

export function isVirtual(node) { return node.type in VIRTUAL_TYPES; }
