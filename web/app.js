// Latentflow canvas: wires the graph model, renderer, interaction, server client and panels.
import { Graph, MODE } from "./graph/model.js";
import { UndoManager } from "./graph/undo.js";
import { Catalogue, createNode, createVirtual, adoptPrimitiveWidget, computeSize, customWidgetTypes } from "./graph/catalogue.js";
import { loadWorkflow, saveWorkflow, nodeToJSON, nodeFromJSON } from "./graph/serialize.js";
import { SubgraphNavigator, markInstances } from "./graph/subgraph_edit.js";
import { graphToPrompt } from "./graph/to_prompt.js";
import { Runner } from "./runner.js";
import { testHook } from "./test_hook.js";
import { buildDefaultGraph } from "./graph/default_graph.js";
import { Renderer } from "./canvas/render.js";
import { Interaction } from "./canvas/interact.js";
import { widgetKinds } from "./widgets/index.js";
import { uploadTo, refreshThumbnail } from "./widgets/upload.js";
import { Api } from "./api.js";
import { Menu, categoryTree } from "./ui/menu.js";
import { SearchBox } from "./ui/search.js";
import { Dialogs } from "./ui/dialogs.js";
import { Settings, settingsPanel } from "./ui/settings.js";
import { QueuePanel } from "./ui/queue_panel.js";
import { readWorkflowFile, graphFromPrompt, pickFile } from "./files.js";
import { extensions, runHook } from "./extension_api.js";
import { Keymap, shortcutHelp, keybindingEditor } from "./ui/keymap.js";
import { WorkflowTabs, workflowsPanel } from "./ui/workflows.js";
import { Sidebar } from "./ui/sidebar.js";
import { libraryPanel } from "./ui/library.js";
import { TemplatesBrowser } from "./ui/templates.js";
import { RunProgress } from "./ui/progress.js";
import { findMissing, missingPanel } from "./ui/missing.js";
import { openMaskEditor } from "./ui/mask_editor.js";
import { Minimap } from "./canvas/minimap.js";
import { applyTheme, resolveTheme } from "./canvas/theme.js";

const log = (...a) => console.info("[latentflow]", ...a);

export class App {
  constructor(root) {
    this.root = root;
    this.graph = new Graph();
    this.undo = new UndoManager(this.graph);
    this.catalogue = new Catalogue({});
    this.settings = new Settings();
    this.keymap = new Keymap(this.settings);
    this.applyTheme();
    matchMedia("(prefers-color-scheme: light)").addEventListener?.("change", () => this.applyTheme());
    this.api = new Api();
    this.ui = { selection: new Set(), selectedGroup: null, linkDrag: null, marquee: null, settings: this.settings };
    this.canvas = root.querySelector("#lf-canvas");
    this.overlay = root.querySelector("#lf-overlay");
    this.renderer = new Renderer(this.canvas, this.graph, this.ui);
    this.menu = new Menu(this.overlay);
    this.search = new SearchBox(this.overlay, this.catalogue);
    this.dialogs = new Dialogs(this.overlay);
    this.queuePanel = new QueuePanel(root, this);
    this.interaction = new Interaction(this);
    this.modified = false;
    this.graph.on("change", what => {
      this.renderer.markDirty();
      if (what?.kind !== "load" && what?.kind !== "clear") this.modified = true;
      if ((what?.kind === "widget" || what?.kind === "node-add") && what.node.widgets.some(w => w.type === "upload")) refreshThumbnail(this, what.node);
      if (what?.kind === "node-add") runHook("nodeCreated", what.node, this);
    });
    this.settings.on("change", ({ id }) => { if (id === "theme") this.applyTheme(); this.renderer.markDirty(); });
    new ResizeObserver(() => this.renderer.markDirty()).observe(this.canvas);
    this.runner = new Runner(this);
    this.subgraphs = new SubgraphNavigator(this);
    this.progress = new RunProgress(this);
    this.workflows = new WorkflowTabs(this, root.querySelector("#lf-tabs"));
    this.templates = new TemplatesBrowser(this);
    this.sidebar = new Sidebar(root.querySelector("main"), root.querySelector("#lf-rail"));
    this.sidebar.add("library", "Nodes", libraryPanel(this));
    this.sidebar.add("workflows", "Workflows", workflowsPanel(this));
    this.minimap = new Minimap(this, root.querySelector("main"));
    this.bindFileDrop();
    this.bindToolbar();
  }

