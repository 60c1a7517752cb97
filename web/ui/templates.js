// Templates browser: the official template packages' index (GET /templates/index.json, served from
// the installed comfyui-workflow-templates packages) by category, with thumbnails and a filter; a
// pick opens the template's workflow (GET /templates/<name>.json) in a new tab. Templates whose
// names start with api_ need paid API nodes and are left out.
export class TemplatesBrowser {
  constructor(app) { this.app = app; this.index = null; }

  async load() {
    if (this.index) return this.index;
    try { this.index = await this.app.api.json("/templates/index.json"); }
    catch (e) { this.index = []; if (e.status !== 404) this.app.toast("Could not load templates: " + e.message); }
    return this.index;
  }

  async open() {
    const index = await this.load();
    const body = document.createElement("div");
    body.className = "lf-templates";
    if (!index.length) {
      body.textContent = "No template package is installed (pip install comfyui-workflow-templates).";
      return this.app.dialogs.modal("Templates", body);
    }
    const filter = document.createElement("input");
    filter.className = "lf-templates-filter"; filter.placeholder = "Filter templates…";
    const cats = document.createElement("div"); cats.className = "lf-templates-cats";
    const grid = document.createElement("div"); grid.className = "lf-templates-grid";
    body.append(filter, cats, grid);
    const categories = index.filter(c => (c.templates ?? []).some(t => !t.name.startsWith("api_")));
    let current = categories[0];
    const render = () => {
      cats.innerHTML = "";
      for (const c of categories) {
        const b = document.createElement("button");
        b.textContent = c.category ? `${c.category} · ${c.title}` : c.title;
        b.className = c === current && !filter.value ? "active" : "";
        b.onclick = () => { current = c; filter.value = ""; render(); };
        cats.appendChild(b);
      }
      grid.innerHTML = "";
      const q = filter.value.trim().toLowerCase();
      const pool = q ? categories.flatMap(c => c.templates) : current.templates;
      const seen = new Set();
      for (const t of pool) {
        if (t.name.startsWith("api_") || seen.has(t.name)) continue;
        const text = `${t.title ?? ""} ${t.name} ${t.description ?? ""} ${(t.tags ?? []).join(" ")} ${(t.models ?? []).join(" ")}`.toLowerCase();
        if (q && !q.split(/\s+/).every(word => text.includes(word))) continue;   // every word, any order
        seen.add(t.name);
        const card = document.createElement("div"); card.className = "lf-template"; card.dataset.name = t.name;
        const img = document.createElement("img"); img.loading = "lazy"; img.alt = "";
        img.src = `/templates/${encodeURIComponent(t.name)}-1.${t.mediaSubtype ?? "webp"}`;
        img.onerror = () => img.classList.add("none");
        const title = document.createElement("div"); title.className = "title"; title.textContent = t.title ?? t.name;
        const desc = document.createElement("div"); desc.className = "desc"; desc.textContent = t.description ?? "";
        card.append(img, title, desc);
        card.onclick = () => { modal.close(); this.openTemplate(t); };
        grid.appendChild(card);
      }
      if (!grid.children.length) grid.textContent = "No template matches.";
    };
    filter.oninput = render;
    filter.onkeydown = e => e.stopPropagation();
    const modal = this.app.dialogs.modal("Templates", body, { className: "lf-templates-modal" });
    render();
    setTimeout(() => filter.focus());
    return modal;
  }

  async openTemplate(t) {
    let data;
    try { data = await this.app.api.json(`/templates/${encodeURIComponent(t.name)}.json`); }
    catch (e) { this.app.toast(`Could not open template ${t.name}: ${e.message}`); return; }
    this.app.workflows.openData(data, t.title ?? t.name);
  }
}
