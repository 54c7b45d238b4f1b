/** WebSocket upgrades to the upstream, through http-proxy-3 (its `ws` pass keeps the handshake intact). */
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import { createProxyServer } from "http-proxy-3";
import type { UrlValue } from "../config/fields.js";
import { ERRORS } from "../errors.js";
import type { Logger } from "../log/logger.js";
import type { RequestScope } from "../pipeline/scope.js";
import { compactHeaders } from "./strip-headers.js";

export interface WebSocketProxy {
  upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer, scope: RequestScope): void;
  close(): void;
}

export function createWebSocketProxy(options: { url: UrlValue; ca?: string; log: Logger }): WebSocketProxy {
  const secure = options.url.protocol === "https:";
  const agent = secure ? new https.Agent({ ca: options.ca }) : new http.Agent();
  const proxy = createProxyServer({ target: options.url.href, agent, ws: true, xfwd: false, secure: true, ca: options.ca });
  // Without a listener an error event would throw; errors are handled per upgrade below.
  proxy.on("error", (err) => options.log.debug({ err: (err as Error).message }, "websocket proxy error"));
  proxy.on("econnreset", () => undefined);
  return {
    upgrade(req, socket, head, scope) {
      // http-proxy-3 copies every header, undefined ones too (they would be sent as values).
      compactHeaders(req.headers);
      proxy.ws(req, socket, head, {}, (err: NodeJS.ErrnoException) => {
        scope.log.warn({ requestId: scope.id, err: err.message, code: err.code }, "websocket upstream failed");
        if (!socket.destroyed) {
          const { status, message } = ERRORS.ERR_UPSTREAM_UNREACHABLE;
          const body = `${message}\n`;
          socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
        }
      });
    },
    close() {
      agent.destroy();
      proxy.close();
    },
  };
}
