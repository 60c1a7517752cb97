// Workflow tabs and server-saved workflows. Saved workflows live in the user folder under
// workflows/ (GET/POST/DELETE /userdata/workflows%2F<name>.json, ComfyUI's layout, so the official
// frontend lists the same files). Open tabs, with their unsaved state, survive a page reload
// (localStorage "latentflow.tabs"). A tab is modified when its graph differs from what was last
// saved or opened (compared as JSON, the view position left out), so undoing back clears the mark.
const STORE = "latentflow.tabs";
const DIR = "workflows/";

const comparable = data => { if (!data) return ""; const { extra, ...rest } = data; const { ds, ...e } = extra ?? {}; return JSON.stringify({ ...rest, extra: e }); };
const encode = path => encodeURIComponent(path);

export class WorkflowTabs {
  constructor(app, bar) {
    this.app = app;
    this.bar = bar;
    this.tabs = [];
    this.active = -1;
    this.listeners = [];
    let timer = null;
    app.graph.on("change", what => {
      if (what?.kind === "load" || what?.kind === "clear" || this.loading) return;
      clearTimeout(timer);
      timer = setTimeout(() => this.refreshModified(), 250);
    });
  }

  get current() { return this.tabs[this.active]; }

  // --- startup and persistence ---------------------------------------------------------------
  restore() {
    let stored = null;
    try { stored = JSON.parse(localStorage.getItem(STORE)); } catch { stored = null; }
    const legacy = localStorage.getItem("latentflow.workflow");
    if (stored?.tabs?.length) {
      this.tabs = stored.tabs.map(t => ({ name: t.name, path: t.path ?? null, data: t.data ?? null, saved: t.saved ?? "", modified: !!t.modified }));
      this.activate(Math.min(Math.max(0, stored.active ?? 0), this.tabs.length - 1), { store: false });
    } else if (legacy) {
      let data = null;
      try { data = JSON.parse(legacy); } catch { data = null; }
      this.newTab(data, "Unsaved Workflow");
    } else this.newTab(null, "Unsaved Workflow");
  }

  persist() {
    if (this.current) this.current.data = this.app.saveWorkflow();
    try { localStorage.setItem(STORE, JSON.stringify({ tabs: this.tabs, active: this.active })); }
    catch (e) { console.warn("tabs not stored", e); }
  }

  refreshModified() {
    const tab = this.current;
    if (!tab) return;
    const now = comparable(this.app.saveWorkflow());
    const modified = tab.path ? now !== tab.saved : (tab.saved ? now !== tab.saved : true);
    if (modified !== tab.modified) { tab.modified = modified; this.render(); }
    this.app.updateTitle();
  }

  // --- tabs ----------------------------------------------------------------------------------
  newTab(data = null, name = "Unsaved Workflow", path = null) {
    if (this.current) this.current.data = this.app.saveWorkflow();
    this.tabs.push({ name, path, data, saved: "", modified: false });
    this.activate(this.tabs.length - 1, { fresh: true });
    return this.current;
  }

  activate(i, { store = true, fresh = false } = {}) {
    if (i < 0 || i >= this.tabs.length) return;
    if (store && this.current && i !== this.active && !fresh) this.current.data = this.app.saveWorkflow();
    this.active = i;
    const tab = this.current;
    this.loading = true;
    try {
      if (tab.data) this.app.loadWorkflow(tab.data, { quiet: !fresh });
      else this.app.loadDefault();
    } finally { this.loading = false; }
    if (fresh && !tab.saved) tab.saved = tab.path || tab.data ? comparable(this.app.saveWorkflow()) : "";
    this.render();
    this.app.updateTitle();
    this.persist();
  }

  cycle(step) { if (this.tabs.length > 1) this.activate((this.active + step + this.tabs.length) % this.tabs.length); }

  close(i = this.active) {
    const tab = this.tabs[i];
    if (!tab) return;
    if (tab.modified && !confirm(`Close "${tab.name}" without saving?`)) return;
    this.tabs.splice(i, 1);
    if (!this.tabs.length) { this.active = -1; this.newTab(null, "Unsaved Workflow"); return; }
    const next = Math.min(i <= this.active ? Math.max(0, this.active - 1) : this.active, this.tabs.length - 1);
    this.active = -1;   // the closed tab's graph is not stored back anywhere
    this.activate(next, { store: false });
  }

  render() {
    this.bar.innerHTML = "";
    this.tabs.forEach((t, i) => {
      const el = document.createElement("div");
      el.className = "lf-tab" + (i === this.active ? " active" : "") + (t.modified ? " modified" : "");
      el.dataset.index = i;
      el.title = t.path ?? "not saved yet";
      const name = document.createElement("span"); name.className = "name"; name.textContent = t.name;
      const mark = document.createElement("span"); mark.className = "mark"; mark.textContent = t.modified ? "•" : "";
      const x = document.createElement("button"); x.className = "close"; x.textContent = "×"; x.title = "Close tab";
      x.onclick = e => { e.stopPropagation(); this.close(i); };
      el.onclick = () => { if (i !== this.active) this.activate(i); };
      el.onauxclick = e => { if (e.button === 1) this.close(i); };
      el.append(name, mark, x);
      this.bar.appendChild(el);
    });
    const plus = document.createElement("button");
    plus.className = "lf-tab-new"; plus.textContent = "+"; plus.title = "New workflow (Alt+N)";
    plus.onclick = () => this.newTab(null, "Unsaved Workflow");
    this.bar.appendChild(plus);
  }

