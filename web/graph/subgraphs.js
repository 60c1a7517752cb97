// Subgraph expansion for the API export, the same walk as core/workflow/ui.py + subgraphs.py (and the
// official frontend's ExecutableNodeDTO): each node of definitions.subgraphs runs once per instance, with
// the execution id "instance:inner"; links cross the -10 (input) and -20 (output) boundary nodes; an
// unlinked instance input that feeds an inner widget sends the instance's widgets_values entry (one per
// promoted input, in input order) or, when the instance stores none, the inner widget's own value.
// Promoted values are sent as stored ({promoted: true}): the frontend runs no dynamic prompts on them.
import { MODE } from "./model.js";
import { nodeFromJSON } from "./serialize.js";

const SUBGRAPH_INPUT = -10, SUBGRAPH_OUTPUT = -20;
const VIRTUAL = new Set(["PrimitiveNode", "Reroute", "Note", "MarkdownNote"]);

// The definitions of a loaded workflow, id -> JSON (kept in the graph's passthrough keys).
export function definitionsOf(graph) {
  const out = new Map();
  for (const d of graph.passthrough?.definitions?.subgraphs ?? []) if (d?.id) out.set(d.id, d);
  return out;
}

export const hasSubgraphs = graph => {
  const defs = definitionsOf(graph);
  return defs.size > 0 && [...graph.nodes.values()].some(n => defs.has(n.type));
};

function linkOf(raw) {
  if (Array.isArray(raw)) return { id: raw[0], origin_id: raw[1], origin_slot: raw[2], target_id: raw[3], target_slot: raw[4], type: raw[5] ?? "*" };
  return { id: raw.id, origin_id: raw.origin_id, origin_slot: raw.origin_slot ?? 0, target_id: raw.target_id, target_slot: raw.target_slot ?? 0, type: raw.type ?? "*" };
}

// LiteGraph's isValidConnection: "*" and "" match anything, "A,B" unions, case-insensitive.
function compatible(a, b) {
  if (!a || !b || a === "*" || b === "*" || a === b) return true;
  const x = String(a).toLowerCase(), y = String(b).toLowerCase();
  if (!x.includes(",") && !y.includes(",")) return x === y;
  return x.split(",").some(p => y.split(",").some(q => compatible(p, q)));
}

export class Flattened {
  constructor(graph, catalogue) {
    this.catalogue = catalogue;
    this.defs = definitionsOf(graph);
    this.levels = new Map();     // definition id -> {links, definition}
    this.byId = new Map();       // execution id -> dto
    this.promotedCache = new Map();
    const root = { links: graph.links, definition: null };
    this._flatten([...graph.zorder.map(id => graph.getNode(id)).filter(Boolean)], root, [], null, false, 0);
  }

  _level(id) {
    if (!this.levels.has(id)) {
      const d = this.defs.get(id);
      const links = new Map((d.links ?? []).filter(Boolean).map(l => { const k = linkOf(l); return [k.id, k]; }));
      const nodes = (d.nodes ?? []).map(raw => nodeFromJSON(raw, this.catalogue));
      this.levels.set(id, { links, definition: d, nodes });
    }
    return this.levels.get(id);
  }

  _flatten(nodes, level, path, instance, silenced, depth) {
    if (depth > 32) throw new Error(`subgraph nesting deeper than 32 levels at ${path.join(":")}`);
    for (const node of nodes) {
      const dto = { node, level, path, instance, silenced, id: [...path, node.id].join(":") };
      dto.sub = this.defs.has(node.type) ? this._level(node.type) : null;
      this.byId.set(dto.id, dto);
      if (dto.sub) this._flatten(dto.sub.nodes, dto.sub, [...path, node.id], dto,
        silenced || node.mode === MODE.NEVER || node.mode === MODE.BYPASS, depth + 1);
    }
  }

  dto(path, id) { return this.byId.get([...path, id].join(":")); }

  emits(dto) {
    const n = dto.node;
    return !(VIRTUAL.has(n.type) || dto.sub || dto.silenced || n.mode === MODE.NEVER || n.mode === MODE.BYPASS);
  }

  // {ref: [id, slot]} | {value} | null for input `slot` of `dto`.
  resolveInput(dto, slot, visited = new Set(), type = null) {
    const key = `${dto.id}[I]${slot}`;
    if (visited.has(key)) throw new Error(`node ${dto.id}: circular link through input ${slot}`);
    visited.add(key);
    const input = dto.node.inputs[slot];
    if (!input || input.link == null) return null;
    const link = dto.level.links.get(input.link);
    if (!link) return null;
    if (dto.instance && link.origin_id === SUBGRAPH_INPUT) return this.subgraphInput(dto.instance, link.origin_slot, visited);
    const origin = this.dto(dto.path, link.origin_id);
    if (!origin) return null;
    return this.resolveOutput(origin, link.origin_slot, type ?? input.type ?? "*", visited);
  }

