// Editing subgraphs in ComfyUI's `definitions.subgraphs` format: enter an instance to edit its inner
// graph (the subgraph's inputs and outputs appear as two boundary nodes, ids -10 and -20, as in the
// format), leave to write it back; convert a selection into a new subgraph; unpack an instance into
// its nodes. Definitions live at the root of the workflow; every level shares that one list.
//
// While inside a subgraph, the app's graph holds the inner level. `rootWorkflow()` rebuilds the whole
// workflow (root graph + every definition, the levels open now included), so saving, the tabs and
// queueing always see the complete workflow.
import { Node, MODE } from "./model.js";
import { nodeFromJSON, nodeToJSON } from "./serialize.js";

export const SUBGRAPH_INPUT = -10, SUBGRAPH_OUTPUT = -20;
const BOUNDARY = new Set([SUBGRAPH_INPUT, SUBGRAPH_OUTPUT]);

export const definitionsIn = data => data?.definitions?.subgraphs ?? [];
const linkArray = l => [l.id, l.origin_id, l.origin_slot, l.target_id, l.target_slot, l.type];
const linkObject = a => ({ id: a[0], origin_id: a[1], origin_slot: a[2], target_id: a[3], target_slot: a[4], type: a[5] });
const uuid = () => crypto.randomUUID?.() ?? "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, c => ((Math.random() * 16) | (c === "x" ? 0 : 8)).toString(16));

// Mark the instances of known definitions in a loaded graph (they are not "missing" node types).
export function markInstances(graph) {
  const defs = new Map(definitionsIn(graph.passthrough).map(d => [d.id, d]));
  for (const n of graph.nodes.values()) {
    const d = defs.get(n.type);
    if (!d) continue;
    n.kind = "subgraph";
    if (!n.hasCustomTitle) n.title = d.name ?? "Subgraph";
  }
  for (const id of BOUNDARY) {
    const n = graph.getNode(id);
    if (n && (n.type === "SubgraphInput" || n.type === "SubgraphOutput")) { n.kind = "boundary"; n.title = id === SUBGRAPH_INPUT ? "Inputs" : "Outputs"; }
  }
}

// The inner level of `def` as a UI workflow (boundary nodes included), for loading into the canvas.
export function innerWorkflow(def, definitions) {
  const box = (b, fallback) => Array.isArray(b?.bounding) ? b.bounding : fallback;
  const inB = box(def.inputNode, [-300, 0, 120, 60]), outB = box(def.outputNode, [800, 0, 120, 60]);
  const ids = (def.nodes ?? []).map(n => n.id).filter(x => typeof x === "number");
  return {
    last_node_id: def.state?.lastNodeId ?? Math.max(0, ...ids),
    last_link_id: def.state?.lastLinkId ?? Math.max(0, ...(def.links ?? []).map(l => l.id)),
    nodes: [
      { id: SUBGRAPH_INPUT, type: "SubgraphInput", pos: [inB[0], inB[1]], size: [inB[2], inB[3]], flags: {}, order: 0, mode: 0,
        inputs: [], outputs: (def.inputs ?? []).map(i => ({ name: i.name, type: i.type, links: [...(i.linkIds ?? [])] })), properties: {} },
      { id: SUBGRAPH_OUTPUT, type: "SubgraphOutput", pos: [outB[0], outB[1]], size: [outB[2], outB[3]], flags: {}, order: 0, mode: 0,
        inputs: (def.outputs ?? []).map(o => ({ name: o.name, type: o.type, link: o.linkIds?.[0] ?? null })), outputs: [], properties: {} },
      ...structuredClone(def.nodes ?? []),
    ],
    links: (def.links ?? []).filter(Boolean).map(linkArray),
    groups: structuredClone(def.groups ?? []),
    config: structuredClone(def.config ?? {}),
    extra: structuredClone(def.extra ?? {}),
    version: 0.4,
    definitions: { subgraphs: definitions },
  };
}

