// Markdown for MarkdownNote nodes, drawn on the canvas: headings (#..###), bullet and numbered lists,
// fenced code blocks, block quotes, rules, and inline **bold**, *italic*, `code` and [links](url)
// (shown as their text). Editing still happens on the raw text (double-click opens the editor).
import { P } from "../canvas/theme.js";

// [{kind: "h1"|"h2"|"h3"|"p"|"li"|"quote"|"code"|"hr", text, marker?}]
export function parseMarkdown(src) {
  const blocks = [];
  let code = null;
  for (const line of String(src ?? "").split("\n")) {
    if (/^\s*```/.test(line)) { if (code) { blocks.push({ kind: "code", text: code.join("\n") }); code = null; } else code = []; continue; }
    if (code) { code.push(line); continue; }
    let m;
    if ((m = line.match(/^(#{1,6})\s+(.*)$/))) blocks.push({ kind: "h" + Math.min(3, m[1].length), text: m[2] });
    else if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) blocks.push({ kind: "hr", text: "" });
    else if ((m = line.match(/^\s*[-*+]\s+(.*)$/))) blocks.push({ kind: "li", text: m[1], marker: "•" });
    else if ((m = line.match(/^\s*(\d+)[.)]\s+(.*)$/))) blocks.push({ kind: "li", text: m[2], marker: m[1] + "." });
    else if ((m = line.match(/^>\s?(.*)$/))) blocks.push({ kind: "quote", text: m[1] });
    else if (line.trim() === "") blocks.push({ kind: "gap", text: "" });
    else blocks.push({ kind: "p", text: line });
  }
  if (code) blocks.push({ kind: "code", text: code.join("\n") });
  return blocks;
}

// Inline runs: [{text, bold, italic, code}]
export function parseInline(text) {
  const runs = [];
  const re = /(\*\*[^*]+\*\*|__[^_]+__|\*[^*]+\*|_[^_]+_|`[^`]+`|\[[^\]]+\]\([^)]*\))/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) runs.push({ text: text.slice(last, m.index) });
    const t = m[0];
    if (t.startsWith("**") || t.startsWith("__")) runs.push({ text: t.slice(2, -2), bold: true });
    else if (t.startsWith("`")) runs.push({ text: t.slice(1, -1), code: true });
    else if (t.startsWith("[")) runs.push({ text: t.slice(1, t.indexOf("]")), link: true });
    else runs.push({ text: t.slice(1, -1), italic: true });
    last = m.index + t.length;
  }
  if (last < text.length) runs.push({ text: text.slice(last) });
  return runs;
}

const SIZES = { h1: 20, h2: 16, h3: 14 };

export function drawMarkdown(ctx, text, r) {
  ctx.save();
  ctx.beginPath(); ctx.rect(r.x, r.y, r.w, r.h); ctx.clip();
  ctx.textBaseline = "top";
  let y = r.y + 6;
  const left = r.x + 8, right = r.x + r.w - 8;
  for (const b of parseMarkdown(text)) {
    if (y > r.y + r.h) break;
    if (b.kind === "gap") { y += 6; continue; }
    if (b.kind === "hr") { ctx.fillStyle = P.rowLine; ctx.fillRect(left, y + 4, right - left, 1); y += 10; continue; }
    if (b.kind === "code") {
      const lines = b.text.split("\n");
      ctx.fillStyle = P.rowBg; ctx.fillRect(left, y, right - left, lines.length * 15 + 6);
      ctx.font = "12px monospace"; ctx.fillStyle = P.textValue;
      lines.forEach((l, i) => ctx.fillText(l, left + 4, y + 3 + i * 15));
      y += lines.length * 15 + 10; continue;
    }
    const size = SIZES[b.kind] ?? 12, lineH = size + 4;
    let x = left;
    if (b.kind === "li") { ctx.font = `${size}px sans-serif`; ctx.fillStyle = P.textValue; ctx.fillText(b.marker, x, y); x += ctx.measureText(b.marker).width + 6; }
    if (b.kind === "quote") { ctx.fillStyle = P.rowLine; ctx.fillRect(x, y, 3, lineH); x += 10; }
    const start = x;
    for (const run of parseInline(b.text)) {
      const bold = run.bold || b.kind.startsWith("h");
      ctx.font = `${run.italic ? "italic " : ""}${bold ? "bold " : ""}${size}px ${run.code ? "monospace" : "sans-serif"}`;
      ctx.fillStyle = run.link ? "#4f8cff" : b.kind === "quote" ? P.rowLabel : P.textValue;
      for (const word of run.text.split(/(\s+)/)) {
        if (!word) continue;
        const wW = ctx.measureText(word).width;
        if (x + wW > right && x > start && word.trim()) { x = start; y += lineH; }
        if (run.code) { ctx.save(); ctx.fillStyle = P.rowBg; ctx.fillRect(x - 1, y - 1, wW + 2, lineH); ctx.restore(); }
        ctx.fillText(word, x, y);
        x += wW;
      }
    }
    y += lineH + (b.kind.startsWith("h") ? 4 : 2);
  }
  ctx.restore();
}
