// Widget kinds by type. Each kind draws itself into its row and handles a click (and, for numbers,
// a horizontal drag). Extensions add kinds with registerWidget (see docs/canvas-extensions.md).
import { numberWidget } from "./number.js";
import { comboWidget, controlWidget } from "./combo.js";
import { textWidget, multilineWidget } from "./text.js";
import { toggleWidget } from "./toggle.js";
import { uploadWidget } from "./upload.js";

export const widgetKinds = new Map([
  ["number", numberWidget], ["combo", comboWidget], ["control", controlWidget],
  ["text", textWidget], ["multiline", multilineWidget], ["toggle", toggleWidget], ["upload", uploadWidget],
]);

export { drawRow, rowZone } from "./draw.js";

export function registerWidgetKind(type, kind) { widgetKinds.set(type, kind); }

