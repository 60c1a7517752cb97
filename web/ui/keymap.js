// Keyboard commands: one table of what each shortcut does, user rebindings kept in settings
// ("keybindings": {command: combo}), the shortcut help and the keybinding editor.
import { MODE } from "../graph/model.js";

// combo strings: modifiers in the order Ctrl+Alt+Shift, then the key ("Ctrl+Shift+V", "Delete", ".")
export function comboOf(e) {
  const key = e.key === " " ? "Space" : e.key.length === 1 ? e.key.toUpperCase() : e.key;
  if (["Control", "Alt", "Shift", "Meta"].includes(key)) return null;
  return [(e.ctrlKey || e.metaKey) && "Ctrl", e.altKey && "Alt", e.shiftKey && "Shift", key].filter(Boolean).join("+");
}

const sel = app => app.selectedNodes();

export const COMMANDS = {
  queue: { label: "Queue the workflow", keys: ["Ctrl+Enter"], run: app => app.queue() },
  queueFront: { label: "Queue at the front", keys: ["Ctrl+Shift+Enter"], run: app => app.queue({ front: true }) },
  interrupt: { label: "Interrupt the running job", keys: ["Ctrl+Alt+Enter"], run: app => app.interrupt() },
  undo: { label: "Undo", keys: ["Ctrl+Z"], run: app => app.undo.undo() },
  redo: { label: "Redo", keys: ["Ctrl+Y", "Ctrl+Shift+Z"], run: app => app.undo.redo() },
  selectAll: { label: "Select all nodes", keys: ["Ctrl+A"], run: app => { for (const id of app.graph.nodes.keys()) app.ui.selection.add(id); app.graph.emit("selection", app.ui.selection); } },
  copy: { label: "Copy selected nodes", keys: ["Ctrl+C"], run: app => app.copy(sel(app)) },
  paste: { label: "Paste", keys: ["Ctrl+V"], run: (app, at) => app.paste(at) },
  pasteWithInputs: { label: "Paste keeping input links", keys: ["Ctrl+Shift+V"], run: (app, at) => app.paste(at, { withInputs: true }) },
  group: { label: "Group selected nodes", keys: ["Ctrl+G"], run: app => app.groupSelection(sel(app)) },
  mute: { label: "Mute / unmute selected", keys: ["Ctrl+M"], run: app => app.toggleMode(sel(app), MODE.NEVER) },
  bypass: { label: "Bypass / unbypass selected", keys: ["Ctrl+B"], run: app => app.toggleMode(sel(app), MODE.BYPASS) },
  save: { label: "Save workflow", keys: ["Ctrl+S"], run: app => app.workflows.save() },
  saveAs: { label: "Save workflow as…", keys: ["Ctrl+Alt+S"], run: app => app.workflows.save({ as: true }) },
  open: { label: "Open a workflow file", keys: ["Ctrl+O"], run: app => app.openFileDialog() },
  newTab: { label: "New workflow tab", keys: ["Alt+N"], run: app => app.workflows.newTab() },
  closeTab: { label: "Close workflow tab", keys: ["Alt+W"], run: app => app.workflows.close() },
  nextTab: { label: "Next workflow tab", keys: ["Alt+."], run: app => app.workflows.cycle(1) },
  prevTab: { label: "Previous workflow tab", keys: ["Alt+,"], run: app => app.workflows.cycle(-1) },
  delete: { label: "Delete selection", keys: ["Delete", "Backspace"], run: app => app.deleteSelection() },
  refresh: { label: "Refresh node definitions", keys: ["R"], run: app => app.refreshCatalogue() },
  fit: { label: "Fit view (selection or all)", keys: ["."], run: app => { const s = sel(app); app.renderer.fitView(s.length ? s : undefined); } },
  library: { label: "Toggle node library", keys: ["N"], run: app => app.sidebar.toggle("library") },
  workflows: { label: "Toggle workflows panel", keys: ["W"], run: app => app.sidebar.toggle("workflows") },
  templates: { label: "Browse templates", keys: ["T"], run: app => app.templates.open() },
  minimap: { label: "Toggle minimap", keys: ["M"], run: app => app.settings.set("minimap", !app.settings.get("minimap")) },
  help: { label: "Show keyboard shortcuts", keys: ["?", "Shift+?"], run: app => shortcutHelp(app) },
};

export class Keymap {
  constructor(settings) { this.settings = settings; }
  keysFor(id) { return this.settings.get("keybindings")?.[id] ?? COMMANDS[id].keys; }
  commandFor(combo) {
    for (const id of Object.keys(COMMANDS)) if (this.keysFor(id).includes(combo)) return id;
    return null;
  }
  rebind(id, combo) {
    const all = { ...(this.settings.get("keybindings") ?? {}) };
    // a combo does one thing: take it from any other command that had it
    for (const other of Object.keys(COMMANDS)) {
      if (other !== id && this.keysFor(other).includes(combo)) all[other] = this.keysFor(other).filter(k => k !== combo);
    }
    all[id] = [combo];
    this.settings.set("keybindings", all);
  }
  reset() { this.settings.set("keybindings", {}); }
}

export function shortcutHelp(app) {
  const table = document.createElement("table");
  table.className = "lf-shortcuts";
  for (const [id, c] of Object.entries(COMMANDS)) {
    const keys = app.keymap.keysFor(id);
    if (!keys.length) continue;
    const tr = document.createElement("tr");
    tr.innerHTML = "<td></td><td></td>";
    tr.children[0].textContent = c.label;
    tr.children[1].append(...keys.map(k => Object.assign(document.createElement("kbd"), { textContent: k })));
    table.appendChild(tr);
  }
  const mouse = document.createElement("p");
  mouse.className = "lf-muted";
  mouse.textContent = "Mouse: drag empty canvas or Space+drag to pan, wheel to zoom, double-click to search nodes, " +
    "Ctrl+drag to box-select, drag a link into empty space to pick a node, right-click for menus.";
  const body = document.createElement("div");
  body.append(table, mouse);
  return app.dialogs.modal("Keyboard shortcuts", body, { className: "lf-help" });
}

// The editor: click a row's key, press the new combo (Escape cancels).
export function keybindingEditor(app) {
  const body = document.createElement("div");
  const render = () => {
    body.innerHTML = "";
    const table = document.createElement("table");
    table.className = "lf-shortcuts";
    for (const [id, c] of Object.entries(COMMANDS)) {
      const tr = document.createElement("tr");
      const label = document.createElement("td"); label.textContent = c.label;
      const keyCell = document.createElement("td");
      const btn = document.createElement("button");
      btn.className = "lf-keybind"; btn.dataset.command = id;
      btn.textContent = app.keymap.keysFor(id).join(", ") || "—";
      btn.onclick = () => {
        btn.textContent = "press keys…";
        const onKey = e => {
          e.preventDefault(); e.stopPropagation();
          if (e.key === "Escape") { window.removeEventListener("keydown", onKey, true); render(); return; }
          const combo = comboOf(e);
          if (!combo) return;
          window.removeEventListener("keydown", onKey, true);
          app.keymap.rebind(id, combo);
          render();
        };
        window.addEventListener("keydown", onKey, true);
      };
      keyCell.appendChild(btn);
      tr.append(label, keyCell);
      table.appendChild(tr);
    }
    const reset = document.createElement("button");
    reset.textContent = "Reset all to defaults";
    reset.onclick = () => { app.keymap.reset(); render(); };
    body.append(table, reset);
  };
  render();
  return app.dialogs.modal("Keybindings", body, { className: "lf-keybindings" });
}
