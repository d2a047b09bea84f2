// `deno task web:serve [--run DIR] [--port N]`: serves the browser demo on 127.0.0.1 — the
// page (web/), its bundle (web/dist/, from `deno task web:build`), a run folder under /run/
// (the small run shipped in web/run/, or DIR) and the embedded Fashion-MNIST test images
// under /data/.

import { parseArgs } from "node:util";

const root = new URL("../../", import.meta.url).pathname;

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  map: "application/json",
  json: "application/json",
  gz: "application/gzip",
  ckpt: "application/octet-stream",
  png: "image/png",
};

/** The files a run's demo reads (nothing else of the run folder is served). */
const RUN_FILES = new Set(["run.json", "vqkd.ckpt", "beit.ckpt", "finetuned.ckpt"]);

/**
 * Starts the server.
 *
 * @param options the run folder, the port (0: any free one)
 * @returns the server, and its address once it listens
 */
export function serveDemo(options: { run?: string; port?: number } = {}): {
  server: Deno.HttpServer;
  url: Promise<string>;
} {
  const run = (options.run ?? `${root}web/run`).replace(/\/$/, "");
  const routes: [string, (rest: string) => string | null][] = [
    ["/run/", (rest) => (RUN_FILES.has(rest) ? `${run}/${rest}` : null)],
    [
      "/data/",
      (
        rest,
      ) => (/^t10k-(images-idx3|labels-idx1)-ubyte\.gz$/.test(rest)
        ? `${root}data/fashion_mnist/${rest}`
        : null),
    ],
    ["/dist/", (rest) => (/^[\w.-]+$/.test(rest) ? `${root}web/dist/${rest}` : null)],
    ["/", (rest) => (rest === "" || rest === "index.html" ? `${root}web/index.html` : null)],
  ];
  let resolveUrl: (url: string) => void = () => {};
  const url = new Promise<string>((r) => (resolveUrl = r));
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? 8000,
    onListen: ({ hostname, port }) => resolveUrl(`http://${hostname}:${port}/`),
  }, async (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    if (path === "/favicon.ico") return new Response(null, { status: 204 });
    for (const [prefix, resolve] of routes) {
      if (!path.startsWith(prefix)) continue;
      const file = resolve(path.slice(prefix.length));
      if (file === null) break;
      try {
        const body = await Deno.readFile(file);
        const type = TYPES[file.split(".").pop()!] ?? "application/octet-stream";
        return new Response(body, {
          headers: { "content-type": type, "cache-control": "no-store" },
        });
      } catch {
        break;
      }
    }
    return new Response("not found", { status: 404 });
  });
  return { server, url };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { run: { type: "string" }, port: { type: "string", default: "8000" } },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be an integer in 0–65535 (got "${values.port}")`);
    Deno.exit(2);
  }
  try {
    await Deno.stat(`${root}web/dist/demo.js`);
  } catch {
    console.error("web/dist/demo.js is missing: run `deno task web:build` first");
    Deno.exit(2);
  }
  const { url } = serveDemo({ run: values.run, port });
  console.log(`Serving the demo at ${await url} (run: ${values.run ?? "web/run"})`);
}
