// Combo widget: arrows cycle, click opens a searchable list. The seed control widget is a combo too.
import { drawRow, rowZone } from "./draw.js";

function values(w) { return w.options.values ?? []; }

export const comboWidget = {
  // a value the server does not offer (a model file that is not installed) is drawn as missing
  draw(ctx, node, w, r) {
    const vs = values(w), missing = vs.length > 0 && w.value != null && w.value !== "" && !vs.includes(w.value);
    drawRow(ctx, r, w.label ?? w.name, missing ? `⚠ ${w.value}` : w.value, { arrows: true, missing });
  },
  click(app, node, w, r, wx) {
    const vs = values(w);
    const zone = rowZone(r, wx);
    if (zone !== "middle" && vs.length) {
      const i = vs.indexOf(w.value);
      const j = (i + (zone === "left" ? -1 : 1) + vs.length) % vs.length;
      app.graph.setWidget(node, w.name, vs[j]);
      return;
    }
    const [sx, sy] = app.renderer.toScreen(r.x, r.y + r.h);
    app.menu.list(vs.map(v => ({ label: String(v), value: v })), sx, sy, item => app.graph.setWidget(node, w.name, item.value),
      { search: vs.length > 8, current: w.value });
  },
};

export const controlWidget = {
  draw(ctx, node, w, r) { drawRow(ctx, r, "control after generate", w.value, { arrows: true }); },
  click: comboWidget.click,
};
