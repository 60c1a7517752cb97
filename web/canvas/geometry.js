// Where things are on a node, in world coordinates; shared by the renderer and hit-testing.
import { LAYOUT } from "../graph/model.js";
import { widgetHeight, isWidgetVisible } from "../graph/catalogue.js";

const { TITLE_H, SLOT_H, PAD, COLLAPSED_W } = LAYOUT;

export const TYPE_COLORS = {
  MODEL: "#b39ddb", CLIP: "#ffd54f", VAE: "#ef5350", CONDITIONING: "#ffa726", LATENT: "#f06292",
  IMAGE: "#64b5f6", MASK: "#81c784", CONTROL_NET: "#4db6ac", UPSCALE_MODEL: "#9575cd", INT: "#aed581",
  FLOAT: "#aed581", STRING: "#90a4ae", BOOLEAN: "#90a4ae", COMBO: "#90a4ae", "*": "#bdbdbd",
};
export function typeColor(type) {
  const t = String(type);
  if (TYPE_COLORS[t]) return TYPE_COLORS[t];
  let h = 0;
  for (const c of t) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h},55%,65%)`;
}

export function nodeBounds(node) {
  if (node.collapsed) return [node.pos[0], node.pos[1] - TITLE_H, COLLAPSED_W, TITLE_H];
  return [node.pos[0], node.pos[1] - TITLE_H, node.size[0], node.size[1] + TITLE_H];
}

// node.pos is the top-left of the body; the title bar sits above it (as in UI-format files).
export function inputPos(node, i) {
  if (node.collapsed) return [node.pos[0], node.pos[1] - TITLE_H / 2];
  return [node.pos[0], node.pos[1] + SLOT_H * (i + 0.5) + 2];
}
export function outputPos(node, i) {
  if (node.collapsed) return [node.pos[0] + COLLAPSED_W, node.pos[1] - TITLE_H / 2];
  return [node.pos[0] + node.size[0], node.pos[1] + SLOT_H * (i + 0.5) + 2];
}

// Visible widget rows: [{widget, index, x, y, w, h}] in world coordinates.
export function widgetRects(node) {
  const rows = Math.max(node.inputs.length, node.outputs.length);
  let y = node.pos[1] + rows * SLOT_H + PAD;
  const out = [];
  const visible = node.widgets.filter(w => isWidgetVisible(node, w));
  const fixed = visible.reduce((s, w) => s + (w.type === "multiline" ? 0 : widgetHeight(w) + 4), 0);
  const multis = visible.filter(w => w.type === "multiline").length;
  const room = node.pos[1] + node.size[1] - y - fixed - PAD;
  node.widgets.forEach((w, index) => {
    if (!isWidgetVisible(node, w)) return;
    let h = widgetHeight(w);
    if (w.type === "multiline") h = Math.max(h, multis ? room / multis - 4 : h);
    out.push({ widget: w, index, x: node.pos[0] + 10, y, w: node.size[0] - 20, h });
    y += h + 4;
  });
  return out;
}

// The free area below widgets, where output images and previews are drawn.
export function imageArea(node) {
  const rects = widgetRects(node);
  const rows = Math.max(node.inputs.length, node.outputs.length);
  const top = rects.length ? rects.at(-1).y + rects.at(-1).h + 6 : node.pos[1] + rows * SLOT_H + PAD;
  return [node.pos[0] + 6, top, node.size[0] - 12, node.pos[1] + node.size[1] - top - 6];
}

export function pointInRect(x, y, r) { return x >= r[0] && y >= r[1] && x <= r[0] + r[2] && y <= r[1] + r[3]; }
export function rectsOverlap(a, b) { return a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3]; }
