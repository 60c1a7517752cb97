// The extension API for custom nodes' web scripts (docs/canvas-extensions.md). Extensions call
// registerExtension({name, setup?, nodeCreated?, drawNode?, widgets?}) from their module.
export const extensions = [];

export function registerExtension(ext) {
  if (!ext?.name) throw new Error("registerExtension: an extension needs a name");
  if (extensions.some(e => e.name === ext.name)) throw new Error(`registerExtension: "${ext.name}" is already registered`);
  extensions.push(ext);
}

// Call a hook on every extension; one failing extension is logged and does not stop the others.
export function runHook(hook, ...args) {
  for (const ext of extensions) {
    if (typeof ext[hook] !== "function") continue;
    try { ext[hook](...args); } catch (e) { console.error(`extension ${ext.name}.${hook} failed`, e); }
  }
}

// Helpers extensions may use to draw widgets like the built-in ones.
export { drawRow, rowZone } from "./widgets/draw.js";

// Also reachable without an import, for classic (non-module) scripts.
window.latentflow = Object.assign(window.latentflow ?? {}, { registerExtension, extensions });
