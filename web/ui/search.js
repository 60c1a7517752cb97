// Node search (double-click on the canvas, or a link dropped on empty space): fuzzy match over
// name, display name and category; optional filter by input or output type; Enter adds.
import { inputEntries, isWidgetInput, socketType } from "../graph/catalogue.js";
import { Graph } from "../graph/model.js";

// Subsequence match score: consecutive and word-start hits score higher; null = no match.
export function fuzzyScore(query, text) {
  const q = query.toLowerCase(), t = text.toLowerCase();
  if (!q) return 0;
  const at = t.indexOf(q);
  if (at >= 0) return 1000 - at - t.length * 0.1 + (at === 0 ? 200 : 0);
  let score = 0, ti = 0, run = 0;
  for (const c of q) {
    const found = t.indexOf(c, ti);
    if (found < 0) return null;
    run = found === ti ? run + 1 : 0;
    score += 10 + run * 5 + (found === 0 || " _/(".includes(t[found - 1]) ? 8 : 0);
    ti = found + 1;
  }
  return score - t.length * 0.1;
}

// Types a node accepts (socket inputs, including widget inputs) and produces.
export function nodeTypes(catalogue, type) {
  const def = catalogue.get(type);
  if (!def) return type === "Reroute" ? { ins: ["*"], outs: ["*"] } : { ins: [], outs: [] };
  const ins = inputEntries(def).map(([, spec]) => isWidgetInput(spec) ? socketType(spec) : spec[0]).map(String);
  return { ins, outs: (def.output ?? []).map(String) };
}

export function searchNodes(catalogue, query, { inputType = null, outputType = null, limit = 50 } = {}) {
  const res = [];
  for (const type of catalogue.all()) {
    if (inputType || outputType) {
      const t = nodeTypes(catalogue, type);
      if (inputType && !t.ins.some(x => Graph.typesMatch(inputType, x) && x !== "*")) continue;
      if (outputType && !t.outs.some(x => Graph.typesMatch(x, outputType) && x !== "*")) continue;
    }
    const cat = fuzzyScore(query, catalogue.category(type));
    const scores = [fuzzyScore(query, type), fuzzyScore(query, catalogue.displayName(type)),
      cat == null ? null : cat - 50].filter(s => s != null);   // category hits rank below name hits
    if (!scores.length) continue;
    res.push({ type, score: Math.max(...scores) });
  }
  res.sort((a, b) => b.score - a.score || a.type.localeCompare(b.type));
  return res.slice(0, limit);
}

export function parseQuery(value) {
  const filter = {}, words = [];
  for (const word of value.split(/\s+/)) {
    const m = word.match(/^(in|out):(.+)$/i);
    if (m) filter[m[1].toLowerCase() === "in" ? "inputType" : "outputType"] = m[2].toUpperCase();
    else if (word) words.push(word);
  }
  return { text: words.join(" "), filter };
}

export class SearchBox {
  constructor(root, catalogue) { this.root = root; this.catalogue = catalogue; this.el = null; }
  close() { this.el?.remove(); this.el = null; }
  get isOpen() { return !!this.el; }

  // filter: {inputType?, outputType?}; onPick(type)
  open(x, y, onPick, filter = {}) {
    this.close();
    const el = document.createElement("div");
    el.className = "lf-search";
    el.style.left = Math.min(x, innerWidth - 340) + "px"; el.style.top = Math.min(y, innerHeight - 360) + "px";
    const input = document.createElement("input");
    input.placeholder = filter.inputType ? `nodes taking ${filter.inputType}…` : filter.outputType ? `nodes giving ${filter.outputType}…` : "search nodes…";
    const list = document.createElement("div");
    list.className = "lf-search-list";
    el.append(input, list);
    let results = [], sel = 0;
    const render = () => {
      const q = parseQuery(input.value);
      results = searchNodes(this.catalogue, q.text, { ...filter, ...q.filter });
      sel = Math.min(sel, Math.max(0, results.length - 1));
      list.innerHTML = "";
      results.forEach((r, i) => {
        const row = document.createElement("div");
        row.className = "lf-search-item" + (i === sel ? " sel" : "");
        row.dataset.type = r.type;
        row.innerHTML = `<span class="name"></span><span class="cat"></span>`;
        row.querySelector(".name").textContent = this.catalogue.displayName(r.type);
        row.querySelector(".cat").textContent = this.catalogue.category(r.type);
        row.onclick = () => { this.close(); onPick(r.type); };
        list.appendChild(row);
      });
    };
    input.oninput = () => { sel = 0; render(); };
    // Typed filters: "in:LATENT" / "out:IMAGE" narrow by socket type, the rest is the fuzzy query.
    input.onkeydown = e => {
      e.stopPropagation();
      if (e.key === "ArrowDown") { sel = Math.min(results.length - 1, sel + 1); render(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { sel = Math.max(0, sel - 1); render(); e.preventDefault(); }
      else if (e.key === "Enter") { const r = results[sel]; this.close(); if (r) onPick(r.type); }
      else if (e.key === "Escape") this.close();
    };
    this.root.appendChild(el);
    this.el = el;
    render();
    input.focus();
  }
}
