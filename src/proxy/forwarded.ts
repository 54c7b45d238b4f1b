/**
 * Two steps around the authentication stages: client headers are stripped first, so nothing a client
 * wrote can pass for identity; forwarding headers are written last, with what the upstream may rely on.
 * Both serve plain requests (as stages) and WebSocket upgrades (called directly).
 */
import type http from "node:http";
import type { ListenerKind, RequestScope } from "../pipeline/scope.js";
import type { Stage } from "../pipeline/stage.js";
import { stripClientClaims, stripHopByHop } from "./strip-headers.js";

export function stripClient(headers: http.IncomingHttpHeaders, identityNames: readonly string[], upgrade = false): void {
  stripHopByHop(headers, upgrade);
  stripClientClaims(headers, identityNames);
}

export function setForwarded(req: http.IncomingMessage, scope: RequestScope, listenerPort: number): void {
  const headers = req.headers;
  headers["x-forwarded-for"] = scope.forwardedFor;
  headers["x-forwarded-proto"] = scope.listener === "secure" ? "https" : "http";
  if (headers.host) headers["x-forwarded-host"] = headers.host;
  headers["x-forwarded-port"] = String(listenerPort);
  headers["x-request-id"] = scope.id;
  req.url = scope.forwardPath + scope.query;
}

/** @param upgrade keep the WebSocket handshake's `Connection`/`Upgrade` headers */
export function stripClientHeaders(identityNames: readonly string[], upgrade = false): Stage {
  const lowered = identityNames.map((n) => n.toLowerCase());
  return { name: "stripClientHeaders", run: ({ req }) => stripClient(req.headers, lowered, upgrade) };
}

export function forwardedHeaders(listenerPort: (kind: ListenerKind) => number): Stage {
  return { name: "forwardedHeaders", run: ({ req, scope }) => setForwarded(req, scope, listenerPort(scope.listener)) };
}
