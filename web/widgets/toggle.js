// Boolean toggle widget.
export const toggleWidget = {
  draw(ctx, node, w, r) {
    ctx.fillStyle = "#22252a"; ctx.strokeStyle = "#4a4f57";
    ctx.beginPath(); ctx.roundRect(r.x, r.y, r.w, r.h, r.h / 2); ctx.fill(); ctx.stroke();
    ctx.font = "12px sans-serif"; ctx.textBaseline = "middle"; ctx.fillStyle = "#9aa0a8";
    ctx.fillText(w.label ?? w.name, r.x + 10, r.y + r.h / 2);
    const on = !!w.value, cx = r.x + r.w - 24, cy = r.y + r.h / 2;
    ctx.fillStyle = on ? "#4f8cff" : "#555"; ctx.beginPath(); ctx.roundRect(cx - 12, cy - 7, 28, 14, 7); ctx.fill();
    ctx.fillStyle = "#eee"; ctx.beginPath(); ctx.arc(on ? cx + 9 : cx - 5, cy, 5, 0, 7); ctx.fill();
    ctx.textAlign = "right"; ctx.fillStyle = "#e8e8e8"; ctx.fillText(on ? "true" : "false", cx - 18, cy); ctx.textAlign = "left";
  },
  click(app, node, w) { app.graph.setWidget(node, w.name, !w.value); },
};
