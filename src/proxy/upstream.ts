/**
 * Forwarding to `upstream.url` with http-proxy-3 over keep-alive connections, HTTP and WebSocket.
 * Upstream failures become 502 (unreachable) or 504 (too slow) pages; client aborts and upstream
 * resets end the exchange quietly. Nothing here may throw out of an event handler.
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import { createProxyServer } from "http-proxy-3";
import { upstreamTimeout, upstreamUnreachable } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { sendError } from "../pipeline/respond.js";
import type { RequestScope } from "../pipeline/scope.js";
import type { Stage } from "../pipeline/stage.js";
import { stripHopByHop } from "./strip-headers.js";

export interface UpstreamOptions {
  url: URL;
  timeoutMs: number;
  /** PEM CA bundle text for an HTTPS upstream. */
  ca?: string;
  log: Logger;
}

const TIMEOUT_CODE = "PORTCULLIS_UPSTREAM_TIMEOUT";

export interface Upstream {
  /** The pipeline's last stage: sends the request on and streams the answer back. */
  stage: Stage;
  /** Proxies a WebSocket upgrade whose request has passed the upgrade checks. */
  upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer, scope: RequestScope): void;
  close(): void;
}

export function createUpstream(options: UpstreamOptions): Upstream {
  const secure = options.url.protocol === "https:";
  const agentOptions = { keepAlive: true, keepAliveMsecs: 1000, maxFreeSockets: 256, scheduling: "lifo" as const };
  const agent = secure ? new https.Agent({ ...agentOptions, ca: options.ca }) : new http.Agent(agentOptions);
  const proxy = createProxyServer({
    target: options.url.href,
    agent,
    ws: true,
    xfwd: false,
    secure: true,
    ca: options.ca,
    changeOrigin: false,
  });

  // The upstream timeout covers waiting for the answer and any stall while it streams.
  proxy.on("proxyReq", (proxyReq) => {
    proxyReq.setTimeout(options.timeoutMs, () => {
      proxyReq.destroy(Object.assign(new Error("upstream timed out"), { code: TIMEOUT_CODE }));
    });
  });
  // transfer-encoding aside, hop-by-hop response headers describe the upstream connection, not ours.
  proxy.on("proxyRes", (proxyRes) => {
    const te = proxyRes.headers["transfer-encoding"];
    stripHopByHop(proxyRes.headers);
    if (te !== undefined) proxyRes.headers["transfer-encoding"] = te;
  });
  // Without these listeners an error event would throw; every error is handled per request below.
  proxy.on("error", (err) => options.log.debug({ err }, "proxy error"));
  proxy.on("econnreset", () => undefined);

  const stage: Stage = {
    name: "proxy",
    run({ req, res, scope }) {
      scope.route = "proxy";
      proxy.web(req, res, {}, (err: NodeJS.ErrnoException) => {
        const timedOut = err.code === TIMEOUT_CODE;
        if (res.headersSent || res.destroyed || req.destroyed) {
          // The answer had begun (or the client left): all we can do is end the connection.
          scope.log.warn({ requestId: scope.id, err: err.message, code: err.code }, "upstream failed mid-response");
          res.destroy();
          return;
        }
        scope.log.warn({ requestId: scope.id, err: err.message, code: err.code }, timedOut ? "upstream timeout" : "upstream unreachable");
        sendError(req, res, scope, timedOut ? upstreamTimeout() : upstreamUnreachable(err));
      });
      return "done";
    },
  };

  return {
    stage,
    upgrade(req, socket, head, scope) {
      socket.on("error", () => undefined);
      proxy.ws(req, socket, head, {}, (err: NodeJS.ErrnoException) => {
        scope.log.warn({ requestId: scope.id, err: err.message, code: err.code }, "websocket upstream failed");
        if (!socket.destroyed) {
          socket.end("HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nThe application behind the gateway could not be reached.\n");
        }
      });
    },
    close() {
      agent.destroy();
      proxy.close();
    },
  };
}

export function readUpstreamCa(file: string | undefined): string | undefined {
  return file === undefined ? undefined : fs.readFileSync(file, "utf8");
}
