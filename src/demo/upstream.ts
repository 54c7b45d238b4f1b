/**
 * The demo application for a first look (`serve --demo-upstream`): it answers every request with a
 * page showing what it received from the gateway — method, path and every header, identity included.
 */
import http from "node:http";
import type net from "node:net";
import { escapeHtml } from "../pipeline/respond.js";

export interface DemoUpstream {
  port: number;
  close(): Promise<void>;
}

function page(req: http.IncomingMessage): string {
  const rows = Object.entries(req.headers)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(Array.isArray(v) ? v.join(", ") : String(v))}</td></tr>`)
    .join("");
  const user = req.headers["x-remote-user"];
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>portcullis demo upstream</title>` +
    `<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}` +
    `table{border-collapse:collapse;width:100%}th,td{text-align:left;border-bottom:1px solid #ddd;padding:.3rem;font-family:monospace;vertical-align:top}` +
    `th{width:16rem;color:#555}</style></head><body>` +
    `<h1>Hello from the demo upstream</h1>` +
    `<p>This page is served by the small application that <code>portcullis serve --demo-upstream</code> starts. ` +
    `You reached it through the gateway${user ? ` as <strong>${escapeHtml(String(user))}</strong>` : ""}. ` +
    `Below is the request exactly as the application received it.</p>` +
    `<h2>${escapeHtml(req.method ?? "")} ${escapeHtml(req.url ?? "")}</h2><table>${rows}</table></body></html>\n`
  );
}

export function startDemoUpstream(port: number, host = "127.0.0.1"): Promise<DemoUpstream> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const accept = req.headers.accept ?? "";
      if (accept.includes("application/json") && !accept.includes("text/html")) {
        const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: Buffer.concat(chunks).length });
        res.writeHead(200, { "content-type": "application/json" }).end(body);
        return;
      }
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page(req));
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      });
    });
  });
}
