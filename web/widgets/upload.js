// Image upload button (LoadImage, LoadImageMask): picks a file, POSTs /upload/image, selects it in
// the image combo. Paste and drop onto the node go through the same uploadTo().
import { pickFile } from "../files.js";

export const uploadWidget = {
  draw(ctx, node, w, r) {
    ctx.fillStyle = "#2b3a55"; ctx.strokeStyle = "#4f6a99"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.roundRect(r.x, r.y, r.w, r.h, r.h / 2); ctx.fill(); ctx.stroke();
    ctx.fillStyle = "#e8e8e8"; ctx.font = "12px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
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
  img.onload = () => { node.rt.images = [{ url, img }]; app.renderer.markDirty(); };
  img.onerror = () => { node.rt.images = null; app.renderer.markDirty(); };
  img.src = url;
}
