// Parses diagrams with the tools that draw them: Mermaid (the `mermaid`
// package's own parser, on a jsdom window) and Graphviz (@viz-js/viz,
// Graphviz compiled to WebAssembly, laying the graph out to SVG). Exit 1 with
// the parser's message when one fails. `.ci/run` installs the packages from
// the npm registry into target/validators; the CLI tests run this on the
// output of `migcheck schema` and `migcheck show`.
//
//   node scripts/validate-diagrams.mjs NODE_MODULES (mermaid|dot) FILE...
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [modules, kind, ...files] = process.argv.slice(2);
if (!modules || !["mermaid", "dot"].includes(kind) || files.length === 0) {
  console.error("usage: node scripts/validate-diagrams.mjs NODE_MODULES (mermaid|dot) FILE...");
  process.exit(2);
}
const require = createRequire(join(modules, "noop.js"));
let check;
if (kind === "mermaid") {
  const { JSDOM } = require("jsdom");
  const dom = new JSDOM("<!DOCTYPE html><body></body>");
  globalThis.window = dom.window;
  globalThis.document = dom.window.document;
  const mermaid = (await import(join(modules, "mermaid/dist/mermaid.core.mjs"))).default;
  check = async (text) => {
    const parsed = await mermaid.parse(text);
    if (parsed.diagramType !== "er") throw new Error(`a ${parsed.diagramType} diagram, not an erDiagram`);
  };
} else {
  const { instance } = await import(join(modules, "@viz-js/viz/dist/viz.js"));
  const viz = await instance();
  check = async (text) => {
    const result = viz.render(text, { format: "svg" });
    if (result.status !== "success") throw new Error(result.errors.map((e) => e.message).join("; "));
  };
}
let failed = false;
for (const file of files) {
  try {
    await check(readFileSync(file, "utf8"));
    console.log(`${file}: valid ${kind}`);
  } catch (e) {
    failed = true;
    console.error(`${file}: ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
