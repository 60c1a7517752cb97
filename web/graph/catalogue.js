// The node catalogue (from /object_info) and construction of nodes from it: which inputs are
// widgets and which are sockets, in the order docs/comfy-api.md §3.4 fixes for widgets_values.
import { Node, LAYOUT } from "./model.js";

// Input types drawn as a widget (core/workflow/widgets.py holds the same set; a test compares them).
export const WIDGET_TYPES = new Set(["INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"]);
export const SEED_CONTROLS = ["fixed", "increment", "decrement", "randomize"];
const LEGACY_SEED_NAMES = new Set(["seed", "noise_seed"]);

// Widget kinds registered by extensions: type name -> { create(name, spec) -> widget fields }.
export const customWidgetTypes = new Map();

// UI-only node types that never reach the server (docs/comfy-api.md §3.4 step 1).
export const VIRTUAL_TYPES = {
  Note: { display_name: "Note", category: "utils", color: "#432", bgcolor: "#653" },
  MarkdownNote: { display_name: "Markdown Note", category: "utils", color: "#432", bgcolor: "#653" },
  PrimitiveNode: { display_name: "Primitive", category: "utils" },
  Reroute: { display_name: "Reroute", category: "utils" },
};

export class Catalogue {
  constructor(info = {}) { this.set(info); }
  set(info) {
    this.defs = info;
    this.names = Object.keys(info).sort();
  }
  get(type) { return this.defs[type] ?? null; }
  has(type) { return type in this.defs || type in VIRTUAL_TYPES; }
  displayName(type) { return this.defs[type]?.display_name || VIRTUAL_TYPES[type]?.display_name || type; }
  category(type) { return this.defs[type]?.category ?? VIRTUAL_TYPES[type]?.category ?? "sd"; }
  all() { return [...this.names, ...Object.keys(VIRTUAL_TYPES)]; }
}

// Ordered [name, spec, group] entries of a node's inputs (required, then optional).
export function inputEntries(def) {
  const out = [];
  for (const group of ["required", "optional"]) {
    const specs = def.input?.[group] ?? {};
    const order = def.input_order?.[group] ?? Object.keys(specs);
    for (const name of order) if (specs[name]) out.push([name, specs[name], group]);
  }
  return out;
}

// V3 dynamic combo: a combo whose chosen option brings its own widgets, named "combo.child".
const DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3";

// Is this input drawn as a widget? Sockets: non-widget types and forceInput/defaultInput.
export function isWidgetInput(spec) {
  const [type, opts = {}] = spec;
  if (opts.forceInput || opts.defaultInput) return false;
  if (type === DYNAMIC_COMBO) return true;
  if (Array.isArray(type)) return true;
  return WIDGET_TYPES.has(type) || customWidgetTypes.has(type);
}

export function socketType(spec) {
  const t = spec[0];
  return Array.isArray(t) ? "COMBO" : t;
}

// Build the widget list (with the UI-only control and upload slots) for one input. A dynamic combo
// takes its choice from `stored` (a node's widgets_values) at slot `at` and adds that option's widgets.
export function makeWidgets(name, spec, stored = null, at = 0) {
  const [type, opts = {}] = spec;
  const ws = [];
  if (type === DYNAMIC_COMBO) {
    const choices = (opts.options ?? []).filter(o => o && typeof o === "object");
    const values = choices.map(o => o.key);
    const value = Array.isArray(stored) && at < stored.length ? stored[at] : (opts.default ?? values[0] ?? "");
    const combo = { name, type: "combo", value, options: { ...opts, values }, serialize: true, inputType: "COMBO", dynamic: true };
    const children = (key, from = null, start = 0) => {
      const out = [];
      const chosen = choices.find(o => o.key === key);
      for (const section of ["required", "optional"])
        for (const [child, childSpec] of Object.entries(chosen?.inputs?.[section] ?? {}))
          if (isWidgetInput(childSpec)) out.push(...makeWidgets(`${name}.${child}`, childSpec, from, start + out.length));
      return out;
    };
    // Graph.setWidget rebuilds the widgets after the combo from this when the choice changes
    // (not enumerable: widgets are structured-cloned in places, functions are not).
    Object.defineProperty(combo, "childrenFor", { value: key => children(key), enumerable: false });
    ws.push(combo, ...children(value, stored, at + 1));
    return ws;
  }
  if (customWidgetTypes.has(type)) {
    ws.push({ name, type, value: opts.default ?? null, options: opts, serialize: true, inputType: type,
      ...customWidgetTypes.get(type).create?.(name, spec) });
  } else if (Array.isArray(type) || type === "COMBO") {
    const values = Array.isArray(type) ? type : (opts.options ?? []);
    ws.push({ name, type: "combo", value: opts.default ?? values[0] ?? "", options: { ...opts, values }, serialize: true, inputType: "COMBO" });
    if (opts.image_upload) ws.push({ name: "upload", type: "upload", value: "image", options: {}, serialize: false, forWidget: name });
  } else if (type === "INT" || type === "FLOAT") {
    const step = opts.step ?? (type === "INT" ? 1 : 0.01);
    ws.push({ name, type: "number", value: opts.default ?? opts.min ?? 0,
      options: { min: opts.min ?? -Infinity, max: opts.max ?? Infinity, step, round: opts.round, int: type === "INT" },
      serialize: true, inputType: type });
  } else if (type === "STRING") {
    ws.push({ name, type: opts.multiline ? "multiline" : "text", value: opts.default ?? "", options: opts,
      serialize: true, inputType: "STRING" });
  } else if (type === "BOOLEAN") {
    ws.push({ name, type: "toggle", value: opts.default ?? false, options: opts, serialize: true, inputType: "BOOLEAN" });
  }
  // docs/comfy-api.md §3.4: a control_after_generate slot follows the widget that asks for one; old
  // frontends gave one to any INT named seed/noise_seed (core/workflow/widgets.py, same rule).
  const control = opts.control_after_generate ?? (type === "INT" && LEGACY_SEED_NAMES.has(name));
  if (control && ws.length) {
    ws.splice(1, 0, { name: "control_after_generate", type: "control", value: "randomize",
      options: { values: SEED_CONTROLS }, serialize: false, forWidget: name });
  }
  return ws;
}

