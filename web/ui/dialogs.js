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
    const close = () => back.remove();
    for (const b of buttons) {
      const btn = document.createElement("button"); btn.textContent = b.label;
      btn.onclick = () => { b.action?.(); close(); };
      foot.appendChild(btn);
    }
    box.append(h, bodyEl, foot);
    back.appendChild(box);
    back.addEventListener("pointerdown", e => { if (e.target === back) close(); });
    back.addEventListener("keydown", e => { if (e.key === "Escape") close(); e.stopPropagation(); });
    this.root.appendChild(back);
    return { el: box, close };
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

  gallery(urls, start = 0) {
    const body = document.createElement("div"); body.className = "lf-gallery";
    const big = document.createElement("img"); big.src = urls[start];
    const strip = document.createElement("div"); strip.className = "strip";
    urls.forEach(u => { const t = document.createElement("img"); t.src = u; t.onclick = () => { big.src = u; }; strip.appendChild(t); });
    body.append(big, strip);
    return this.modal("Images", body, { className: "lf-gallery-modal" });
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
