// `deno task web:build`: bundles the browser demo (web/demo.ts, with the parts of the
// library it imports) into one ES module, web/dist/demo.js, with esbuild, and reports its
// size. The bundle holds no Deno API at import time: the library reads files only in the
// functions a browser does not call.

import * as esbuild from "esbuild";

const root = new URL("../../", import.meta.url).pathname;
const outfile = `${root}web/dist/demo.js`;
const result = await esbuild.build({
  entryPoints: [`${root}web/demo.ts`],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: true,
  outfile,
  metafile: true,
  logLevel: "warning",
});
await esbuild.stop();
const bytes = (await Deno.stat(outfile)).size;
const gzipped = (await new Response(
  (await Deno.open(outfile)).readable.pipeThrough(new CompressionStream("gzip")),
).arrayBuffer()).byteLength;
const inputs = Object.keys(result.metafile.inputs).length;
console.log(
  `web/dist/demo.js: ${(bytes / 1024).toFixed(0)} KiB (${
    (gzipped / 1024).toFixed(0)
  } KiB gzip'd), ` +
    `${inputs} modules`,
);
