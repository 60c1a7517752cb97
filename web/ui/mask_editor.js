// Mask editor for LoadImage nodes: paint the inpainting mask over the image with a soft brush, erase,
// invert, clear; size and feather sliders; Ctrl+Z / Ctrl+Y step through the strokes (each stroke one
// step). Save uploads the mask through /upload/mask (the server writes the original image with its
// alpha replaced: painted = transparent, so LoadImage's MASK output is 1 there, as ComfyUI's editor
// does) into input/clipspace/, and points the node's image at it — one graph undo step.
export function openMaskEditor(app, node) {
  const w = node.widget("image");
  if (!w?.value) { app.toast("Choose an image first"); return null; }
  const value = String(w.value).replace(/\s*\[(input|output|temp)\]$/, "");
  const slash = value.lastIndexOf("/");
  const ref = { filename: value.slice(slash + 1), subfolder: slash > 0 ? value.slice(0, slash) : "", type: "input" };
  const img = new Image();
  img.crossOrigin = "anonymous";
  const editor = new MaskEditor(app, node, w, ref, img);
  img.onload = () => editor.open();
  img.onerror = () => app.toast(`Could not load ${value}`);
  img.src = app.api.viewUrl(ref);
  return editor;
}

class MaskEditor {
  constructor(app, node, widget, ref, img) {
    Object.assign(this, { app, node, widget, ref, img });
    this.tool = "brush"; this.size = 40; this.feather = 0.5;
    this.undoStack = []; this.redoStack = [];
  }

  open() {
    const { img } = this;
    const W = img.naturalWidth, H = img.naturalHeight;
    this.mask = Object.assign(document.createElement("canvas"), { width: W, height: H });   // alpha = mask
    this.mctx = this.mask.getContext("2d");
    // start from the mask the image already carries (transparent pixels)
    const probe = Object.assign(document.createElement("canvas"), { width: W, height: H }).getContext("2d");
    probe.drawImage(img, 0, 0);
    const px = probe.getImageData(0, 0, W, H), out = this.mctx.createImageData(W, H);
    for (let i = 3; i < px.data.length; i += 4) { out.data[i - 3] = out.data[i - 2] = out.data[i - 1] = 255; out.data[i] = 255 - px.data[i]; }
    this.mctx.putImageData(out, 0, 0);

    const body = document.createElement("div"); body.className = "lf-mask-editor";
    const tools = document.createElement("div"); tools.className = "lf-mask-tools";
    const mk = (tag, props) => Object.assign(document.createElement(tag), props);
    const brush = mk("button", { textContent: "Brush", className: "active", title: "Paint the mask (B)" });
    const eraser = mk("button", { textContent: "Eraser", title: "Erase the mask (E)" });
    const size = mk("input", { type: "range", min: 1, max: 256, value: this.size, className: "lf-mask-size", title: "Brush size" });
    const feather = mk("input", { type: "range", min: 0, max: 100, value: this.feather * 100, className: "lf-mask-feather", title: "Feather (soft edge)" });
    const invert = mk("button", { textContent: "Invert", className: "lf-mask-invert" });
    const clear = mk("button", { textContent: "Clear", className: "lf-mask-clear" });
    const undo = mk("button", { textContent: "Undo", className: "lf-mask-undo" });
    const redo = mk("button", { textContent: "Redo", className: "lf-mask-redo" });
    const label = t => mk("span", { textContent: t, className: "lf-muted" });
    tools.append(brush, eraser, label("size"), size, label("feather"), feather, invert, clear, undo, redo);
    const view = mk("canvas", { className: "lf-mask-canvas" });
    const k = Math.min(1, (innerWidth * 0.8) / W, (innerHeight * 0.65) / H);
    view.width = Math.round(W * k); view.height = Math.round(H * k);
    this.view = view; this.k = k;
    body.append(tools, view);
    const setTool = t => { this.tool = t; brush.classList.toggle("active", t === "brush"); eraser.classList.toggle("active", t === "eraser"); };
    brush.onclick = () => setTool("brush"); eraser.onclick = () => setTool("eraser");
    size.oninput = () => { this.size = Number(size.value); };
    feather.oninput = () => { this.feather = Number(feather.value) / 100; };
    invert.onclick = () => this.edit(() => { const d = this.mctx.getImageData(0, 0, W, H); for (let i = 3; i < d.data.length; i += 4) d.data[i] = 255 - d.data[i]; this.mctx.putImageData(d, 0, 0); });
    clear.onclick = () => this.edit(() => this.mctx.clearRect(0, 0, W, H));
    undo.onclick = () => this.undo(); redo.onclick = () => this.redo();
    this.bindPainting(view);
    this.modal = this.app.dialogs.modal("Mask editor", body, { className: "lf-mask-modal", buttons: [
      { label: "Cancel" }, { label: "Save", primary: true, action: () => { this.save(); } }] });
    this.modal.el.closest(".lf-modal-back").addEventListener("keydown", e => {
      const ctrl = e.ctrlKey || e.metaKey, key = e.key.toLowerCase();
      if (ctrl && key === "z") { e.preventDefault(); e.shiftKey ? this.redo() : this.undo(); }
      else if (ctrl && key === "y") { e.preventDefault(); this.redo(); }
      else if (key === "b") setTool("brush");
      else if (key === "e") setTool("eraser");
    });
    body.tabIndex = -1; setTimeout(() => body.focus());
    this.redraw();
    window.__latentflowMaskEditor = this;   // tests read the mask through it
  }

