// User settings (localStorage) and the settings panel.
import { Bus } from "../graph/model.js";

export const SETTINGS = {
  linkStyle: { label: "Link render style", type: "choice", choices: ["spline", "linear", "straight"], default: "spline" },
  linkRelease: { label: "Link release on empty space", type: "choice", choices: ["search", "context menu", "nothing"], default: "search" },
  snapToGrid: { label: "Snap to grid", type: "toggle", default: false },
  gridSize: { label: "Grid size", type: "number", default: 20 },
  seedControlTiming: { label: "Seed control applies", type: "choice", choices: ["after", "before"], default: "after" },
  confirmClear: { label: "Confirm before clearing the graph", type: "toggle", default: true },
  theme: { label: "Theme", type: "choice", choices: ["auto", "dark", "light"], default: "auto" },
  minimap: { label: "Show the minimap", type: "toggle", default: true },
  lodText: { label: "Readable titles when zoomed out", type: "toggle", default: true },
  keybindings: { label: "Keybindings", type: "keybindings", default: {} },
};

export class Settings extends Bus {
  constructor(key = "latentflow.settings") {
    super();
    this.key = key;
    try { this.values = JSON.parse(localStorage.getItem(key) ?? "{}"); } catch { this.values = {}; }
  }
  get(id) { return id in this.values ? this.values[id] : SETTINGS[id]?.default; }
  set(id, value) {
    this.values[id] = value;
    localStorage.setItem(this.key, JSON.stringify(this.values));
    this.emit("change", { id, value });
  }
}

export function settingsPanel(dialogs, settings, { editKeybindings = null } = {}) {
  const body = document.createElement("div");
  body.className = "lf-settings";
  for (const [id, s] of Object.entries(SETTINGS)) {
    if (s.type === "keybindings") {
      if (!editKeybindings) continue;
      const row = document.createElement("div"); row.className = "lf-setting";
      const name = document.createElement("span"); name.textContent = s.label;
      const b = document.createElement("button"); b.textContent = "Edit…"; b.dataset.setting = id; b.onclick = editKeybindings;
      row.append(name, b); body.appendChild(row);
      continue;
    }
    const row = document.createElement("label");
    row.className = "lf-setting";
    const name = document.createElement("span"); name.textContent = s.label;
    let input;
    if (s.type === "choice") {
      input = document.createElement("select");
      for (const c of s.choices) { const o = document.createElement("option"); o.value = o.textContent = c; input.appendChild(o); }
      input.value = settings.get(id);
      input.onchange = () => settings.set(id, input.value);
    } else if (s.type === "toggle") {
      input = document.createElement("input"); input.type = "checkbox"; input.checked = !!settings.get(id);
      input.onchange = () => settings.set(id, input.checked);
    } else {
      input = document.createElement("input"); input.type = "number"; input.value = settings.get(id);
      input.onchange = () => settings.set(id, Number(input.value));
    }
    input.dataset.setting = id;
    row.append(name, input);
    body.appendChild(row);
  }
  return dialogs.modal("Settings", body, { className: "lf-settings-modal" });
}
