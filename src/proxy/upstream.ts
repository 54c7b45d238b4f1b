/**
 * The upstream: plain HTTP through undici (./http-forward.ts), WebSocket upgrades through
 * http-proxy-3 (./websocket.ts). Nothing here may throw out of an event handler.
 */
import fs from "node:fs";
import type http from "node:http";
import type net from "node:net";
import type { UrlValue } from "../config/fields.js";
import { TlsMaterialError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import type { RequestScope } from "../pipeline/scope.js";
import type { Stage } from "../pipeline/stage.js";
import { createHttpForward } from "./http-forward.js";
import { createWebSocketProxy } from "./websocket.js";

export interface UpstreamOptions {
  url: UrlValue;
  timeoutMs: number;
  /** PEM CA bundle text for an HTTPS upstream. */
  ca?: string;
  log: Logger;
  /** Told of each upstream failure, for metrics. */
  onError?(kind: "unreachable" | "timeout" | "mid-response"): void;
}

export interface Upstream {
  /** The pipeline's last stage: sends the request on and streams the answer back. */
  stage: Stage;
  /** Proxies a WebSocket upgrade whose request has passed the upgrade checks. */
  upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer, scope: RequestScope): void;
  close(): Promise<void>;
}

export function createUpstream(options: UpstreamOptions): Upstream {
  const httpForward = createHttpForward(options);
  const ws = createWebSocketProxy(options);
  return {
    stage: httpForward.stage,
    upgrade: ws.upgrade,
    async close() {
      ws.close();
      await httpForward.close();
    },
  };
}

/** The CA file of `upstream.ca`, read now so that an unreadable one stops the start with its key named. */
export function readUpstreamCa(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new TlsMaterialError("upstream.ca", `${file} cannot be read (${(err as NodeJS.ErrnoException).code})`, err);
  }
}
