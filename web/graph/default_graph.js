// The first-start canvas (docs/comfy-api.md §3.5): checkpoint loader → two prompts → empty latent →
// KSampler → VAE decode → save image, with the classic ids, values and link ids.
import { createNode } from "./catalogue.js";

const NODES = [
  [4, "CheckpointLoaderSimple", [26, 474], null],
  [6, "CLIPTextEncode", [415, 186], ["beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"]],
  [7, "CLIPTextEncode", [413, 389], ["text, watermark"]],
  [5, "EmptyLatentImage", [473, 609], [512, 512, 1]],
  [3, "KSampler", [863, 186], [156680208700286, "randomize", 20, 8, "euler", "normal", 1]],
  [8, "VAEDecode", [1209, 188], null],
  [9, "SaveImage", [1451, 189], null],
];
// [link id, origin, origin slot, target, target input name]
const LINKS = [[1, 4, 0, 3, "model"], [2, 5, 0, 3, "latent_image"], [3, 4, 1, 6, "clip"], [4, 6, 0, 3, "positive"],
  [5, 4, 1, 7, "clip"], [6, 7, 0, 3, "negative"], [7, 3, 0, 8, "samples"], [8, 4, 2, 8, "vae"], [9, 8, 0, 9, "images"]];

export function buildDefaultGraph(graph, catalogue) {
  for (const [id, type, pos, values] of NODES) {
    const node = createNode(catalogue, type, { id, pos });
    if (!node) continue;                       // server without this node: leave it out
    if (values) node.widgets.forEach((w, i) => {
      if (i >= values.length) return;
      if (w.type === "combo" && !w.options.values.includes(values[i])) return;   // keep a valid choice
      w.value = values[i];
    });
    if (type === "CLIPTextEncode") node.size = [422, 164];
    graph.addNode(node);
  }
  for (const [lid, o, oslot, t, name] of LINKS) {
    const target = graph.getNode(t);
    if (graph.getNode(o) && target) graph.connect(o, oslot, t, target.inputIndex(name), lid);
  }
}
