// example_pack's canvas extension: shows the three hooks of docs/canvas-extensions.md.
//  - widgets:     a "grey_level" widget kind that draws its value as a grey swatch and scrubs;
//  - nodeCreated: gives ImageBatchGrid's `background` input that widget and tints the pack's nodes;
//  - drawNode:    draws a small "example" badge in the corner of every node of this pack.
import { registerExtension, drawRow } from "/extension_api.js";

const PACK = "custom_nodes.example_pack";
const isOurs = node => String(node.def?.python_module ?? "").startsWith(PACK);

const greyLevel = {
  draw(ctx, node, w, r) {
    drawRow(ctx, r, w.name, Number(w.value).toFixed(2), { arrows: true });
    const v = Math.round(255 * Math.min(1, Math.max(0, Number(w.value))));
    ctx.fillStyle = `rgb(${v},${v},${v})`;
    ctx.strokeStyle = "#888";
    ctx.fillRect(r.x + r.w / 2 - 8, r.y + 5, 16, r.h - 10);
    ctx.strokeRect(r.x + r.w / 2 - 8, r.y + 5, 16, r.h - 10);
  },
  click(app, node, w, r, wx) {
    const step = w.options.step ?? 0.01;
    const dir = wx < r.x + r.w / 2 ? -1 : 1;
    app.graph.setWidget(node, w.name, Math.min(w.options.max ?? 1, Math.max(w.options.min ?? 0, +(Number(w.value) + dir * step * 10).toFixed(4))));
  },
  drag(app, node, w, start, dx) {
    app.graph.setWidget(node, w.name, Math.min(w.options.max ?? 1, Math.max(w.options.min ?? 0, +(start + dx / 200).toFixed(3))));
  },
};

registerExtension({
  name: "example_pack.canvas",
  widgets: { grey_level: greyLevel },
  nodeCreated(node) {
    if (!isOurs(node)) return;
    node.color ??= "#2d3b2d";
    if (node.type === "ImageBatchGrid") {
      const w = node.widget("background");
      if (w) w.type = "grey_level";      // same value, same serialisation; only the drawing changes
    }
  },
  drawNode(ctx, node) {
    if (!isOurs(node) || node.collapsed) return;
    const x = node.pos[0] + node.size[0] - 58, y = node.pos[1] + node.size[1] - 22;   // bottom-right corner
    ctx.fillStyle = "#5b7f3a";
    ctx.beginPath(); ctx.roundRect(x, y, 50, 16, 8); ctx.fill();
    ctx.fillStyle = "#eef"; ctx.font = "10px sans-serif"; ctx.textBaseline = "middle"; ctx.textAlign = "center";
    ctx.fillText("example", x + 25, y + 8); ctx.textAlign = "left";
  },
});