// `def` updated from its edited inner level (a saved inner workflow); unchanged parts keep their JSON.
export function definitionFrom(def, inner) {
  const out = structuredClone(def);
  const nodes = inner.nodes.filter(n => !BOUNDARY.has(n.id));
  const inNode = inner.nodes.find(n => n.id === SUBGRAPH_INPUT), outNode = inner.nodes.find(n => n.id === SUBGRAPH_OUTPUT);
  const original = new Map((def.links ?? []).filter(Boolean).map(l => [l.id, l]));
  out.nodes = nodes;
  out.links = inner.links.map(a => { const o = original.get(a[0]); const l = linkObject(a); return o && linkArray(o).every((v, i) => v === linkArray(l)[i]) ? o : { ...(o ?? {}), ...l }; });
  out.groups = inner.groups ?? [];
  const sameSet = (a, b) => a.length === b.length && a.every(x => b.includes(x));
  out.inputs = (def.inputs ?? []).map((i, k) => {
    const links = inNode?.outputs?.[k]?.links ?? [];
    return sameSet(links, i.linkIds ?? []) ? i : { ...i, linkIds: [...links] };
  });
  out.outputs = (def.outputs ?? []).map((o, k) => {
    const link = outNode?.inputs?.[k]?.link;
    const links = link == null ? [] : [link];
    return sameSet(links, o.linkIds ?? []) ? o : { ...o, linkIds: links };
  });
  const moved = (node, b) => node && b && (node.pos[0] !== b.bounding[0] || node.pos[1] !== b.bounding[1]);
  if (moved(inNode, def.inputNode)) out.inputNode = { ...def.inputNode, bounding: [inNode.pos[0], inNode.pos[1], ...def.inputNode.bounding.slice(2)] };
  if (moved(outNode, def.outputNode)) out.outputNode = { ...def.outputNode, bounding: [outNode.pos[0], outNode.pos[1], ...def.outputNode.bounding.slice(2)] };
  if (out.state) out.state = { ...out.state, lastNodeId: inner.last_node_id, lastLinkId: inner.last_link_id };
  return out;
}

export class SubgraphNavigator {
  constructor(app) {
    this.app = app;
    this.stack = [];          // [{workflow: JSON of the level left behind, defId: that level's definition or null, instanceId}]
    this.defId = null;        // the definition open now (null at the root)
    this.loadedInner = null;  // the inner JSON as entered, to tell whether it was edited
    this.bar = app.root.querySelector("#lf-breadcrumb");
  }

  get depth() { return this.stack.length; }
  definitions() { return definitionsIn(this.stack[0]?.workflow ?? this.app.graph.passthrough); }
  definition(id) { return this.definitions().find(d => d.id === id) ?? null; }
  isInstance(node) { return !!node && !!this.definitionOf(node); }
  definitionOf(node) { return definitionsIn(this.app.graph.passthrough).find(d => d.id === node.type) ?? null; }

  // The complete workflow: root graph plus every definition, with the open levels written back.
  rootWorkflow() {
    const here = this.app.saveLevel();
    if (!this.depth) return here;
    const defs = structuredClone(this.definitions());
    const write = (defId, inner) => { const i = defs.findIndex(d => d.id === defId); if (i >= 0) defs[i] = definitionFrom(defs[i], inner); };
    write(this.defId, here);
    for (let k = this.stack.length - 1; k >= 1; k--) write(this.stack[k].defId, this.stack[k].workflow);
    const root = structuredClone(this.stack[0].workflow);
    root.definitions = { ...(root.definitions ?? {}), subgraphs: defs };
    return root;
  }

  enter(node) {
    const def = this.definitionOf(node);
    if (!def) return false;
    const defs = definitionsIn(this.app.graph.passthrough);
    this.stack.push({ workflow: this.app.saveLevel(), defId: this.defId, instanceId: node.id, name: node.title });
    this.defId = def.id;
    this.app.loadLevel(innerWorkflow(def, defs));
    this.loadedInner = this.app.saveLevel();
    this.render();
    return true;
  }

  // Back up `levels` levels (all of them with Infinity), writing each edited level into its definition.
  leave(levels = 1) {
    for (let n = 0; n < levels && this.depth; n++) {
      const here = this.app.saveLevel();
      const parent = this.stack.pop();
      const defs = structuredClone(definitionsIn(parent.workflow));
      const i = defs.findIndex(d => d.id === this.defId);
      const edited = JSON.stringify(strip(here)) !== JSON.stringify(strip(this.loadedInner));
      if (i >= 0 && edited) defs[i] = definitionFrom(defs[i], here);
      // every level keeps the same definitions list: hand the update down to all open levels
      for (const entry of this.stack) entry.workflow.definitions = { ...(entry.workflow.definitions ?? {}), subgraphs: defs };
      parent.workflow.definitions = { ...(parent.workflow.definitions ?? {}), subgraphs: defs };
      this.defId = parent.defId;
      this.app.loadLevel(parent.workflow);
      this.loadedInner = this.depth ? structuredClone(parent.workflow) : null;
    }
    this.render();
  }