  snapshot() { return this.mctx.getImageData(0, 0, this.mask.width, this.mask.height); }
  edit(fn) { this.undoStack.push(this.snapshot()); this.redoStack = []; fn(); this.redraw(); }
  undo() { if (!this.undoStack.length) return; this.redoStack.push(this.snapshot()); this.mctx.putImageData(this.undoStack.pop(), 0, 0); this.redraw(); }
  redo() { if (!this.redoStack.length) return; this.undoStack.push(this.snapshot()); this.mctx.putImageData(this.redoStack.pop(), 0, 0); this.redraw(); }

  bindPainting(view) {
    let last = null;
    const at = e => { const r = view.getBoundingClientRect(); return [(e.clientX - r.left) / this.k, (e.clientY - r.top) / this.k]; };
    view.addEventListener("pointerdown", e => {
      view.setPointerCapture(e.pointerId);
      this.undoStack.push(this.snapshot()); this.redoStack = [];
      last = at(e); this.dab(...last); this.redraw();
    });
    view.addEventListener("pointermove", e => {
      if (!last) return;
      const p = at(e), d = Math.hypot(p[0] - last[0], p[1] - last[1]), step = Math.max(1, this.size / 4);
      for (let t = step; t <= d; t += step) this.dab(last[0] + (p[0] - last[0]) * t / d, last[1] + (p[1] - last[1]) * t / d);
      if (d >= step) last = p;
      this.redraw();
    });
    const end = () => { last = null; };
    view.addEventListener("pointerup", end); view.addEventListener("pointercancel", end);
  }

  // one round dab: full strength inside (1 - feather) of the radius, fading to 0 at the edge
  dab(x, y) {
    const r = this.size / 2, ctx = this.mctx;
    const g = ctx.createRadialGradient(x, y, 0, x, y, r);
    g.addColorStop(0, "rgba(255,255,255,1)");
    g.addColorStop(Math.max(0, Math.min(0.999, 1 - this.feather)), "rgba(255,255,255,1)");
    g.addColorStop(1, "rgba(255,255,255,0)");
    ctx.globalCompositeOperation = this.tool === "eraser" ? "destination-out" : "source-over";
    ctx.fillStyle = g; ctx.beginPath(); ctx.arc(x, y, r, 0, Math.PI * 2); ctx.fill();
    ctx.globalCompositeOperation = "source-over";
  }

  redraw() {
    const ctx = this.view.getContext("2d"), { width: W, height: H } = this.view;
    ctx.clearRect(0, 0, W, H);
    ctx.drawImage(this.img, 0, 0, W, H);
    // the mask tinted: white mask pixels become translucent black over the image
    const tint = Object.assign(document.createElement("canvas"), { width: W, height: H }).getContext("2d");
    tint.drawImage(this.mask, 0, 0, W, H);
    tint.globalCompositeOperation = "source-in"; tint.fillStyle = "rgba(0,0,0,0.7)"; tint.fillRect(0, 0, W, H);
    ctx.drawImage(tint.canvas, 0, 0);
  }

  // the mask as ComfyUI's editor sends it: an image whose alpha is 255 - mask
  maskBlob() {
    const { width: W, height: H } = this.mask;
    const out = Object.assign(document.createElement("canvas"), { width: W, height: H }).getContext("2d");
    out.drawImage(this.img, 0, 0);
    const d = out.getImageData(0, 0, W, H), m = this.snapshot();
    for (let i = 3; i < d.data.length; i += 4) d.data[i] = 255 - m.data[i];
    out.putImageData(d, 0, 0);
    return new Promise(resolve => out.canvas.toBlob(resolve, "image/png"));
  }

  async save() {
    const blob = await this.maskBlob();
    const form = new FormData();
    form.append("image", blob, `clipspace-mask-${Date.now()}.png`);
    form.append("type", "input");
    form.append("subfolder", "clipspace");
    form.append("original_ref", JSON.stringify(this.ref));
    let res;
    try { res = await this.app.api.json("/upload/mask", { method: "POST", body: form }); }
    catch (e) { this.app.toast("Saving the mask failed: " + (e.body?.error?.message ?? e.message)); return; }
    const name = res.subfolder ? `${res.subfolder}/${res.name}` : res.name;
    const w = this.widget;
    if (!w.options.values.includes(name)) w.options.values = [...w.options.values, name];
    this.app.undo.transact("mask", () => this.app.graph.setWidget(this.node, w.name, name));
    this.app.renderer.markDirty();
  }
}
