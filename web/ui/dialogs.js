// Modal dialogs (errors with traceback, missing nodes, image gallery) and the inline editor that
// puts a real <input>/<textarea> over a widget.
export class Dialogs {
  constructor(root) { this.root = root; this.editor = null; }

  modal(title, bodyEl, { className = "", buttons = [{ label: "Close" }] } = {}) {
    const back = document.createElement("div");
    back.className = "lf-modal-back";
    const box = document.createElement("div");
    box.className = "lf-modal " + className;
    const h = document.createElement("h2"); h.textContent = title;
    const foot = document.createElement("div"); foot.className = "lf-modal-foot";
    let onClose = null;
    const close = () => { if (!back.isConnected) return; back.remove(); onClose?.(); };
    for (const b of buttons) {
      const btn = document.createElement("button"); btn.textContent = b.label;
      if (b.primary) btn.className = "primary";
      btn.onclick = () => { if (b.action?.() === false) return; close(); };
      foot.appendChild(btn);
    }
    box.append(h, bodyEl, foot);
    back.appendChild(box);
    back.addEventListener("pointerdown", e => { if (e.target === back) close(); });
    back.addEventListener("keydown", e => { if (e.key === "Escape") { e.preventDefault(); close(); } e.stopPropagation(); });
    back.close = close;
    this.root.appendChild(back);
    return { el: box, close, set onClose(fn) { onClose = fn; } };
  }

  // The topmost open modal, closed by Escape wherever the focus is.
  closeTopmost() {
    const all = this.root.querySelectorAll(".lf-modal-back");
    const top = all[all.length - 1];
    if (top) { top.close(); return true; }
    return false;
  }

  // Ask for one line of text; resolves to it, or null when cancelled.
  prompt(title, value = "") {
    return new Promise(resolve => {
      const input = document.createElement("input");
      input.className = "lf-prompt-input"; input.value = value;
      let answer = null;
      const m = this.modal(title, input, { buttons: [{ label: "Cancel" }, { label: "OK", primary: true, action: () => { answer = input.value.trim() || null; } }] });
      m.onClose = () => resolve(answer);
      input.addEventListener("keydown", e => { if (e.key === "Enter") { answer = input.value.trim() || null; m.close(); } });
      setTimeout(() => { input.focus(); input.select(); });
    });
  }

  text(title, message, { className = "" } = {}) {
    const pre = document.createElement("pre"); pre.textContent = message;
    return this.modal(title, pre, { className });
  }

  executionError(d) {
    const body = document.createElement("div");
    const p = document.createElement("p");
    p.textContent = `${d.node_type ?? "node"} #${d.node_id}: ${d.exception_type ?? "Error"}: ${d.exception_message ?? ""}`;
    const pre = document.createElement("pre"); pre.className = "traceback";
    pre.textContent = (d.traceback ?? []).join("");
    body.append(p, pre);
    return this.modal("Execution error", body, { className: "lf-error" });
  }

  missingNodes(types) {
    const body = document.createElement("div");
    const p = document.createElement("p");
    p.textContent = "This workflow uses nodes that are not installed. They are kept as placeholders with their values and links, and are saved back unchanged:";
    const ul = document.createElement("ul");
    for (const t of types) { const li = document.createElement("li"); li.textContent = t; ul.appendChild(li); }
    body.append(p, ul);
    return this.modal("Missing node types", body, { className: "lf-missing" });
  }

  // The lightbox: one image at a time, scaled to the window (small images scaled up, pixelated so
  // their pixels stay visible), ←/→ or the buttons step through the outputs, a strip to jump.
  gallery(urls, start = 0) {
    const body = document.createElement("div"); body.className = "lf-gallery";
    const big = document.createElement("img"); big.className = "lf-gallery-main";
    const counter = document.createElement("div"); counter.className = "lf-gallery-counter";
    const prev = Object.assign(document.createElement("button"), { className: "lf-gallery-prev", textContent: "‹", title: "Previous (←)" });
    const next = Object.assign(document.createElement("button"), { className: "lf-gallery-next", textContent: "›", title: "Next (→)" });
    const strip = document.createElement("div"); strip.className = "strip";
    let at = start;
    const show = i => {
      at = (i + urls.length) % urls.length;
      big.src = urls[at];
      counter.textContent = `${at + 1} / ${urls.length}`;
      [...strip.children].forEach((t, j) => t.classList.toggle("current", j === at));
    };
    big.onload = () => big.classList.toggle("pixelated", big.naturalWidth < 256 && big.naturalHeight < 256);
    urls.forEach((u, i) => { const t = document.createElement("img"); t.src = u; t.onclick = () => show(i); strip.appendChild(t); });
    prev.onclick = () => show(at - 1); next.onclick = () => show(at + 1);
    const stage = document.createElement("div"); stage.className = "lf-gallery-stage";
    stage.append(prev, big, next);
    body.append(stage, counter, strip);
    body.tabIndex = -1;
    const m = this.modal("Images", body, { className: "lf-gallery-modal" });
    body.closest(".lf-modal-back").addEventListener("keydown", e => {
      if (e.key === "ArrowLeft") show(at - 1);
      else if (e.key === "ArrowRight") show(at + 1);
    });
    show(start);
    setTimeout(() => body.focus());
    return m;
  }

  // Edit a value in place; Enter (or blur) commits, Escape cancels. Multiline: Ctrl+Enter commits.
  editInline(rect, value, multiline, onCommit) {
    this.editor?.commit();
    const el = document.createElement(multiline ? "textarea" : "input");
    el.className = "lf-inline-edit";
    el.value = value;
    Object.assign(el.style, { left: rect.x + "px", top: rect.y + "px", width: rect.w + "px",
      height: (multiline ? Math.max(rect.h, 80) : rect.h) + "px" });
    let done = false;
    const finish = commit => {
      if (done) return; done = true;
      const v = el.value; el.remove(); this.editor = null;
      if (commit && v !== value) onCommit(v);
    };
    el.addEventListener("keydown", e => {
      e.stopPropagation();   // keep canvas shortcuts (and graph undo) out of text editing
      if (e.key === "Escape") finish(false);
      else if (e.key === "Enter" && (!multiline || e.ctrlKey || e.metaKey)) { e.preventDefault(); finish(true); }
    });
    el.addEventListener("blur", () => finish(true));
    this.root.appendChild(el);
    el.focus();
    if (!multiline) el.select();
    this.editor = { el, commit: () => finish(true) };
    return el;
  }
}
