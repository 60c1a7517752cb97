// Image upload button (LoadImage, LoadImageMask): picks a file, POSTs /upload/image, selects it in
// the image combo. Paste and drop onto the node go through the same uploadTo().
import { P } from "../canvas/theme.js";
import { pickFile } from "../files.js";
import { imageArea } from "../canvas/geometry.js";

export const uploadWidget = {
  draw(ctx, node, w, r) {
    ctx.fillStyle = P.uploadBg; ctx.strokeStyle = P.uploadLine; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.roundRect(r.x, r.y, r.w, r.h, r.h / 2); ctx.fill(); ctx.stroke();
    ctx.fillStyle = P.rowValue; ctx.font = "12px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    ctx.fillText("choose file to upload", r.x + r.w / 2, r.y + r.h / 2); ctx.textAlign = "left";
  },
  click(app, node) { pickFile("image/*", file => uploadTo(app, node, file)); },
};

export async function uploadTo(app, node, file) {
  const target = node.widgets.find(x => x.type === "upload")?.forWidget ?? "image";
  const w = node.widget(target);
  if (!w) return;
  const res = await app.api.uploadImage(file);
  const name = res.subfolder ? `${res.subfolder}/${res.name}` : res.name;
  if (!w.options.values.includes(name)) w.options.values = [...w.options.values, name];
  app.graph.setWidget(node, w.name, name);
}

// Thumbnail of the selected input image, drawn in the node's image area.
export function refreshThumbnail(app, node) {
  const w = node.widgets.find(x => x.type === "upload");
  const value = w && node.widget(w.forWidget)?.value;
  if (!value) return;
  const slash = value.lastIndexOf("/");
  const url = app.api.viewUrl({ filename: value.slice(slash + 1), subfolder: slash > 0 ? value.slice(0, slash) : "", type: "input" });
  if (node.rt.thumbUrl === url) return;
  node.rt.thumbUrl = url;
  const img = new Image();
  img.onload = () => { node.rt.images = [{ url, img }]; fitToImage(node, img); app.renderer.markDirty(); };
  img.onerror = () => { node.rt.images = null; app.renderer.markDirty(); };
  img.src = url;
}

// Grow an image node so its picture shows at a useful size (view state, like output images: never
// shrinks a node the user made bigger, and is not an undo step).
export function fitToImage(node, img) {
  const width = Math.max(node.size[0], 300);
  const top = imageArea(node)[1] - node.pos[1];   // where the widgets end
  const areaH = Math.min(512, Math.round((width - 12) * img.height / Math.max(1, img.width)));
  node.size = [width, Math.max(node.size[1], top + areaH + 6)];
}
