// The left sidebar: one panel at a time (node library, saved workflows), toggled by its rail button
// or shortcut. Panels are built once and kept; `refresh` runs each time a panel is shown.
export class Sidebar {
  constructor(host, rail) {
    this.host = host;
    this.rail = rail;
    this.panels = new Map();
    this.open = null;
    this.el = document.createElement("aside");
    this.el.className = "lf-sidebar hidden";
    host.appendChild(this.el);
  }

  add(name, label, panel) {
    this.panels.set(name, panel);
    const b = document.createElement("button");
    b.className = "lf-rail-btn"; b.dataset.panel = name; b.textContent = label; b.title = label;
    b.onclick = () => this.toggle(name);
    this.rail.appendChild(b);
  }

  toggle(name) {
    if (this.open === name) { this.hide(); return; }
    const panel = this.panels.get(name);
    if (!panel) return;
    this.el.replaceChildren(panel.el);
    this.el.classList.remove("hidden");
    this.el.dataset.panel = name;
    this.open = name;
    for (const b of this.rail.children) b.classList.toggle("active", b.dataset.panel === name);
    panel.refresh?.();
    panel.focus?.();
  }

  hide() {
    this.el.classList.add("hidden");
    this.open = null;
    for (const b of this.rail.children) b.classList.remove("active");
  }
}