  // A dropped or opened file: into the current tab when it is an untouched empty one, else a new tab.
  openData(data, name) {
    const tab = this.current;
    if (tab && !tab.path && !tab.modified && !tab.data) {
      tab.name = name; tab.data = data; tab.saved = "";
      this.activate(this.active, { store: false, fresh: true });
    } else this.newTab(data, name);
  }

  // --- server storage ------------------------------------------------------------------------
  async list() {
    try {
      const files = await this.app.api.json(`/userdata?dir=workflows&recurse=true&full_info=true`);
      return files.filter(f => f.path.endsWith(".json")).sort((a, b) => a.path.localeCompare(b.path));
    } catch (e) { if (e.status !== 404) this.app.toast("Could not list workflows: " + e.message); return []; }
  }

  async save({ as = false } = {}) {
    const tab = this.current;
    if (!tab) return null;
    let path = tab.path;
    if (!path || as) {
      const name = await this.app.dialogs.prompt("Save workflow as", tab.path ? tab.path.slice(DIR.length, -5) : tab.name.replace(/\.json$/, ""));
      if (!name) return null;
      path = DIR + name.replace(/\.json$/i, "") + ".json";
      if (path !== tab.path && (await this.list()).some(f => DIR + f.path === path) && !confirm(`${path.slice(DIR.length)} exists. Overwrite?`)) return null;
    }
    const data = this.app.saveWorkflow();
    try {
      await this.app.api.json(`/userdata/${encode(path)}?overwrite=true&full_info=true`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });
    } catch (e) { this.app.toast("Save failed: " + (e.body?.error?.message ?? e.message)); return null; }
    tab.path = path; tab.name = path.slice(DIR.length, -5); tab.saved = comparable(data); tab.modified = false; tab.data = data;
    this.render(); this.persist(); this.app.updateTitle();
    this.emit("saved", path);
    this.app.toast(`Saved ${tab.name}`);
    return path;
  }

  async openSaved(rel) {
    const path = DIR + rel;
    const open = this.tabs.findIndex(t => t.path === path);
    if (open >= 0) { this.activate(open); return; }
    let data;
    try { data = await this.app.api.json(`/userdata/${encode(path)}`); }
    catch (e) { this.app.toast(`Could not open ${rel}: ${e.message}`); return; }
    this.newTab(data, rel.replace(/\.json$/, ""), path);
    this.current.saved = comparable(this.app.saveWorkflow());
    this.current.modified = false;
    this.render();
  }

  async remove(rel) {
    try { await fetch(`/userdata/${encode(DIR + rel)}`, { method: "DELETE" }); }
    catch (e) { this.app.toast("Delete failed: " + e.message); return; }
    for (const t of this.tabs) if (t.path === DIR + rel) { t.path = null; t.modified = true; }
    this.render(); this.emit("saved", null);
  }

  async rename(rel, to) {
    const dest = DIR + to.replace(/\.json$/i, "") + ".json";
    try { await this.app.api.json(`/userdata/${encode(DIR + rel)}/move/${encode(dest)}?overwrite=false`, { method: "POST" }); }
    catch (e) { this.app.toast("Rename failed: " + (e.body?.error?.message ?? e.message)); return; }
    for (const t of this.tabs) if (t.path === DIR + rel) { t.path = dest; t.name = dest.slice(DIR.length, -5); }
    this.render(); this.persist(); this.emit("saved", dest);
  }

  on(event, fn) { this.listeners.push([event, fn]); }
  emit(event, arg) { for (const [e, fn] of this.listeners) if (e === event) fn(arg); }
}

// The sidebar panel listing saved workflows: open, rename, delete; refreshed after every save.
export function workflowsPanel(app) {
  const el = document.createElement("div");
  el.className = "lf-workflows";
  const refresh = async () => {
    const files = await app.workflows.list();
    el.innerHTML = "";
    const head = document.createElement("div"); head.className = "lf-panel-head";
    head.innerHTML = "<b>Saved workflows</b>";
    const save = document.createElement("button"); save.textContent = "Save current"; save.onclick = () => app.workflows.save();
    head.appendChild(save);
    el.appendChild(head);
    if (!files.length) { const p = document.createElement("p"); p.className = "lf-muted"; p.textContent = "Nothing saved yet (Ctrl+S saves here)."; el.appendChild(p); }
    for (const f of files) {
      const row = document.createElement("div"); row.className = "lf-workflow-item"; row.dataset.path = f.path;
      const name = document.createElement("span"); name.textContent = f.path.replace(/\.json$/, "");
      name.onclick = () => app.workflows.openSaved(f.path);
      const ren = document.createElement("button"); ren.textContent = "✎"; ren.title = "Rename";
      ren.onclick = async () => { const to = await app.dialogs.prompt("Rename workflow", f.path.replace(/\.json$/, "")); if (to) app.workflows.rename(f.path, to); };
      const del = document.createElement("button"); del.textContent = "🗑"; del.title = "Delete";
      del.onclick = () => { if (confirm(`Delete ${f.path}?`)) app.workflows.remove(f.path); };
      row.append(name, ren, del);
      el.appendChild(row);
    }
  };
  app.workflows.on("saved", refresh);
  return { el, refresh };
}
