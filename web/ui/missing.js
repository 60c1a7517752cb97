// What a loaded workflow needs that this server lacks: node types that are not installed, and model
// files its loaders name that are not in their folders — shown on load, with the folder each file
// belongs in (and its download link when the workflow carries one, as ComfyUI's templates do in
// properties.models / the top-level models list).

// loader input -> models folder (ComfyUI's folder names, docs/models.md)
const FOLDERS = {
  ckpt_name: "checkpoints", unet_name: "diffusion_models", vae_name: "vae", lora_name: "loras",
  control_net_name: "controlnet", style_model_name: "style_models", gligen_name: "gligen",
  model_name: "upscale_models", clip_name: "text_encoders", clip_name1: "text_encoders",
  clip_name2: "text_encoders", clip_name3: "text_encoders", clip_name4: "text_encoders",
};
const CLIP_VISION = new Set(["CLIPVisionLoader"]);

export function findMissing(graph, workflow = {}) {
  const declared = new Map();
  for (const m of workflow.models ?? []) if (m?.name) declared.set(m.name, m);
  const nodes = new Set(), models = [];
  for (const n of graph.nodes.values()) {
    if (n.kind === "missing") nodes.add(n.type);
    for (const m of n.properties?.models ?? []) if (m?.name) declared.set(m.name, m);
  }
  for (const n of graph.nodes.values()) {
    for (const w of n.widgets ?? []) {
      if (w.type !== "combo" || w.converted) continue;
      const values = w.options?.values ?? [];
      const folder = CLIP_VISION.has(n.type) && w.name === "clip_name" ? "clip_vision" : FOLDERS[w.name];
      if (!folder || !w.value || values.includes(w.value)) continue;
      const info = declared.get(w.value);
      models.push({ nodeId: n.id, title: n.title, input: w.name, name: w.value, folder: info?.directory ?? folder, url: info?.url ?? null });
    }
  }
  return { nodes: [...nodes].sort(), models };
}

export function missingPanel(app, found) {
  const body = document.createElement("div");
  body.className = "lf-missing-panel";
  if (found.nodes.length) {
    const h = document.createElement("h3"); h.textContent = `Missing node types (${found.nodes.length})`;
    const p = document.createElement("p"); p.className = "lf-muted";
    p.textContent = "Kept as placeholders with their values and links, and saved back unchanged. Install the custom node packs that provide them.";
    const ul = document.createElement("ul");
    for (const t of found.nodes) { const li = document.createElement("li"); li.textContent = t; ul.appendChild(li); }
    body.append(h, p, ul);
  }
  if (found.models.length) {
    const h = document.createElement("h3"); h.textContent = `Missing models (${found.models.length})`;
    const table = document.createElement("table"); table.className = "lf-missing-models";
    for (const m of found.models) {
      const tr = document.createElement("tr"); tr.dataset.node = m.nodeId;
      const what = document.createElement("td"); what.textContent = m.name;
      const where = document.createElement("td"); where.innerHTML = "<code></code>"; where.firstChild.textContent = `models/${m.folder}/`;
      const who = document.createElement("td"); who.className = "lf-muted"; who.textContent = `${m.title} #${m.nodeId} · ${m.input}`;
      const go = document.createElement("td");
      const show = document.createElement("button"); show.textContent = "Show"; show.title = "Select the node";
      show.onclick = () => { const n = app.graph.getNode(m.nodeId); if (n) { app.ui.selection = new Set([n.id]); app.renderer.fitView([n]); } };
      go.appendChild(show);
      if (m.url) { const a = document.createElement("a"); a.href = m.url; a.textContent = "download"; a.target = "_blank"; a.rel = "noopener"; go.appendChild(a); }
      tr.append(what, where, who, go);
      table.appendChild(tr);
    }
    const p = document.createElement("p"); p.className = "lf-muted";
    p.textContent = "Put each file in the folder shown (under your models directory), then press R to refresh the lists.";
    body.append(h, table, p);
  }
  return app.dialogs.modal("This workflow needs files you do not have", body, { className: "lf-missing" });
}
