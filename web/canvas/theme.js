// Canvas colours of the two themes. `P` is the live palette every drawing function reads; applyTheme
// swaps its contents (and the page's CSS class), so a theme change is one redraw, no reload.
export const DARK = {
  name: "dark", bg: "#1b1d21", grid: "#2a2d33", groupText: "#e8e8e8", nodeBody: "#353940", nodeTitle: "#25282d",
  titleText: "#e6e6e6", slotText: "#c8c8c8", slotError: "#ff6b6b", dot: "#bbb", dotCollapsed: "#888", socketCollapsed: "#999",
  selected: "#e0e0e0", running: "#4caf50", error: "#ff4d4f", missing: "#ff9800", bypassBody: "#4a2a5a", bypassTitle: "#6a3a7e",
  rowBg: "#22252a", rowActive: "#2f3640", rowLine: "#4a4f57", rowLabel: "#9aa0a8", rowValue: "#e8e8e8",
  textBg: "#1e2024", textValue: "#dcdcdc", textPlaceholder: "#777", toggleOff: "#555", knob: "#eee",
  uploadBg: "#2b3a55", uploadLine: "#4f6a99", imageCount: "#ddd", marqueeFill: "rgba(120,170,255,0.12)", marqueeLine: "#78aaff",
  lodText: "#f0f0f0", minimapBg: "rgba(20,22,26,0.85)", minimapNode: "#6b7380", minimapView: "#4f8cff",
};

export const LIGHT = {
  name: "light", bg: "#eef0f3", grid: "#d3d7de", groupText: "#1f2328", nodeBody: "#ffffff", nodeTitle: "#dfe3ea",
  titleText: "#1f2328", slotText: "#3a3f47", slotError: "#d32f2f", dot: "#6b7380", dotCollapsed: "#9aa0a8", socketCollapsed: "#777",
  selected: "#1f6feb", running: "#2e7d32", error: "#d32f2f", missing: "#e65100", bypassBody: "#ead7f3", bypassTitle: "#d5b3e6",
  rowBg: "#f3f5f8", rowActive: "#e3e9f3", rowLine: "#c3c9d2", rowLabel: "#5f6670", rowValue: "#1f2328",
  textBg: "#fbfcfd", textValue: "#1f2328", textPlaceholder: "#9aa0a8", toggleOff: "#b8bec7", knob: "#fff",
  uploadBg: "#dde7f7", uploadLine: "#7d9bd0", imageCount: "#333", marqueeFill: "rgba(31,111,235,0.10)", marqueeLine: "#1f6feb",
  lodText: "#111", minimapBg: "rgba(255,255,255,0.9)", minimapNode: "#9aa3b0", minimapView: "#1f6feb",
};

export const P = { ...DARK };

// "auto" follows the system (prefers-color-scheme) and changes with it.
export function resolveTheme(setting, prefersLight = globalThis.matchMedia?.("(prefers-color-scheme: light)").matches) {
  if (setting === "light" || setting === "dark") return setting;
  return prefersLight ? "light" : "dark";
}

export function applyTheme(name) {
  Object.assign(P, name === "light" ? LIGHT : DARK);
  document.documentElement.dataset.theme = P.name;
}
