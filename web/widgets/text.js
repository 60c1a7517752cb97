// Single-line and multi-line text widgets. Editing happens in a real <input>/<textarea> over the
// canvas, so Ctrl+Z inside it undoes the text (browser-native), not the graph.
import { P } from "../canvas/theme.js";
import { drawRow } from "./draw.js";
import { drawMarkdown } from "./markdown.js";

export const textWidget = {
  draw(ctx, node, w, r) { drawRow(ctx, r, w.label ?? w.name, w.value); },
  click(app, node, w, r) {
    app.dialogs.editInline(app.rectOnScreen(r), String(w.value ?? ""), false, v => app.graph.setWidget(node, w.name, v));
  },
};

function wrap(ctx, text, maxW) {
  const lines = [];
  for (const para of String(text ?? "").split("\n")) {
    let line = "";
    for (const word of para.split(" ")) {
      const t = line ? line + " " + word : word;
      if (ctx.measureText(t).width > maxW && line) { lines.push(line); line = word; } else line = t;
    }
    lines.push(line);
  }
  return lines;
}

export const multilineWidget = {
  draw(ctx, node, w, r) {
    ctx.fillStyle = P.textBg; ctx.strokeStyle = P.rowLine; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.roundRect(r.x, r.y, r.w, r.h, 6); ctx.fill(); ctx.stroke();
    if (node.type === "MarkdownNote" && w.value) { drawMarkdown(ctx, w.value, r); return; }
    ctx.save(); ctx.beginPath(); ctx.rect(r.x, r.y, r.w, r.h); ctx.clip();
    ctx.font = "12px sans-serif"; ctx.textBaseline = "top";
    const text = String(w.value ?? "");
    ctx.fillStyle = text ? P.textValue : P.textPlaceholder;
    const lines = text ? wrap(ctx, text, r.w - 12) : [w.name];
    lines.slice(0, Math.floor((r.h - 6) / 15)).forEach((l, i) => ctx.fillText(l, r.x + 6, r.y + 5 + i * 15));
    ctx.restore();
  },
  click(app, node, w, r) {
    app.dialogs.editInline(app.rectOnScreen(r), String(w.value ?? ""), true, v => app.graph.setWidget(node, w.name, v));
  },
};
