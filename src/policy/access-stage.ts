/**
 * The access stage: applies the access rules to what the credentials stage found. Unauthenticated
 * requests are answered here — 503 when the store could not be asked (fail closed), 401 with
 * WWW-Authenticate for scripts, a redirect to the login page for browsers — and nothing without the
 * required identity ever reaches the upstream.
 */
import type http from "node:http";
import type { Site } from "../config/site.js";
import { GatewayError } from "../errors.js";
import { redirect, sendError } from "../pipeline/respond.js";
import type { RequestScope } from "../pipeline/scope.js";
import type { Exchange, Stage, StageResult } from "../pipeline/stage.js";
import type { Principal } from "../sessions/session-service.js";
import { allowedBy, type AccessRules, type Decision } from "./access-rules.js";
import { wantsChallenge } from "./browser.js";
import { methodReadings } from "./method-readings.js";
import type { GuestPrincipal } from "./guest.js";

export { GUEST } from "./guest.js";

const storeDown = () => new GatewayError("ERR_STORE_UNAVAILABLE", 503, "Sign-in is unavailable for a moment; please try again shortly.");
const forbidden = () => new GatewayError("ERR_FORBIDDEN", 403, "You do not have access to this page.");
const unauthenticated = () => new GatewayError("ERR_UNAUTHENTICATED", 401, "Authentication required.");

export interface AccessDeps {
  rules: AccessRules;
  site: () => Site;
  prefix: string;
  /** Who an unauthenticated request is when `requireLogin` is false. */
  guest: Pick<GuestPrincipal, "get">;
  /** Slides the idle timeout of the request's session (sessions/activity.ts); never for a bypass path. */
  slide?: (scope: RequestScope) => void;
}

/** The login page URL for a browser, with where to come back to and, after a timeout, when it happened. */
export function loginUrl(prefix: string, scope: RequestScope, expiredAt?: number): string {
  const params = new URLSearchParams({ returnTo: scope.forwardPath + scope.query });
  if (expiredAt !== undefined) params.set("timeout", String(expiredAt));
  return `${prefix}/login?${params}`;
}

const BASIC_CHALLENGE = { "www-authenticate": 'Basic realm="portcullis", charset="UTF-8"' };

/**
 * 401. The Basic challenge is for scripts: a request carrying `Sec-Fetch-Mode` comes from a browser
 * (a fetch, an image, a frame), which would answer the challenge with its native password dialog —
 * a prompt a page on another site can raise, and one whose answer the browser then replays (SPEC §6.5).
 */
function challenge(req: http.IncomingMessage, x: Exchange): "done" {
  sendError(req, x.res, x.scope, unauthenticated(), req.headers["sec-fetch-mode"] === undefined ? BASIC_CHALLENGE : undefined);
  return "done";
}

export function accessStage(deps: AccessDeps): Stage {
  return {
    name: "access",
    run(x) {
      const { req, res, scope } = x;
      const decision = deps.rules.decide(scope.path, scope.otherReadings, methodReadings(req, scope.query), scope.clientIp);
      scope.route = "proxy";
      if (decision.policy === "deny") {
        sendError(req, res, scope, forbidden());
        return "done";
      }
      if (decision.policy === "bypass") return;
      // Only here is the request known to count as activity: a polled public page must not keep a session alive.
      deps.slide?.(scope);

      const site = deps.site();
      if (!scope.principal && !site.requireLogin && !scope.storeDown && !scope.basicFailed && decision.policy === "authenticated") {
        const asGuest = (guest: Readonly<Principal>) => {
          scope.principal = { ...guest, roles: [...guest.roles] };
          scope.authVia = "guest";
          return judge(x, site, decision, deps.prefix);
        };
        const guest = deps.guest.get();
        return guest instanceof Promise ? guest.then(asGuest) : asGuest(guest);
      }
      return judge(x, site, decision, deps.prefix);
    },
  };
}

/** The answer for a request whose principal (or lack of one) is known. */
function judge(x: Exchange, site: Site, decision: Decision, prefix: string): StageResult {
  const { req, res, scope } = x;
  if (!scope.principal) {
    if (scope.storeDown) {
      sendError(req, res, scope, storeDown());
      return "done";
    }
    if (scope.basicFailed || wantsChallenge(req, scope.path, site)) return challenge(req, x);
    if (scope.expiredAt !== undefined && !isBrowserNavigation(req)) return challenge(req, x);
    redirect(res, req.method === "GET" || req.method === "HEAD" ? 302 : 303, loginUrl(prefix, scope, scope.expiredAt));
    return "done";
  }
  if (decision.policy === "admin" && !scope.principal.roles.includes("admin")) {
    sendError(req, res, scope, forbidden());
    return "done";
  }
  if (!allowedBy(decision.who, scope.principal)) {
    sendError(req, res, scope, forbidden());
    return "done";
  }
}

/** A browser asking for a page (not an API or XHR call): such clients are sent to the login page. */
function isBrowserNavigation(req: http.IncomingMessage): boolean {
  const accept = req.headers.accept ?? "";
  if (accept.includes("application/json") && !accept.includes("text/html")) return false;
  if (req.headers["x-requested-with"] === "XMLHttpRequest") return false;
  const mode = req.headers["sec-fetch-mode"];
  return mode === undefined || mode === "navigate";
}
