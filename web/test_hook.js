// Test hook (window.__latentflow): model access and screen positions of node parts, so browser
// tests drive the real mouse and keyboard at the right places.
import { widgetRects, inputPos, outputPos, imageArea } from "./canvas/geometry.js";

export function testHook(app) {
  const screen = (wx, wy) => { const [x, y] = app.renderer.toScreen(wx, wy); const r = app.canvas.getBoundingClientRect(); return [x + r.left, y + r.top]; };
  return {
    app, graph: app.graph, undo: app.undo,
    node: id => app.graph.getNode(id),
    nodeIds: () => [...app.graph.nodes.keys()],
    summary: () => ({ nodes: app.graph.nodes.size, links: app.graph.links.size, groups: app.graph.groups.length }),
    titlePos: id => { const n = app.graph.getNode(id); return screen(n.pos[0] + Math.min(n.size[0] / 2, 60), n.pos[1] - 15); },
    bodyPos: id => { const n = app.graph.getNode(id); return screen(n.pos[0] + n.size[0] / 2, n.pos[1] + n.size[1] - 5); },
    inputPos: (id, slot) => { const n = app.graph.getNode(id); return screen(...inputPos(n, typeof slot === "string" ? n.inputIndex(slot) : slot)); },
    outputPos: (id, slot) => { const n = app.graph.getNode(id); return screen(...outputPos(n, slot)); },
    widgetRect: (id, name) => { const n = app.graph.getNode(id); const r = widgetRects(n).find(r => r.widget.name === name); return r && app.rectOnScreen(r); },
    imageArea: id => imageArea(app.graph.getNode(id)),
    imageAreaPos: id => { const n = app.graph.getNode(id); const a = imageArea(n); return screen(a[0] + a[2] / 2, a[1] + a[3] / 2); },
    widgetValue: (id, name) => app.graph.getNode(id)?.widget(name)?.value,
    exportApi: () => app.exportApi(),
    saveWorkflow: () => app.saveWorkflow(),
    loadWorkflow: data => app.loadWorkflow(data),
    setCatalogue: info => { app.catalogue.set(info); },
    catalogue: () => app.catalogue.defs,
    lastNodeId: () => app.graph.lastNodeId,
  };
}

