// Boolean toggle widget.
import { P } from "../canvas/theme.js";
export const toggleWidget = {
  draw(ctx, node, w, r) {
    ctx.fillStyle = P.rowBg; ctx.strokeStyle = P.rowLine;
    ctx.beginPath(); ctx.roundRect(r.x, r.y, r.w, r.h, r.h / 2); ctx.fill(); ctx.stroke();
    ctx.font = "12px sans-serif"; ctx.textBaseline = "middle"; ctx.fillStyle = P.rowLabel;
    ctx.fillText(w.label ?? w.name, r.x + 10, r.y + r.h / 2);
    const on = !!w.value, cx = r.x + r.w - 24, cy = r.y + r.h / 2;
    ctx.fillStyle = on ? "#4f8cff" : P.toggleOff; ctx.beginPath(); ctx.roundRect(cx - 12, cy - 7, 28, 14, 7); ctx.fill();
    ctx.fillStyle = P.knob; ctx.beginPath(); ctx.arc(on ? cx + 9 : cx - 5, cy, 5, 0, 7); ctx.fill();
    ctx.textAlign = "right"; ctx.fillStyle = P.rowValue; ctx.fillText(on ? "true" : "false", cx - 18, cy); ctx.textAlign = "left";
  },
  click(app, node, w) { app.graph.setWidget(node, w.name, !w.value); },
};
