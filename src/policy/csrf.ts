/**
 * CSRF (SPEC §6.5): a state-changing request authenticated by the session cookie must come from the
 * gateway's own origin — Fetch Metadata (`Sec-Fetch-Site: same-origin|none`) or, without it, a
 * matching `Origin`. The gateway's own routes also need the session's CSRF token. Requests
 * authenticated by `Authorization` are exempt: a browser never adds that header by itself.
 */
import { timingSafeEqual } from "node:crypto";
import type http from "node:http";
import type { Site } from "../config/site.js";
import { GatewayError } from "../errors.js";
import type { RequestScope } from "../pipeline/scope.js";
import type { Stage } from "../pipeline/stage.js";

const SAFE = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

/** Why a request was refused: a foreign origin, a missing or wrong token, a cross-site login or WebSocket. */
export type CsrfReason = "origin" | "token" | "login" | "websocket";

/**
 * A refusal, thrown wherever it is found; the pipeline's error path audits it and raises the alert
 * (./csrf-alert.ts), so every refusal is reported the same way.
 */
export class CsrfRefusal extends GatewayError {
  constructor(readonly reason: CsrfReason) {
    super("ERR_CSRF", 403, "This request did not come from this site and was refused.");
    this.name = "CsrfRefusal";
  }
}

export const csrfRefused = (reason: CsrfReason = "token"): CsrfRefusal => new CsrfRefusal(reason);

/** The origin the client used to reach us: scheme of the listener, host from the Host header. */
export function ownOrigin(req: http.IncomingMessage, scope: RequestScope): string {
  return `${scope.listener === "secure" ? "https" : "http"}://${(req.headers.host ?? "").toLowerCase()}`;
}

export function isSameOrigin(req: http.IncomingMessage, scope: RequestScope): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined) return site === "same-origin" || site === "none";
  const origin = req.headers.origin;
  if (origin !== undefined) return origin.toLowerCase() === ownOrigin(req, scope);
  // Neither header: not a modern browser's cross-site request (they send Origin on every POST).
  return true;
}

export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function csrfStage(deps: { site: () => Site }): Stage {
  return {
    name: "csrf",
    run({ req, scope }) {
      if (scope.authVia !== "session" || SAFE.has(req.method ?? "GET")) return;
      if (!deps.site().enableCsrfToken) return;
      if (isSameOrigin(req, scope)) return;
      scope.route = "csrf:refused";
      throw csrfRefused("origin");
    },
  };
}

/**
 * Cross-site WebSocket hijacking: browsers send cookies with cross-site WebSocket handshakes and no
 * preflight, so a session-authenticated upgrade must come from our own origin.
 */
export function websocketOriginStage(): Stage {
  return {
    name: "websocketOrigin",
    run({ req, scope }) {
      if (scope.authVia !== "session" || isSameOrigin(req, scope)) return;
      throw csrfRefused("websocket");
    },
  };
}