  async start() {
    await this.refreshCatalogue({ quiet: true });
    await this.loadExtensions();
    try { this.workflows.restore(); } catch (e) { console.warn("stored tabs unreadable", e); this.workflows.tabs = []; this.workflows.newTab(null); }
    this.api.connect();
    // Persist the open tabs now and then (not on every click: serialising is not free).
    setInterval(() => { if (this.modified) { this.modified = false; this.workflows.persist(); } }, 2000);
    addEventListener("beforeunload", () => this.workflows.persist());
  }

  // --- catalogue & extensions -----------------------------------------------------------------
  async refreshCatalogue({ quiet = false } = {}) {
    try {
      const info = await this.api.objectInfo();
      this.catalogue.set(info);
      // Combos of existing nodes pick up new files (new models appear without a reload).
      for (const n of this.graph.nodes.values()) {
        const def = info[n.type];
        if (!def) continue;
        n.def = def;
        for (const w of n.widgets) {
          const spec = def.input?.required?.[w.name] ?? def.input?.optional?.[w.name];
          if (w.type === "combo" && Array.isArray(spec?.[0])) w.options.values = spec[0];
        }
      }
      if (!quiet) this.toast("Node definitions refreshed");
      this.renderer.markDirty();
    } catch (e) { this.toast("Could not load /object_info: " + e.message); }
  }

  async loadExtensions() {
    for (const url of await this.api.extensions()) {
      try { await import(url); log("extension loaded", url); }
      catch (e) { console.error("extension failed", url, e); this.toast(`Extension ${url} failed: ${e.message}`); }
    }
    for (const ext of extensions) {
      for (const [type, kind] of Object.entries(ext.widgets ?? {})) { widgetKinds.set(type, kind); customWidgetTypes.set(type, kind); }
      if (ext.drawNode) this.renderer.hooks.drawNode.push((ctx, node, r) => ext.drawNode(ctx, node, r));
      try { await ext.setup?.(this); } catch (e) { console.error(`extension ${ext.name} setup`, e); }
    }
  }

  // --- graph edits used by menus and keys -----------------------------------------------------
  addNode(type, pos) {
    const node = createNode(this.catalogue, type, { pos });
    if (!node) { this.toast(`Unknown node type ${type}`); return null; }
    if (this.settings.get("snapToGrid")) { const g = this.settings.get("gridSize") || 20; node.pos = node.pos.map(v => Math.round(v / g) * g); }
    this.graph.addNode(node);
    this.ui.selection.clear(); this.ui.selection.add(node.id);
    return node;
  }

  // A fresh PrimitiveNode takes the widget of the input it is first wired to (docs/comfy-api.md §3.4:
  // its value is pushed into that widget when the prompt is built).
  wirePrimitive(link) {
    const prim = this.graph.getNode(link?.origin_id), target = this.graph.getNode(link?.target_id);
    if (prim?.type !== "PrimitiveNode" || prim.widgets.length) return;
    const name = target.inputs[link.target_slot]?.widget?.name;
    const tw = name && target.widget(name);
    if (!tw) return;
    const fake = { widgets: [], outputs: structuredClone(prim.outputs) };
    adoptPrimitiveWidget(fake, tw, [tw.value]);
    this.graph.setProp(prim, "widgets", fake.widgets);
    this.graph.setProp(prim, "outputs", fake.outputs);
    this.graph.setProp(prim, "size", computeSize(prim));
  }

  toggleMode(nodes, mode) {
    if (!nodes.length) return;
    const all = nodes.every(n => n.mode === mode);
    this.undo.transact(mode === MODE.BYPASS ? "bypass" : "mute", () => nodes.forEach(n => this.graph.setProp(n, "mode", all ? MODE.ALWAYS : mode)));
  }

