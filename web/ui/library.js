// Node library: every node type by category (collapsible tree) with a filter box; click a node to add
// it at the centre of the view, or drag it onto the canvas to drop it there.
import { fuzzyScore } from "./search.js";

export function libraryPanel(app) {
  const el = document.createElement("div");
  el.className = "lf-library";
  const input = document.createElement("input");
  input.className = "lf-library-filter"; input.placeholder = "Search nodes…";
  const tree = document.createElement("div"); tree.className = "lf-library-tree";
  el.append(input, tree);
  const open = new Set();

  const add = (type, screen = null) => {
    const r = app.canvas.getBoundingClientRect();
    const [x, y] = screen ? [screen[0] - r.left, screen[1] - r.top] : [r.width / 2, r.height / 2];
    app.undo.transact("add node", () => app.addNode(type, app.renderer.toWorld(x, y)));
    app.renderer.markDirty();
  };
  const leaf = type => {
    const row = document.createElement("div");
    row.className = "lf-library-node"; row.dataset.type = type; row.draggable = true;
    row.textContent = app.catalogue.displayName(type);
    const desc = app.catalogue.get(type)?.description;
    row.title = desc ? `${type}\n\n${desc}` : type;
    row.onclick = () => add(type);
    row.ondragstart = e => { e.dataTransfer.setData("application/x-latentflow-node", type); e.dataTransfer.effectAllowed = "copy"; };
    return row;
  };

  const render = () => {
    tree.innerHTML = "";
    const q = input.value.trim();
    const types = app.catalogue.all();
    if (q) {   // a flat ranked list while searching
      const hits = types.map(t => ({ t, s: Math.max(fuzzyScore(q, t) ?? -1e9, fuzzyScore(q, app.catalogue.displayName(t)) ?? -1e9, (fuzzyScore(q, app.catalogue.category(t)) ?? -1e9) - 50) }))
        .filter(h => h.s > -1e9).sort((a, b) => b.s - a.s).slice(0, 200);
      for (const h of hits) tree.appendChild(leaf(h.t));
      return;
    }
    const rootDir = { dirs: new Map(), leaves: [] };
    for (const t of types) {
      let at = rootDir;
      for (const part of String(app.catalogue.category(t)).split("/").filter(Boolean)) {
        if (!at.dirs.has(part)) at.dirs.set(part, { dirs: new Map(), leaves: [] });
        at = at.dirs.get(part);
      }
      at.leaves.push(t);
    }
    const build = (dir, path, parent) => {
      for (const [name, sub] of [...dir.dirs.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
        const key = path ? `${path}/${name}` : name;
        const folder = document.createElement("div"); folder.className = "lf-library-folder"; folder.dataset.category = key;
        const head = document.createElement("div"); head.className = "lf-library-cat";
        head.textContent = (open.has(key) ? "▾ " : "▸ ") + name;
        head.onclick = () => { open.has(key) ? open.delete(key) : open.add(key); render(); };
        folder.appendChild(head);
        if (open.has(key)) { const kids = document.createElement("div"); kids.className = "lf-library-kids"; build(sub, key, kids); folder.appendChild(kids); }
        parent.appendChild(folder);
      }
      for (const t of dir.leaves.sort((a, b) => app.catalogue.displayName(a).localeCompare(app.catalogue.displayName(b)))) parent.appendChild(leaf(t));
    };
    build(rootDir, "", tree);
  };
  input.oninput = render;
  input.onkeydown = e => { e.stopPropagation(); if (e.key === "Enter") tree.querySelector(".lf-library-node")?.click(); if (e.key === "Escape") input.value = "", render(); };

  // dropping a dragged library row on the canvas adds the node there
  app.canvas.addEventListener("dragover", e => { if (e.dataTransfer.types.includes("application/x-latentflow-node")) e.preventDefault(); });
  app.canvas.addEventListener("drop", e => {
    const type = e.dataTransfer.getData("application/x-latentflow-node");
    if (!type) return;
    e.preventDefault(); e.stopImmediatePropagation();
    add(type, [e.clientX, e.clientY]);
  }, true);
  return { el, refresh: render, focus: () => setTimeout(() => input.focus()) };
}
