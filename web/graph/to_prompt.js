// UI graph → API prompt, following docs/comfy-api.md §3.4 (the official frontend's graphToPrompt):
// virtual nodes dropped and resolved, muted/bypassed nodes dropped with bypass pass-through,
// widget values keyed by name (UI-only slots skipped), links as [origin_id_string, slot].
import { MODE } from "./model.js";
import { VIRTUAL_TYPES, Catalogue } from "./catalogue.js";
import { processDynamicPrompt } from "./dynamic_prompt.js";
import { Flattened, hasSubgraphs } from "./subgraphs.js";

function widgetApiValue(w, value, random) {
  if (Array.isArray(value)) return { __value__: value };
  if (w?.options?.dynamicPrompts && typeof value === "string") return processDynamicPrompt(value, random);
  return value;
}

const isVirtual = n => n.type in VIRTUAL_TYPES;
const isDropped = n => isVirtual(n) || n.mode === MODE.NEVER || n.mode === MODE.BYPASS;

// Follow a link upstream through reroutes and bypassed nodes. Returns {ref:[id,slot]} or {value} or null.
export function resolveLink(graph, link, seen = new Set()) {
  if (!link || seen.has(link.id)) return null;
  seen.add(link.id);
  const origin = graph.getNode(link.origin_id);
  if (!origin) return null;
  if (origin.type === "Reroute") return resolveLink(graph, graph.links.get(origin.inputs[0]?.link), seen);
  if (origin.type === "PrimitiveNode") return { value: origin.widgets[0]?.value };
  if (origin.mode === MODE.BYPASS) {
    const type = origin.outputs[link.origin_slot]?.type;
    const same = origin.inputs[link.origin_slot];
    const pick = same && same.type === type && same.link != null ? same
      : origin.inputs.find(i => i.type === type && i.link != null);
    return pick ? resolveLink(graph, graph.links.get(pick.link), seen) : null;
  }
  return { ref: [String(origin.id), link.origin_slot] };
}

export function graphToPrompt(graph, { random = Math.random, catalogue = null } = {}) {
  if (hasSubgraphs(graph)) return subgraphPrompt(graph, catalogue ?? new Catalogue({}), random);
  const prompt = {};
  const nodes = graph.zorder.map(id => graph.getNode(id)).filter(Boolean);
  for (const node of nodes) {
    if (isDropped(node)) continue;
    const inputs = {};
    for (const w of node.widgets) {
      if (w.serialize === false || node.kind === "missing") continue;
      inputs[w.name] = widgetApiValue(w, w.value, random);
    }
    for (const inp of node.inputs) {
      if (inp.link == null) continue;
      const r = resolveLink(graph, graph.links.get(inp.link));
      if (!r) { delete inputs[inp.name]; continue; }
      inputs[inp.name] = r.ref ?? widgetApiValue(node.widget(inp.widget?.name ?? inp.name), r.value, random);
    }
    prompt[String(node.id)] = { inputs, class_type: node.type, _meta: { title: node.title } };
  }
  // §3.4 step 5: inputs that point at nodes not emitted are removed.
  for (const entry of Object.values(prompt))
    for (const [k, v] of Object.entries(entry.inputs))
      if (Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && !(v[0] in prompt)) delete entry.inputs[k];
  return prompt;
}

// A graph with subgraph instances: every inner node runs once per instance, id "instance:inner"
// (web/graph/subgraphs.js); the catalogue builds the inner nodes' widgets from their saved values.
function subgraphPrompt(graph, catalogue, random) {
  const flat = new Flattened(graph, catalogue);
  const prompt = {};
  for (const dto of flat.byId.values()) {
    if (!flat.emits(dto)) continue;
    const node = dto.node, inputs = {};
    for (const w of node.widgets) {
      if (w.serialize === false || node.kind === "missing") continue;
      inputs[w.name] = widgetApiValue(w, w.value, random);
    }
    node.inputs.forEach((inp, slot) => {
      const r = flat.resolveInput(dto, slot);
      if (r?.ref) inputs[inp.name] = r.ref;
      else if (r?.promoted) inputs[inp.name] = Array.isArray(r.value) ? { __value__: r.value } : r.value;
      else if (r && r.value !== undefined) inputs[inp.name] = widgetApiValue(node.widget(inp.widget?.name ?? inp.name), r.value, random);
    });
    prompt[dto.id] = { inputs, class_type: node.type, _meta: { title: node.title } };
  }
  for (const entry of Object.values(prompt))
    for (const [k, v] of Object.entries(entry.inputs))
      if (Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && !(v[0] in prompt)) delete entry.inputs[k];
  return prompt;
}

// The POST /prompt body (§3.4 step 8).
export function promptRequest(graph, workflow, { clientId, front = false, random, catalogue } = {}) {
  const body = { client_id: clientId, prompt: graphToPrompt(graph, { random, catalogue }), extra_data: { extra_pnginfo: { workflow } } };
  if (front) body.front = true;
  return body;
}