  groupSelection(nodes) {
    if (!nodes.length) return;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const n of nodes) { x0 = Math.min(x0, n.pos[0]); y0 = Math.min(y0, n.pos[1] - 30); x1 = Math.max(x1, n.pos[0] + n.size[0]); y1 = Math.max(y1, n.pos[1] + n.size[1]); }
    const pad = 10;
    const g = { id: Math.max(0, ...this.graph.groups.map(g => g.id ?? 0)) + 1, title: "Group", bounding: [x0 - pad, y0 - 36 - pad, x1 - x0 + 2 * pad, y1 - y0 + 36 + 2 * pad], color: "#3f789e", font_size: 24, flags: {} };
    this.undo.transact("group", () => this.graph.addGroup(g));
    return g;
  }

  renameNode(node) {
    const [sx, sy] = this.renderer.toScreen(node.pos[0], node.pos[1] - 30);
    const r = this.canvas.getBoundingClientRect();
    this.dialogs.editInline({ x: sx + r.left, y: sy + r.top, w: node.size[0] * this.renderer.view.scale, h: 28 }, node.title, false, title => {
      this.undo.transact("rename", () => { this.graph.setProp(node, "title", title); this.graph.setProp(node, "hasCustomTitle", true); });
    });
  }
  renameGroup(g) {
    const [sx, sy] = this.renderer.toScreen(g.bounding[0], g.bounding[1]);
    const r = this.canvas.getBoundingClientRect();
    this.dialogs.editInline({ x: sx + r.left, y: sy + r.top, w: 240, h: 28 }, g.title, false, t => this.undo.transact("rename group", () => this.graph.setGroupProp(g, "title", t)));
  }

  copy(nodes) {
    if (!nodes.length) return;
    const ids = new Set(nodes.map(n => n.id));
    const links = [...this.graph.links.values()].filter(l => ids.has(l.origin_id) && ids.has(l.target_id)).map(l => ({ ...l, raw: undefined }));
    // links into the copied nodes from outside them: Ctrl+Shift+V reconnects these
    const incoming = [...this.graph.links.values()].filter(l => !ids.has(l.origin_id) && ids.has(l.target_id)).map(l => ({ ...l, raw: undefined }));
    this.clipboard = { nodes: nodes.map(nodeToJSON), links, incoming };
    try { localStorage.setItem("latentflow.clipboard", JSON.stringify(this.clipboard)); } catch { /* quota */ }
  }

  paste(at, { withInputs = false } = {}) {
    let clip = this.clipboard;
    if (!clip) try { clip = JSON.parse(localStorage.getItem("latentflow.clipboard")); } catch { clip = null; }
    if (!clip?.nodes?.length) return;
    const x0 = Math.min(...clip.nodes.map(n => n.pos[0])), y0 = Math.min(...clip.nodes.map(n => n.pos[1]));
    const idMap = new Map();
    this.undo.transact("paste", () => {
      for (const raw of clip.nodes) {
        const copy = structuredClone(raw);
        copy.inputs = (copy.inputs ?? []).map(i => ({ ...i, link: null }));
        copy.outputs = (copy.outputs ?? []).map(o => ({ ...o, links: [] }));
        const node = nodeFromJSON(copy, this.catalogue);
        node.raw = null;
        node.id = null;
        node.pos = [at[0] + raw.pos[0] - x0, at[1] + raw.pos[1] - y0];
        this.graph.addNode(node);
        idMap.set(raw.id, node);
      }
      for (const l of clip.links) {
        const o = idMap.get(l.origin_id), t = idMap.get(l.target_id);
        if (o && t) this.graph.connect(o.id, l.origin_slot, t.id, l.target_slot);
      }
      if (withInputs) for (const l of clip.incoming ?? []) {
        const t = idMap.get(l.target_id);
        if (t && this.graph.getNode(l.origin_id)) this.graph.connect(l.origin_id, l.origin_slot, t.id, l.target_slot);
      }
    });
    this.ui.selection = new Set([...idMap.values()].map(n => n.id));
    this.renderer.markDirty();
  }

  // --- menus -----------------------------------------------------------------------------------
  canvasMenu(x, y, wpos, onPick = null, filter = null) {
    const pick = onPick ?? (type => this.undo.transact("add node", () => this.addNode(type, wpos)));
    const items = [
      { label: "Add Node", submenu: () => categoryTree(this.catalogue, pick) },
      { label: "Search…", action: () => this.search.open(x, y, pick, filter ?? {}) },
    ];
    if (!onPick) items.push(
      { label: "Add Group", action: () => this.undo.transact("group", () => this.graph.addGroup({ id: this.graph.groups.length + 1, title: "Group", bounding: [wpos[0], wpos[1], 400, 300], color: "#3f789e", font_size: 24, flags: {} })) },
      { label: "Add Note", action: () => this.undo.transact("add note", () => this.graph.addNode(Object.assign(createVirtual("Note", { pos: wpos })))) },
      { separator: true },
      { label: "Fit view", action: () => this.renderer.fitView() },
      { label: "Arrange selection into group (Ctrl+G)", action: () => this.groupSelection(this.selectedNodes()) });
    this.menu.show(items, x, y);
  }

  groupMenu(g, x, y) {
    this.menu.show([
      { label: "Edit title", action: () => this.renameGroup(g) },
      { label: "Color", submenu: COLORS.map(([name, c]) => ({ label: name, action: () => this.undo.transact("group color", () => this.graph.setGroupProp(g, "color", c)) })) },
      { label: "Remove", action: () => this.undo.transact("delete group", () => this.graph.removeGroup(g)) },
    ], x, y);
  }

  nodeMenu(node, x, y) {
    const nodes = this.selectedNodes();
    const convertible = node.widgets.filter(w => w.serialize !== false && w.inputType);
    const items = [
      { label: "Title", action: () => this.renameNode(node) },
      { label: node.collapsed ? "Expand" : "Collapse", action: () => this.undo.transact("collapse", () => nodes.forEach(n => this.graph.setFlag(n, "collapsed", node.collapsed ? undefined : true))) },
      { label: node.mode === MODE.NEVER ? "Unmute (Ctrl+M)" : "Mute (Ctrl+M)", action: () => this.toggleMode(nodes, MODE.NEVER) },
      { label: node.mode === MODE.BYPASS ? "Remove bypass (Ctrl+B)" : "Bypass (Ctrl+B)", action: () => this.toggleMode(nodes, MODE.BYPASS) },
      { label: "Color", submenu: COLORS.map(([name, c, bg]) => ({ label: name, action: () => this.undo.transact("color", () => nodes.forEach(n => { this.graph.setProp(n, "color", c); this.graph.setProp(n, "bgcolor", bg); })) })) },
    ];
    const toInput = convertible.filter(w => !w.converted), toWidget = convertible.filter(w => w.converted);
    if (toInput.length) items.push({ label: "Convert widget to input", submenu: toInput.map(w => ({ label: w.name, action: () => this.undo.transact("convert", () => this.graph.convertWidget(node, w.name, true)) })) });
    if (toWidget.length) items.push({ label: "Convert input to widget", submenu: toWidget.map(w => ({ label: w.name, action: () => this.undo.transact("convert", () => this.graph.convertWidget(node, w.name, false)) })) });
    if (node.rt.images?.length) items.push({ label: "Open images", action: () => this.showGallery(node) });
    if (node.widgets.some(w => w.type === "upload") && node.widget("image")) items.push({ label: "Open in Mask Editor", action: () => openMaskEditor(this, node) });
    if (node.kind === "subgraph") items.push({ label: "Open subgraph", action: () => this.subgraphs.enter(node) },
      { label: "Unpack subgraph", action: () => this.subgraphs.unpack(node) });
    if (nodes.some(n => n.kind !== "boundary")) items.push({ label: "Convert to subgraph", action: () => this.subgraphs.convertSelection(nodes) });
    items.push({ separator: true },
      { label: "Copy (Ctrl+C)", action: () => this.copy(nodes) },
      { label: "Resize to fit", action: () => this.undo.transact("resize", () => this.graph.setProp(node, "size", computeSize(node))) },
      { label: "Remove", action: () => this.undo.transact("delete", () => nodes.forEach(n => this.graph.removeNode(n.id))) });
    this.menu.show(items, x, y);
  }

  selectedNodes() { return [...this.ui.selection].map(id => this.graph.getNode(id)).filter(Boolean); }

  deleteSelection() {
    const nodes = this.selectedNodes().filter(n => n.kind !== "boundary");
    if (nodes.length) this.undo.transact("delete", () => nodes.forEach(n => this.graph.removeNode(n.id)));
    else if (this.ui.selectedGroup) { const g = this.ui.selectedGroup; this.undo.transact("delete group", () => this.graph.removeGroup(g)); this.ui.selectedGroup = null; }
    this.ui.selection.clear();
  }

  // Escape: the topmost thing that is open closes (modal, then menu, search, sidebar).
  closeTopmost() {
    if (this.dialogs.closeTopmost()) return;
    if (this.menu.open.length) { this.menu.close(); return; }
    if (this.search.el) { this.search.close(); return; }
    this.sidebar.hide();
  }

  applyTheme() { applyTheme(resolveTheme(this.settings.get("theme"))); this.renderer?.markDirty(); }

  // "[42%] *name - Latentflow": progress, unsaved mark and the tab's name in the browser tab
  updateTitle() {
    const f = this.progress?.fraction, tab = this.workflows?.current;
    document.title = `${f != null ? `[${Math.round(f * 100)}%] ` : ""}${tab?.modified ? "*" : ""}${tab?.name ?? "Latentflow"} - Latentflow`;
  }

  // --- files -----------------------------------------------------------------------------------
  // The whole workflow (inside a subgraph: the root with every open level written back).
  saveWorkflow() { return this.subgraphs.rootWorkflow(); }
  // The graph shown now (one level).
  saveLevel() { return saveWorkflow(this.graph, this.renderer.view); }
  // The graph a run or an export uses: the root graph, rebuilt when a subgraph is open.
  runGraph() {
    if (!this.subgraphs.depth) return this.graph;
    const g = new Graph();
    loadWorkflow(g, this.saveWorkflow(), this.catalogue);
    return g;
  }
  exportApi() { return graphToPrompt(this.runGraph(), { catalogue: this.catalogue }); }

  // Show one level of the workflow (entering or leaving a subgraph); its own undo history starts.
  loadLevel(data) {
    loadWorkflow(this.graph, data, this.catalogue);
    markInstances(this.graph);
    this.undo.reset();
    this.ui.selection.clear();
    for (const n of this.graph.nodes.values()) if (n.widgets.some(w => w.type === "upload")) refreshThumbnail(this, n);
    const ds = data.extra?.ds;
    if (ds?.offset && ds.scale) this.renderer.view = { scale: ds.scale, offset: [...ds.offset] };
    else this.renderer.fitView();
    this.renderer.markDirty();
  }

  loadWorkflow(data, { quiet = false } = {}) {
    this.subgraphs.stack = []; this.subgraphs.defId = null; this.subgraphs.render();
    const { missing } = loadWorkflow(this.graph, data, this.catalogue);
    markInstances(this.graph);
    this.lastLoaded = data;
    this.undo.reset();
    this.ui.selection.clear();
    for (const n of this.graph.nodes.values()) {
      runHook("nodeCreated", n, this);
      if (n.widgets.some(w => w.type === "upload")) refreshThumbnail(this, n);
    }
    const ds = data.extra?.ds;
    if (ds?.offset && ds.scale) this.renderer.view = { scale: ds.scale, offset: [...ds.offset] };
    else this.renderer.fitView();
    this.renderer.markDirty();
    if (!quiet) this.checkMissing(data);
    this.modified = true;
    return { missing };
  }

  // The missing-node and missing-model panel; null when nothing is missing.
  checkMissing(data = this.lastLoaded ?? {}) {
    const found = findMissing(this.graph, data);
    if (!found.nodes.length && !found.models.length) return null;
    return missingPanel(this, found);
  }

  loadApiPrompt(prompt) {
    if (!prompt) return;
    this.graph.clear();
    const rec = this.graph.recorder; this.graph.recorder = null;
    try { graphFromPrompt(this.graph, this.catalogue, prompt); } finally { this.graph.recorder = rec; }
    this.undo.reset();
    this.renderer.fitView();
  }

  loadDefault() {
    this.graph.clear();
    const rec = this.graph.recorder; this.graph.recorder = null;
    try { buildDefaultGraph(this.graph, this.catalogue); } finally { this.graph.recorder = rec; }
    this.undo.reset();
    this.renderer.fitView();
  }

  clearGraph() { this.graph.clear(); this.undo.reset(); this.ui.selection.clear(); this.modified = true; }

  async openFile(file) {
    const res = await readWorkflowFile(file);
    if (!res) { this.toast(`${file.name}: no workflow found`); return null; }
    const name = file.name.replace(/\.(json|png)$/i, "");
    if (res.workflow) {
      this.workflows.openData(res.workflow, name);
      return { missing: [...new Set([...this.graph.nodes.values()].filter(n => n.kind === "missing").map(n => n.type))] };
    }
    this.workflows.newTab(null, name);
    this.loadApiPrompt(res.prompt);
    return { missing: [] };
  }

  openFileDialog() { pickFile(".json,.png,application/json,image/png", file => this.openFile(file)); }

  download(name, data) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
    a.download = name; a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }
  saveFile() { this.download(`${(this.workflows.current?.name ?? "workflow").replace(/[\\/:*?"<>|]/g, "_")}.json`, this.saveWorkflow()); }
  exportApiFile() { this.download("workflow_api.json", this.exportApi()); }

  bindFileDrop() {
    const c = this.canvas;
    c.addEventListener("dragover", e => e.preventDefault());
    c.addEventListener("drop", async e => {
      e.preventDefault();
      const file = e.dataTransfer?.files?.[0];
      if (!file) return;
      const [wx, wy] = this.renderer.toWorld(e.offsetX, e.offsetY);
      const node = this.interaction.nodeAt(wx, wy);
      if (node && file.type.startsWith("image/") && node.widgets.some(w => w.type === "upload")) { await uploadTo(this, node, file); return; }
      await this.openFile(file);
    });
    document.addEventListener("paste", async e => {
      if (e.target.tagName === "INPUT" || e.target.tagName === "TEXTAREA") return;
      const file = [...(e.clipboardData?.files ?? [])].find(f => f.type.startsWith("image/"));
      const node = this.selectedNodes().find(n => n.widgets.some(w => w.type === "upload"));
      if (file && node) { e.preventDefault(); await uploadTo(this, node, file); }
    });
  }

  // --- running (web/runner.js) ------------------------------------------------------------------
  queue(opts) { return this.runner.queue(opts); }
  interrupt() { return this.runner.interrupt(); }

  showGallery(node) {
    const urls = (node.rt.images ?? []).map(i => i.url);
    if (urls.length) this.dialogs.gallery(urls, node.rt.imageIndex ?? 0);
  }

  // --- chrome ------------------------------------------------------------------------------------
  bindToolbar() {
    const on = (id, fn) => this.root.querySelector(id)?.addEventListener("click", fn);
    on("#lf-queue-btn", () => this.queue());
    on("#lf-queue-front", () => this.queue({ front: true }));
    on("#lf-interrupt", () => this.interrupt());
    on("#lf-workflow-menu", e => {
      const r = e.currentTarget.getBoundingClientRect();
      this.menu.show([
        { label: "New tab (Alt+N)", action: () => this.workflows.newTab() },
        { label: "Open file… (Ctrl+O)", action: () => this.openFileDialog() },
        { label: "Save (Ctrl+S)", action: () => this.workflows.save() },
        { label: "Save as… (Ctrl+Alt+S)", action: () => this.workflows.save({ as: true }) },
        { label: "Download as file", action: () => this.saveFile() },
        { label: "Export API prompt", action: () => this.exportApiFile() },
        { separator: true },
        { label: "Browse templates (T)", action: () => this.templates.open() },
        { label: "Load the default graph", action: () => this.loadDefault() },
        { label: "Clear the graph", action: () => { if (!this.settings.get("confirmClear") || confirm("Clear the graph?")) this.clearGraph(); } },
      ], r.left, r.bottom);
    });
    on("#lf-templates", () => this.templates.open());
    on("#lf-help", () => shortcutHelp(this));
    on("#lf-panel", () => this.queuePanel.toggle());
    on("#lf-settings", () => settingsPanel(this.dialogs, this.settings, { editKeybindings: () => keybindingEditor(this) }));
    on("#lf-fit", () => this.renderer.fitView());
    on("#lf-undo", () => this.undo.undo());
    on("#lf-redo", () => this.undo.redo());
    this.graph.on("history", s => {
      const u = this.root.querySelector("#lf-undo"), r = this.root.querySelector("#lf-redo");
      if (u) u.disabled = !s.undo;
      if (r) r.disabled = !s.redo;
    });
  }

  // Toasts stack upwards in one container instead of covering each other.
  toast(text) {
    let stack = this.overlay.querySelector(".lf-toasts");
    if (!stack) { stack = document.createElement("div"); stack.className = "lf-toasts"; this.overlay.appendChild(stack); }
    const el = document.createElement("div");
    el.className = "lf-toast"; el.textContent = text;
    stack.appendChild(el);
    while (stack.children.length > 5) stack.firstChild.remove();
    setTimeout(() => el.remove(), 3500);
  }

  rectOnScreen(r) {
    const [x, y] = this.renderer.toScreen(r.x, r.y), s = this.renderer.view.scale;
    const c = this.canvas.getBoundingClientRect();
    return { x: x + c.left, y: y + c.top, w: r.w * s, h: r.h * s };
  }
}

const COLORS = [["none", undefined, undefined], ["red", "#322", "#533"], ["green", "#232", "#353"], ["blue", "#223", "#335"],
  ["yellow", "#432", "#653"], ["purple", "#323", "#535"], ["cyan", "#233", "#355"], ["black", "#222", "#000"]];

const app = new App(document.body);
window.__latentflow = testHook(app);
window.__latentflow.ready = app.start().then(() => { window.__latentflow.isReady = true; });
