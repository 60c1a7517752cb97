// Opening files: workflow JSON (UI or API format) and PNGs that carry a workflow in tEXt/iTXt chunks
// (docs/comfy-api.md §8: keys "workflow" and "prompt"), plus an API prompt → graph layout for old images.
import { createNode } from "./graph/catalogue.js";

// PNG: 8-byte signature, then chunks of [length u32 BE][type 4][data][crc 4] (PNG spec, ISO 15948 §5.3).
export function pngTextChunks(buffer) {
  const dv = new DataView(buffer), bytes = new Uint8Array(buffer), out = {};
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (bytes.length < 8 || sig.some((b, i) => bytes[i] !== b)) return null;
  const latin1 = new TextDecoder("latin1"), utf8 = new TextDecoder("utf-8");
  for (let p = 8; p + 8 <= bytes.length;) {
    const len = dv.getUint32(p), type = latin1.decode(bytes.subarray(p + 4, p + 8));
    const data = bytes.subarray(p + 8, p + 8 + len);
    if (type === "tEXt") {
      const z = data.indexOf(0);
      if (z > 0) out[latin1.decode(data.subarray(0, z))] = utf8.decode(data.subarray(z + 1));
    } else if (type === "iTXt") {
      // keyword\0 compression_flag compression_method language\0 translated\0 text (uncompressed only)
      const z = data.indexOf(0);
      if (z > 0 && data[z + 1] === 0) {
        const l1 = data.indexOf(0, z + 3), l2 = data.indexOf(0, l1 + 1);
        out[latin1.decode(data.subarray(0, z))] = utf8.decode(data.subarray(l2 + 1));
      }
    } else if (type === "IEND") break;
    p += 12 + len;
  }
  return out;
}

// Ask for a file through a hidden <input type=file> kept in the document (a detached one can be
// garbage-collected before the chooser answers).
export function pickFile(accept, onPick) {
  document.querySelector("input.lf-file-picker")?.remove();
  const input = document.createElement("input");
  input.type = "file"; input.accept = accept; input.className = "lf-file-picker"; input.hidden = true;
  input.onchange = () => { const f = input.files[0]; input.remove(); if (f) onPick(f); };
  input.addEventListener("cancel", () => input.remove());
  document.body.appendChild(input);
  input.click();
}

export function isUiWorkflow(data) { return !!data && Array.isArray(data.nodes) && "links" in data; }
export function isApiPrompt(data) {
  return !!data && typeof data === "object" && !Array.isArray(data) &&
    Object.values(data).length > 0 && Object.values(data).every(v => v && typeof v === "object" && "class_type" in v);
}

// Read a dropped/opened file into {workflow} or {prompt}; null when it holds neither.
export async function readWorkflowFile(file) {
  const buf = await file.arrayBuffer();
  const chunks = pngTextChunks(buf);
  if (chunks) {
    if (chunks.workflow) try { return { workflow: JSON.parse(chunks.workflow) }; } catch { /* fall back */ }
    if (chunks.prompt) try { return { prompt: JSON.parse(chunks.prompt) }; } catch { /* nothing usable */ }
    return null;
  }
  let data;
  try { data = JSON.parse(new TextDecoder().decode(buf)); } catch { return null; }
  if (isUiWorkflow(data)) return { workflow: data };
  if (isApiPrompt(data)) return { prompt: data };
  if (isApiPrompt(data?.prompt)) return { prompt: data.prompt };
  return null;
}

// Build nodes and links from an API prompt, laid out in columns by depth.
export function graphFromPrompt(graph, catalogue, prompt) {
  const depth = {};
  const depthOf = (id, seen = new Set()) => {
    if (id in depth) return depth[id];
    if (seen.has(id)) return 0;
    seen.add(id);
    const ins = Object.values(prompt[id]?.inputs ?? {}).filter(v => Array.isArray(v) && v.length === 2 && v[0] in prompt);
    return (depth[id] = ins.length ? 1 + Math.max(...ins.map(v => depthOf(String(v[0]), seen))) : 0);
  };
  const rows = {};
  const made = {};
  for (const id of Object.keys(prompt)) {
    const d = depthOf(id);
    const entry = prompt[id];
    const node = createNode(catalogue, entry.class_type, { id: Number(id) || null, pos: [d * 360, (rows[d] = (rows[d] ?? -1) + 1) * 260] });
    if (!node) continue;
    if (entry._meta?.title && entry._meta.title !== node.title) { node.title = entry._meta.title; node.hasCustomTitle = true; }
    for (const [name, v] of Object.entries(entry.inputs ?? {})) {
      const w = node.widget(name);
      if (w && !(Array.isArray(v) && v.length === 2 && v[0] in prompt)) w.value = v?.__value__ ?? v;
    }
    graph.addNode(node);
    made[id] = node;
  }
  for (const [id, entry] of Object.entries(prompt)) {
    const node = made[id];
    if (!node) continue;
    for (const [name, v] of Object.entries(entry.inputs ?? {})) {
      if (!(Array.isArray(v) && v.length === 2 && made[v[0]])) continue;
      if (node.inputIndex(name) < 0 && node.widget(name)) graph.convertWidget(node, name, true);
      const slot = node.inputIndex(name);
      if (slot >= 0) graph.connect(made[v[0]].id, v[1], node.id, slot);
    }
  }
}
