/**
 * CSRF (SPEC §6.5): a state-changing request authenticated by the session cookie must come from the
 * gateway's own origin — Fetch Metadata (`Sec-Fetch-Site: same-origin|none`) or, without it, a
 * matching `Origin`. The gateway's own routes also need the session's CSRF token. Requests
 * authenticated by `Authorization` are exempt unless a browser marks them as sent from another site:
 * a browser replays Basic credentials it has cached, as ambiently as a cookie.
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
    super("ERR_CSRF");
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

/**
 * A browser says it sent the request from another site (W3C Fetch Metadata): `cross-site`, or
 * `same-site` (a sibling subdomain, which may be someone else's). Scripts send no such header.
 */
export function sentFromAnotherSite(req: http.IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  return site === "cross-site" || site === "same-site";
}

/**
 * Whether a request whose credential a browser could have added by itself is refused as cross-site.
 * Session cookies are judged by `isSameOrigin` (Origin too, for browsers without Fetch Metadata);
 * Basic credentials only by Fetch Metadata, so scripts that send an Origin of their own keep working.
 * Requests without a credential (anonymous, or the guest) are not judged: they carry no authority a
 * page elsewhere could borrow, and refusing them would break cross-site form posts an application
 * expects on its public paths (SAML and OpenID Connect `form_post` answers).
 */
function refusedAsCrossSite(req: http.IncomingMessage, scope: RequestScope): boolean {
  if (scope.identity.kind === "session") return !isSameOrigin(req, scope);
  if (scope.identity.kind === "basic") return sentFromAnotherSite(req);
  return false;
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
      if (SAFE.has(req.method ?? "GET")) return;
      if (!deps.site().enableCsrfToken) return;
      if (!refusedAsCrossSite(req, scope)) return;
      scope.route = "csrf:refused";
      throw csrfRefused("origin");
    },
  };
}

/**
 * Cross-site WebSocket hijacking: browsers send cookies and cached Basic credentials with cross-site
 * WebSocket handshakes and no preflight, so an upgrade they authenticate must come from our own site.
 */
export function websocketOriginStage(): Stage {
  return {
    name: "websocketOrigin",
    run({ req, scope }) {
      if (!refusedAsCrossSite(req, scope)) return;
      scope.route = "csrf:refused";
      throw csrfRefused("websocket");
    },
  };
}
