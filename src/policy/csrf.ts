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
import { audit } from "../log/logger.js";
import { sendError } from "../pipeline/respond.js";
import type { RequestScope } from "../pipeline/scope.js";
import type { Stage } from "../pipeline/stage.js";

const SAFE = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);

export const csrfRefused = () => new GatewayError("ERR_CSRF", 403, "This request did not come from this site and was refused.");

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

export interface CsrfDeps {
  site: () => Site;
  /** Mails the admin about a refusal (at most once a minute); absent until mail lands. */
  alert?: (details: Record<string, unknown>) => void;
}

export function csrfStage(deps: CsrfDeps): Stage {
  return {
    name: "csrf",
    run({ req, res, scope }) {
      if (scope.authVia !== "session" || SAFE.has(req.method ?? "GET")) return;
      if (!deps.site().enableCsrfToken) return;
      if (isSameOrigin(req, scope)) return;
      const details = { user: scope.principal?.user, path: scope.path, origin: req.headers.origin, fetchSite: req.headers["sec-fetch-site"], ip: scope.clientIp, requestId: scope.id };
      audit(scope.log, "csrf.refused", details);
      if (deps.site().csrfEmailAlert) deps.alert?.(details);
      scope.route = "csrf:refused";
      sendError(req, res, scope, csrfRefused());
      return "done";
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
    run({ req, res, scope }) {
      if (scope.authVia !== "session" || isSameOrigin(req, scope)) return;
      audit(scope.log, "csrf.refused", { user: scope.principal?.user, path: scope.path, origin: req.headers.origin, websocket: true, ip: scope.clientIp, requestId: scope.id });
      sendError(req, res, scope, csrfRefused());
      return "done";
    },
  };
}
