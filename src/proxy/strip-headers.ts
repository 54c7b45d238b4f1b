/**
 * Header hygiene before a request leaves for the upstream and before a response returns to the client.
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the message; identity and
 * forwarding headers from clients are never believed (SPEC §7): the gateway writes its own.
 */
import type http from "node:http";

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "upgrade",
];

/** Headers that only the gateway may set on upstream requests (and every `x-forwarded-*`). */
const FORWARDING = ["forwarded", "x-real-ip", "x-request-id", "x-original-url", "x-rewrite-url"];

/** Never removed because a client named them in `Connection`: they frame the message or name the site. */
const PROTECTED = new Set(["content-length", "transfer-encoding", "host"]);

/**
 * Removes hop-by-hop headers, including those a `Connection` header names.
 * `transfer-encoding` is hop-by-hop too, but Node's parser has already validated it (CL+TE is refused
 * before we get here) and the outgoing request must stay chunked when the body is, so it stays.
 * For WebSocket upgrades `connection` and `upgrade` are kept: they are the handshake.
 */
export function stripHopByHop(headers: http.IncomingHttpHeaders | http.OutgoingHttpHeaders, upgrade = false): void {
  const connection = headers.connection;
  if (typeof connection === "string" && connection !== "keep-alive" && connection !== "close") {
    for (const token of connection.split(",")) {
      const name = token.trim().toLowerCase();
      if (name && !PROTECTED.has(name) && !(upgrade && name === "upgrade")) delete headers[name];
    }
  }
  for (const name of HOP_BY_HOP) {
    if (upgrade && (name === "connection" || name === "upgrade")) continue;
    if (headers[name] !== undefined) delete headers[name];
  }
}

/** Removes every header through which a client could claim an identity or an origin. */
export function stripClientClaims(headers: http.IncomingHttpHeaders, identityNames: readonly string[]): void {
  for (const name of FORWARDING) if (headers[name] !== undefined) delete headers[name];
  for (const name in headers) {
    // CGI-style upstreams (WSGI servers behind OMERO.web, PHP) read "X_Remote_User" as X-Remote-User:
    // like nginx by default, no header with an underscore in its name is passed on.
    if (name.startsWith("x-forwarded-") || name.includes("_")) delete headers[name];
  }
  for (const name of identityNames) if (headers[name] !== undefined) delete headers[name];
  // Node has already answered `Expect: 100-continue`; forwarding it would make the upstream answer again.
  if (headers.expect !== undefined) delete headers.expect;
}
