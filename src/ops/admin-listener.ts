/**
 * The admin listener (`ports.admin`, default 127.0.0.1:4065): `/metrics` for Prometheus and
 * `/readyz`, which checks what requests depend on: the upstream, the store and (advisory) the directory.
 */
import http from "node:http";
import net from "node:net";
import type { Metrics } from "./metrics.js";

/**
 * `advisory` results are reported but do not make the gateway unready: a directory outage leaves
 * sessions and local accounts working, and taking every gateway out of rotation would help nobody.
 */
export type ReadinessCheck = () => Promise<{ ok: boolean; detail?: string; advisory?: boolean }>;

export interface AdminListener {
  port: number;
  close(): Promise<void>;
}

/** A TCP connect to host:port within `timeoutMs`. */
export function tcpCheck(host: string, port: number, timeoutMs = 1000): ReadinessCheck {
  return () =>
    new Promise((resolve) => {
      const socket = net.connect({ host, port });
      const done = (ok: boolean, detail?: string) => {
        socket.destroy();
        resolve({ ok, detail });
      };
      socket.setTimeout(timeoutMs, () => done(false, "timeout"));
      socket.once("connect", () => done(true));
      socket.once("error", (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
    });
}

export function startAdminListener(host: string, port: number, metrics: Metrics, checks: Record<string, ReadinessCheck>): Promise<AdminListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    if (path === "/readyz") {
      const names = Object.keys(checks);
      Promise.all(names.map((n) => checks[n]!())).then((results) => {
        const body = Object.fromEntries(names.map((n, i) => [n, results[i]]));
        const ok = results.every((r) => r.ok || r.advisory === true);
        res.writeHead(ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify({ ready: ok, checks: body }));
      });
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/** What `/readyz` checks: the upstream (a TCP connect), the store (a ping) and, advisory, the directory. */
export function readinessChecks(
  upstreamUrl: Pick<URL, "port" | "protocol" | "hostname">,
  store: { ping(): Promise<void> },
  directory: { check(): Promise<{ ok: true } | { ok: false; problem: { message: string } }> } | null,
): Record<string, ReadinessCheck> {
  const port = Number(upstreamUrl.port || (upstreamUrl.protocol === "https:" ? 443 : 80));
  const checks: Record<string, ReadinessCheck> = {
    upstream: tcpCheck(upstreamUrl.hostname.replace(/^\[|\]$/g, ""), port),
    store: () => store.ping().then(() => ({ ok: true }), (err: Error) => ({ ok: false, detail: err.message })),
  };
  if (directory) {
    checks.ldap = async () => {
      const r = await directory.check();
      return r.ok ? { ok: true, advisory: true } : { ok: false, advisory: true, detail: r.problem.message };
    };
  }
  return checks;
}
