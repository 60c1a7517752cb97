// Context menus (nested by CATEGORY path) and pick lists (optionally searchable).
export class Menu {
  constructor(root) { this.root = root; this.open = []; document.addEventListener("pointerdown", e => {
    if (!this.open.some(m => m.contains(e.target))) this.close();
  }, true); }

  close() { for (const m of this.open) m.remove(); this.open = []; }

  // items: [{label, action?, submenu?: items | () => items, disabled?, separator?}]
  show(items, x, y, { level = 0, from = null } = {}) {
    if (level === 0) this.close();
    this.open.splice(level).forEach(m => m.remove());
    const el = document.createElement("div");
    el.className = "lf-menu";
    for (const it of items) {
      if (it.separator) { el.appendChild(Object.assign(document.createElement("hr"), {})); continue; }
      const row = document.createElement("div");
      row.className = "lf-menu-item" + (it.submenu ? " has-sub" : "") + (it.disabled ? " disabled" : "");
      row.textContent = it.label;
      row.dataset.label = it.label;
      row.addEventListener("pointerenter", () => {
        this.open.splice(level + 1).forEach(m => m.remove());
        if (it.submenu) { const r = row.getBoundingClientRect(); this.show(typeof it.submenu === "function" ? it.submenu() : it.submenu, r.right, r.top, { level: level + 1, from: r }); }
      });
      row.addEventListener("click", e => { e.stopPropagation(); if (it.disabled || it.submenu) return; this.close(); it.action?.(); });
      el.appendChild(row);
    }
    this._place(el, x, y, from);
    this.open.push(el);
    return el;
  }

  // A pick list (combo values). search: show a filter box.
  list(items, x, y, onPick, { search = false, current = null } = {}) {
    this.close();
    const el = document.createElement("div");
    el.className = "lf-menu lf-list";
    let input = null;
    const body = document.createElement("div");
    const render = q => {
      body.innerHTML = "";
      for (const it of items.filter(i => !q || i.label.toLowerCase().includes(q.toLowerCase()))) {
        const row = document.createElement("div");
        row.className = "lf-menu-item" + (it.value === current ? " current" : "");
        row.textContent = it.label;
        row.onclick = () => { this.close(); onPick(it); };
        body.appendChild(row);
      }
    };
    if (search) {
      input = document.createElement("input");
      input.className = "lf-list-filter"; input.placeholder = "filter…";
      input.oninput = () => render(input.value);
      input.onkeydown = e => {
        if (e.key === "Enter") { const first = body.firstChild; if (first) first.click(); }
        if (e.key === "Escape") this.close();
        e.stopPropagation();
      };
      el.appendChild(input);
    }
    el.appendChild(body);
    render("");
    this._place(el, x, y);
    this.open.push(el);
    input?.focus();
  }

  // A submenu that does not fit right of its parent row opens to its left instead of covering it.
  _place(el, x, y, from = null) {
    this.root.appendChild(el);
    const r = el.getBoundingClientRect();
    if (from && x + r.width > innerWidth - 4) x = Math.max(0, from.left - r.width);
    el.style.left = Math.max(0, Math.min(x, innerWidth - r.width - 4)) + "px";
    el.style.top = Math.max(0, Math.min(y, innerHeight - r.height - 4)) + "px";
  }
}

// Nested menu items from CATEGORY paths ("loaders/advanced" → Loaders ▸ advanced ▸ nodes).
export function categoryTree(catalogue, onPick) {
  const root = { dirs: new Map(), leaves: [] };
  for (const type of catalogue.all()) {
    let at = root;
    for (const part of String(catalogue.category(type)).split("/").filter(Boolean)) {
      if (!at.dirs.has(part)) at.dirs.set(part, { dirs: new Map(), leaves: [] });
      at = at.dirs.get(part);
    }
    at.leaves.push(type);
  }
  const build = dir => [
    ...[...dir.dirs.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([name, d]) => ({ label: name, submenu: () => build(d) })),
    ...dir.leaves.sort().map(t => ({ label: catalogue.displayName(t), action: () => onPick(t) })),
  ];
  return build(root);
}