  resolveOutput(dto, slot, type, visited) {
    const key = `${dto.id}[O]${slot}`;
    if (visited.has(key)) throw new Error(`node ${dto.id}: circular link through output ${slot}`);
    visited.add(key);
    const n = dto.node;
    if (n.mode === MODE.BYPASS) {
      const index = this._bypassSlot(dto, slot, type);
      return index < 0 ? null : this.resolveInput(dto, index, visited);
    }
    if (dto.sub) return this.subgraphOutput(dto, slot, type, visited);
    if (n.type === "PrimitiveNode") {
      const wv = n.raw?.widgets_values;
      return { value: n.widgets[0]?.value ?? (Array.isArray(wv) ? wv[0] : undefined) };
    }
    if (VIRTUAL.has(n.type)) return slot < n.inputs.length ? this.resolveInput(dto, slot, visited, type) : null;
    return { ref: [dto.id, slot] };
  }

  _bypassSlot(dto, slot, type) {
    const inputs = dto.node.inputs;
    if (!inputs.length) return -1;
    if (type === "*" || type === "") return inputs.length > slot ? slot : 0;
    const outType = dto.node.outputs[slot]?.type ?? "*";
    if (inputs[slot] && compatible(inputs[slot].type, outType) && compatible(inputs[slot].type, type)) return slot;
    const exact = inputs.findIndex(i => i.type === type);
    if (exact >= 0) return exact;
    return inputs.findIndex(i => compatible(i.type, outType) && compatible(i.type, type));
  }

  subgraphOutput(instance, slot, type, visited) {
    const { definition, links } = instance.sub;
    const out = (definition.outputs ?? [])[slot];
    if (!out) throw new Error(`node ${instance.id}: its subgraph has no output slot ${slot}`);
    let link = (out.linkIds ?? []).map(i => links.get(i)).find(Boolean);
    link ??= [...links.values()].find(l => l.target_id === SUBGRAPH_OUTPUT && l.target_slot === slot);
    if (!link) return null;
    if (link.origin_id === SUBGRAPH_INPUT) return this.subgraphInput(instance, link.origin_slot, visited);
    const inner = this.dto([...instance.path, instance.node.id], link.origin_id);
    if (!inner) throw new Error(`node ${instance.id}: subgraph output ${slot} comes from missing node ${link.origin_id}`);
    return this.resolveOutput(inner, link.origin_slot, type, visited);
  }

  subgraphInput(instance, slot, visited) {
    const sub = (instance.sub.definition.inputs ?? [])[slot];
    if (!sub) throw new Error(`node ${instance.id}: its subgraph has no input slot ${slot}`);
    // Instance inputs are matched to definition inputs by name, as the frontend rebinds them.
    const index = instance.node.inputs.findIndex(i => i.name === sub.name);
    if (index >= 0 && instance.node.inputs[index].link != null) {
      const r = this.resolveInput(instance, index, visited);
      if (r) return r;
    }
    return this.promotedValue(instance, slot);
  }

  promoted(instance) {
    if (this.promotedCache.has(instance.id)) return this.promotedCache.get(instance.id);
    this.promotedCache.set(instance.id, []);
    const found = [];
    const { definition, links } = instance.sub;
    (definition.inputs ?? []).forEach((sub, index) => {
      for (const lid of sub.linkIds ?? []) {
        const link = links.get(lid);
        const inner = link && this.dto([...instance.path, instance.node.id], link.target_id);
        if (!inner) continue;
        let slot = inner.node.inputs.findIndex(i => i.link === lid);
        if (slot < 0) slot = link.target_slot < inner.node.inputs.length ? link.target_slot : -1;
        if (slot < 0) continue;
        const source = this._widgetSource(inner, inner.node.inputs[slot]);
        if (source) { found.push({ index, name: sub.name, inner, ...source }); break; }
      }
    });
    this.promotedCache.set(instance.id, found);
    return found;
  }

  _widgetSource(inner, input) {
    if (inner.sub) {
      const p = this.promoted(inner).find(e => e.name === input.name);
      return p ? { widget: p.name, control: p.control } : null;
    }
    const name = input.widget?.name;
    const ws = inner.node.widgets;
    const i = name == null ? -1 : ws.findIndex(w => w.name === name && w.serialize !== false);
    if (i < 0) return null;
    return { widget: name, control: ws[i + 1]?.name === "control_after_generate" };
  }

  promotedValue(instance, index) {
    const entries = this.promoted(instance);
    const wv = instance.node.rawValues ?? instance.node.raw?.widgets_values;
    const stored = Array.isArray(wv) ? wv : [];
    const withControls = stored.length > entries.length;   // older instances kept a slot per seed control
    let position = 0;
    for (const e of entries) {
      if (e.index === index) {
        if (position < stored.length && stored[position] != null) return { value: stored[position], promoted: true };
        return this.innerValue(e.inner, e.widget);
      }
      position += withControls && e.control ? 2 : 1;
    }
    return null;
  }

  innerValue(inner, widget) {
    if (inner.sub) {
      const p = this.promoted(inner).find(e => e.name === widget);
      return p ? this.promotedValue(inner, p.index) : null;
    }
    const w = inner.node.widget(widget);
    return w ? { value: w.value, promoted: true } : null;
  }
}