// A fresh node of a catalogue type (or a virtual UI type).
export function createNode(catalogue, type, { id = null, pos = [0, 0], stored = null } = {}) {
  const v = VIRTUAL_TYPES[type];
  if (v) return createVirtual(type, { id, pos });
  const def = catalogue.get(type);
  if (!def) return null;
  const inputs = [], widgets = [];
  for (const [name, spec] of inputEntries(def)) {
    if (isWidgetInput(spec)) widgets.push(...makeWidgets(name, spec, stored, widgets.length));
    else inputs.push({ name, type: socketType(spec), link: null, ...(spec[1]?.optional ? {} : {}) });
  }
  const outputs = (def.output ?? []).map((t, i) => ({
    name: def.output_name?.[i] ?? (Array.isArray(t) ? "COMBO" : t), type: Array.isArray(t) ? "COMBO" : t, links: [],
  }));
  const node = new Node({ id, type, title: def.display_name || type, pos: [...pos], inputs, outputs, widgets, def,
    properties: { "Node name for S&R": type } });
  node.size = computeSize(node);
  return node;
}

export function createVirtual(type, { id = null, pos = [0, 0] } = {}) {
  const v = VIRTUAL_TYPES[type];
  const node = new Node({ id, type, title: v.display_name, pos: [...pos], kind: "virtual", color: v.color, bgcolor: v.bgcolor });
  if (type === "Note" || type === "MarkdownNote") {
    node.widgets = [{ name: "text", type: "multiline", value: "", options: {}, serialize: false }];
    node.size = [400, 160];
  } else if (type === "Reroute") {
    node.inputs = [{ name: "", type: "*", link: null }];
    node.outputs = [{ name: "", type: "*", links: [] }];
    node.size = [75, 26];
  } else if (type === "PrimitiveNode") {
    node.outputs = [{ name: "connect to widget input", type: "*", links: [] }];
    node.size = [210, 60];
  }
  return node;
}

// Give a PrimitiveNode the widget of the input it drives (value kept when types agree).
export function adoptPrimitiveWidget(prim, targetWidget, values = null) {
  const w = { ...structuredClone(targetWidget), converted: false, name: "value", serialize: true };
  const ws = [w];
  if (targetWidget.type === "number" && targetWidget.options?.int &&
      (/seed/.test(targetWidget.name) || values?.length > 1))
    ws.push({ name: "control_after_generate", type: "control", value: "fixed", options: { values: SEED_CONTROLS }, serialize: false });
  if (values) ws.forEach((x, i) => { if (i < values.length) x.value = values[i]; });
  prim.widgets = ws;
  prim.outputs[0].type = targetWidget.inputType ?? prim.outputs[0].type;
  prim.outputs[0].name = prim.outputs[0].type;
  prim.outputs[0].widget = { name: targetWidget.name };
}

// Drawn as a widget row? Not when converted to an input, nor a control/upload slot whose widget was.
export function isWidgetVisible(node, w) {
  return !w.converted && !w.hidden && !(w.forWidget && node.widget(w.forWidget)?.converted);
}

export function widgetHeight(w) { return w.type === "multiline" ? LAYOUT.MULTILINE_H : LAYOUT.WIDGET_H; }

// Minimum size that fits title, sockets and visible widgets.
export function computeSize(node) {
  const rows = Math.max(node.inputs.length, node.outputs.length);
  let h = LAYOUT.TITLE_H + rows * LAYOUT.SLOT_H + LAYOUT.PAD;
  for (const w of node.widgets) if (isWidgetVisible(node, w)) h += widgetHeight(w) + 4;
  const labelW = Math.max(0, ...node.inputs.map((i, k) => (i.name.length + (node.outputs[k]?.name.length ?? 0)) * 7 + 50));
  // Widget rows need room for the label and a value (seed numbers run to 15 digits).
  const widgetW = Math.max(0, ...node.widgets.filter(x => isWidgetVisible(node, x)).map(x =>
    x.type === "multiline" ? 280 : x.type === "control" ? 270 : (x.label ?? x.name).length * 6.5 + 150));
  const w = Math.max(200, node.title.length * 8 + 50, labelW, widgetW);
  return [w, h];
}
