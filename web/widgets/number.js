// Number widget: arrows step, horizontal drag scrubs, click types a value; min/max/step/round.
import { drawRow, rowZone } from "./draw.js";

export function clampNumber(w, v) {
  const o = w.options;
  v = Math.min(o.max ?? Infinity, Math.max(o.min ?? -Infinity, Number(v)));
  if (o.int) v = Math.round(v);
  else if (o.round) v = Math.round(v / o.round) * o.round;
  // Trim float noise from repeated steps (0.1 + 0.2); keep the precision of step/round.
  if (!o.int) { const p = decimals(o.round || o.step); v = Number(v.toFixed(Math.min(10, p + 2))); }
  return v;
}
function decimals(x) { const s = String(x ?? 0.01); return s.includes(".") ? s.split(".")[1].length : 0; }

export function formatNumber(w) {
  if (w.options.int) return String(w.value);
  const p = Math.max(decimals(w.options.round || w.options.step), 1);
  return Number(w.value).toFixed(Math.min(p, 6));
}

export const numberWidget = {
  draw(ctx, node, w, r) { drawRow(ctx, r, w.label ?? w.name, formatNumber(w), { arrows: true }); },
  click(app, node, w, r, wx) {
    const zone = rowZone(r, wx);
    if (zone === "middle") {
      app.dialogs.editInline(app.rectOnScreen(r), String(w.value), false, text => {
        const v = Number(text);
        if (text.trim() !== "" && Number.isFinite(v)) app.graph.setWidget(node, w.name, clampNumber(w, v));
      });
    } else {
      const step = w.options.step ?? 1;
      app.graph.setWidget(node, w.name, clampNumber(w, Number(w.value) + (zone === "left" ? -step : step)));
    }
  },
  // Drag: one step per 4 screen pixels (fine enough for steps, fast enough for seeds).
  drag(app, node, w, start, dxScreen) {
    const steps = Math.round(dxScreen / 4);
    app.graph.setWidget(node, w.name, clampNumber(w, start + steps * (w.options.step ?? 1)));
  },
};