  render() {
    if (!this.bar) return;
    this.bar.innerHTML = "";
    this.bar.hidden = !this.depth;
    if (!this.depth) return;
    const crumb = (label, back) => {
      const b = document.createElement("button");
      b.textContent = label;
      if (back) b.onclick = () => this.leave(back); else b.disabled = true;
      this.bar.appendChild(b);
    };
    crumb("Root", this.depth);
    this.stack.slice(1).forEach((s, i) => crumb(this.definition(s.defId)?.name ?? "Subgraph", this.depth - 1 - i));
    crumb(this.definition(this.defId)?.name ?? "Subgraph", 0);
  }

  // --- structural edits (one undo step each) ---------------------------------------------------
  convertSelection(nodes) {
    const app = this.app, graph = app.graph;
    nodes = nodes.filter(n => n.kind !== "boundary");
    if (!nodes.length) return null;
    const ids = new Set(nodes.map(n => n.id));
    const links = [...graph.links.values()];
    const internal = links.filter(l => ids.has(l.origin_id) && ids.has(l.target_id));
    const incoming = links.filter(l => !ids.has(l.origin_id) && ids.has(l.target_id));
    const outgoing = links.filter(l => ids.has(l.origin_id) && !ids.has(l.target_id));
    const inputs = [], outputs = [], defLinks = internal.map(l => linkObject(linkArray(l)));
    let nextLink = Math.max(0, ...links.map(l => l.id)) + 1;
    const inKey = new Map(), outKey = new Map();
    for (const l of incoming) {
      const key = `${l.origin_id}:${l.origin_slot}`;
      if (!inKey.has(key)) { inKey.set(key, inputs.length); inputs.push({ id: uuid(), name: graph.getNode(l.target_id).inputs[l.target_slot].name, type: l.type, linkIds: [] }); }
      const k = inKey.get(key);
      defLinks.push({ id: l.id, origin_id: SUBGRAPH_INPUT, origin_slot: k, target_id: l.target_id, target_slot: l.target_slot, type: l.type });
      inputs[k].linkIds.push(l.id);
    }
    for (const l of outgoing) {
      const key = `${l.origin_id}:${l.origin_slot}`;
      if (outKey.has(key)) continue;
      outKey.set(key, outputs.length);
      const id = nextLink++;
      outputs.push({ id: uuid(), name: graph.getNode(l.origin_id).outputs[l.origin_slot].name ?? l.type, type: l.type, linkIds: [id] });
      defLinks.push({ id, origin_id: l.origin_id, origin_slot: l.origin_slot, target_id: SUBGRAPH_OUTPUT, target_slot: outputs.length - 1, type: l.type });
    }
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of nodes) { x0 = Math.min(x0, n.pos[0]); y0 = Math.min(y0, n.pos[1]); x1 = Math.max(x1, n.pos[0] + n.size[0]); y1 = Math.max(y1, n.pos[1] + n.size[1]); }
    // the nodes as the definition stores them: their link fields name the definition's links
    const nodeJson = nodes.map(n => {
      const j = nodeToJSON(n);
      j.inputs = (j.inputs ?? []).map((inp, slot) => ({ ...inp, link: defLinks.find(dl => dl.target_id === n.id && dl.target_slot === slot)?.id ?? null }));
      j.outputs = (j.outputs ?? []).map((out, slot) => ({ ...out, links: defLinks.filter(dl => dl.origin_id === n.id && dl.origin_slot === slot).map(dl => dl.id) }));
      return j;
    });
    const def = {
      id: uuid(), version: 1, state: { lastGroupId: 0, lastNodeId: Math.max(...nodes.map(n => Number(n.id) || 0)), lastLinkId: nextLink - 1, lastRerouteId: 0 },
      revision: 0, config: {}, name: "New Subgraph",
      inputNode: { id: SUBGRAPH_INPUT, bounding: [x0 - 220, (y0 + y1) / 2 - 40, 120, 80] },
      outputNode: { id: SUBGRAPH_OUTPUT, bounding: [x1 + 100, (y0 + y1) / 2 - 40, 120, 80] },
      inputs, outputs, widgets: [], nodes: nodeJson, groups: [], links: defLinks, extra: {},
    };
    const instance = new Node({ type: def.id, title: def.name, pos: [x0, y0], kind: "subgraph",
      inputs: inputs.map(i => ({ name: i.name, type: i.type, link: null })),
      outputs: outputs.map(o => ({ name: o.name, type: o.type, links: [] })),
      properties: {} });
    instance.size = [240, 40 + Math.max(inputs.length, outputs.length, 1) * 20];
    instance.rawValues = [];
    const passthrough = graph.passthrough;
    const before = structuredClone(passthrough.definitions ?? null);
    app.undo.transact("convert to subgraph", () => {
      graph._do(() => { passthrough.definitions = { ...(passthrough.definitions ?? {}), subgraphs: [...definitionsIn(passthrough), def] }; },
        () => { if (before) passthrough.definitions = structuredClone(before); else delete passthrough.definitions; }, { kind: "definitions" });
      for (const n of nodes) graph.removeNode(n.id);
      graph.addNode(instance);
      for (const l of incoming) graph.connect(l.origin_id, l.origin_slot, instance.id, inKey.get(`${l.origin_id}:${l.origin_slot}`));
      for (const l of outgoing) graph.connect(instance.id, outKey.get(`${l.origin_id}:${l.origin_slot}`), l.target_id, l.target_slot);
    });
    app.ui.selection = new Set([instance.id]);
    return instance;
  }

  unpack(instance) {
    const app = this.app, graph = app.graph, def = this.definitionOf(instance);
    if (!def) return [];
    const inner = (def.nodes ?? []).filter(n => !BOUNDARY.has(n.id));
    const x0 = Math.min(...inner.map(n => n.pos?.[0] ?? 0)), y0 = Math.min(...inner.map(n => n.pos?.[1] ?? 0));
    const made = new Map();
    const outerIn = instance.inputs.map(i => i.link == null ? null : graph.links.get(i.link));
    const outerOut = instance.outputs.map(o => (o.links ?? []).map(id => graph.links.get(id)).filter(Boolean));
    app.undo.transact("unpack subgraph", () => {
      for (const raw of inner) {
        const copy = structuredClone(raw);
        copy.inputs = (copy.inputs ?? []).map(i => ({ ...i, link: null }));
        copy.outputs = (copy.outputs ?? []).map(o => ({ ...o, links: [] }));
        const node = nodeFromJSON(copy, app.catalogue);
        node.raw = null; node.id = null;
        node.pos = [instance.pos[0] + (raw.pos?.[0] ?? 0) - x0, instance.pos[1] + (raw.pos?.[1] ?? 0) - y0];
        graph.addNode(node);
        made.set(raw.id, node);
      }
      for (const l of (def.links ?? []).filter(Boolean)) {
        if (l.origin_id === SUBGRAPH_INPUT) {
          const outer = outerIn[l.origin_slot], t = made.get(l.target_id);
          if (outer && t) graph.connect(outer.origin_id, outer.origin_slot, t.id, l.target_slot);
        } else if (l.target_id === SUBGRAPH_OUTPUT) {
          const o = made.get(l.origin_id);
          if (o) for (const outer of outerOut[l.target_slot] ?? []) graph.connect(o.id, l.origin_slot, outer.target_id, outer.target_slot);
        } else {
          const o = made.get(l.origin_id), t = made.get(l.target_id);
          if (o && t) graph.connect(o.id, l.origin_slot, t.id, l.target_slot);
        }
      }
      graph.removeNode(instance.id);
    });
    markInstances(graph);
    app.ui.selection = new Set([...made.values()].map(n => n.id));
    return [...made.values()];
  }
}

function strip(data) { if (!data) return data; const { extra, ...rest } = data; const { ds, ...e } = extra ?? {}; return { ...rest, extra: e }; }

export { MODE };
