// example_pack's browser extension. It runs under both frontends Latentflow can serve
// (docs/canvas-extensions.md, "Which frontend"): it asks which one loaded it and imports only
// that frontend's API, so neither meets an import it cannot resolve.
//
// Latentflow's canvas (the default) gets the three hooks of docs/canvas-extensions.md:
//  - widgets:     a "grey_level" widget kind that draws its value as a grey swatch and scrubs;
//  - nodeCreated: gives ImageBatchGrid's `background` input that widget and tints the pack's nodes;
//  - drawNode:    draws a small "example" badge in the corner of every node of this pack.
// The official ComfyUI frontend (--front-end official) gets the same looks through its LiteGraph
// hooks: the pack's nodes are tinted and badged in the title bar, where ImageBatchGrid also shows its
// background grey as a swatch.

const PACK = "custom_nodes.example_pack";
const BADGE = { w: 50, h: 16 };
const grey = value => Math.round(255 * Math.min(1, Math.max(0, Number(value))));

function drawBadge(ctx, x, y) {
  ctx.save();
  ctx.fillStyle = "#5b7f3a";
  ctx.beginPath(); ctx.roundRect(x, y, BADGE.w, BADGE.h, 8); ctx.fill();
  ctx.fillStyle = "#eef"; ctx.font = "10px sans-serif"; ctx.textBaseline = "middle"; ctx.textAlign = "center";
  ctx.fillText("example", x + BADGE.w / 2, y + BADGE.h / 2);
  ctx.restore();
}

function drawSwatch(ctx, x, y, size, value) {
  ctx.save();
  const v = grey(value);
  ctx.fillStyle = `rgb(${v},${v},${v})`;
  ctx.strokeStyle = "#888";
  ctx.fillRect(x, y, size, size);
  ctx.strokeRect(x, y, size, size);
  ctx.restore();
}

// --- Latentflow's canvas (/extension_api.js) ------------------------------------------------------
function registerForLatentflow({ registerExtension, drawRow }) {
  const isOurs = node => String(node.def?.python_module ?? "").startsWith(PACK);
  const clamp = (w, v) => Math.min(w.options.max ?? 1, Math.max(w.options.min ?? 0, v));
  const greyLevel = {
    draw(ctx, node, w, r) {
      drawRow(ctx, r, w.name, Number(w.value).toFixed(2), { arrows: true });
      drawSwatch(ctx, r.x + r.w / 2 - 8, r.y + 5, r.h - 10, w.value);
    },
    click(app, node, w, r, wx) {
      const step = w.options.step ?? 0.01;
      const dir = wx < r.x + r.w / 2 ? -1 : 1;
      app.graph.setWidget(node, w.name, clamp(w, +(Number(w.value) + dir * step * 10).toFixed(4)));
    },
    drag(app, node, w, start, dx) {
      app.graph.setWidget(node, w.name, clamp(w, +(start + dx / 200).toFixed(3)));
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
    drawNode(ctx, node) {                  // world coordinates; node.pos is the body's top-left
      if (!isOurs(node) || node.collapsed) return;
      drawBadge(ctx, node.pos[0] + node.size[0] - BADGE.w - 8, node.pos[1] + node.size[1] - BADGE.h - 6);
    },
  });
}

// --- the official ComfyUI frontend (/scripts/app.js) ----------------------------------------------
function registerForOfficial(app) {
  app.registerExtension({
    name: "example_pack.canvas",
    async beforeRegisterNodeDef(nodeType, nodeData) {
      if (!String(nodeData.python_module ?? "").startsWith(PACK)) return;
      const created = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function () {
        const result = created?.apply(this, arguments);
        this.color ??= "#2d3b2d";
        return result;
      };
      const drawForeground = nodeType.prototype.onDrawForeground;
      // Node-local coordinates, the body's top-left at 0,0. The widgets are drawn after this hook,
      // over the body, so the badge and the swatch go in the title bar (the 30 units above the body).
      nodeType.prototype.onDrawForeground = function (ctx) {
        drawForeground?.apply(this, arguments);
        if (this.flags?.collapsed) return;
        const right = this.size[0] - BADGE.w - 8;
        drawBadge(ctx, right, -23);
        const w = nodeData.name === "ImageBatchGrid" ? this.widgets?.find(w => w.name === "background") : null;
        if (w) drawSwatch(ctx, right - 20, -22, 14, w.value);
      };
    },
  });
}

if (window.latentflow?.registerExtension) {
  registerForLatentflow(await import("/extension_api.js"));
} else if (window.comfyAPI?.app?.app) {
  registerForOfficial((await import("/scripts/app.js")).app);
} else {
  console.warn("example_pack: loaded by a frontend it does not know; no extension registered");
}
