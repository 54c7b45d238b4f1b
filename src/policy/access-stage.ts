/**
 * The access stage: asks the access decision (./decide.ts) about the request and the identity the
 * identify phase established, and acts on the answer — 403, 503, 401 with or without a Basic
 * challenge, a redirect to the login page, or on to the upstream. Nothing without the required
 * identity ever reaches the upstream.
 */
import type { Identity } from "../auth/identity.js";
import type { Site } from "../config/site.js";
import { GatewayError } from "../errors.js";
import { redirect, sendError } from "../pipeline/respond.js";
import type { RequestScope } from "../pipeline/scope.js";
import type { Exchange, Stage, StageResult } from "../pipeline/stage.js";
import type { Principal } from "../sessions/session-service.js";
import type { AccessRules } from "./access-rules.js";
import { decide, type Decision } from "./decide.js";
import type { GuestPrincipal } from "./guest.js";
import { methodReadings } from "./method-readings.js";


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
function loginUrl(prefix: string, scope: RequestScope, expiredAt?: number): string {
  const params = new URLSearchParams({ returnTo: scope.forwardPath + scope.query });
  if (expiredAt !== undefined) params.set("timeout", String(expiredAt));
  return `${prefix}/login?${params}`;
}

const BASIC_CHALLENGE = { "www-authenticate": 'Basic realm="portcullis", charset="UTF-8"' };

/**
 * The identity the decision is asked about: nobody signed in becomes the guest while `requireLogin`
 * is false (SPEC §4). The guest is cached, so this is a promise only once per refresh.
 */
export function withGuest(identity: Identity, site: Site, guest: Pick<GuestPrincipal, "get">): Identity | Promise<Identity> {
  if (identity.kind !== "anonymous" || site.requireLogin) return identity;
  const expiredAt = identity.expiredAt;
  // The guest principal is frozen and shared (so identity headers computed for it are reused).
  const asGuest = (principal: Readonly<Principal>): Identity =>
    expiredAt === undefined ? { kind: "guest", principal: principal as Principal } : { kind: "guest", principal: principal as Principal, expiredAt };
  const current = guest.get();
  return current instanceof Promise ? current.then(asGuest) : asGuest(current);
}

export function accessStage(deps: AccessDeps): Stage {
  const judge = (x: Exchange, identity: Identity, site: Site): StageResult => {
    const { req, scope } = x;
    const described = { methods: methodReadings(req, scope.query), path: scope.path, otherReadings: scope.otherReadings, clientIp: scope.clientIp, headers: req.headers };
    return act(x, decide(described, identity, { rules: deps.rules, site }), deps);
  };
  return {
    name: "access",
    run(x) {
      const site = deps.site();
      const identity = withGuest(x.scope.identity, site, deps.guest);
      return identity instanceof Promise ? identity.then((i) => judge(x, i, site)) : judge(x, identity, site);
    },
  };
}

/** Carries out a decision. */
function act(x: Exchange, decision: Decision, deps: AccessDeps): StageResult {
  const { req, res, scope } = x;
  scope.route = "proxy";
  // Only a request the rules neither waive nor refuse outright counts as activity: a polled public
  // page must not keep a session alive.
  if (decision.activity) deps.slide?.(scope);
  switch (decision.outcome) {
    case "proxy":
      scope.identity = decision.identity;
      return;
    case "403":
      sendError(req, res, scope, new GatewayError("ERR_FORBIDDEN"));
      return "done";
    case "503":
      sendError(req, res, scope, new GatewayError("ERR_STORE_UNAVAILABLE"));
      return "done";
    case "401":
      // The Basic challenge is for scripts: a browser would answer it with its native password dialog,
      // a prompt a page on another site can raise, and one whose answer it then replays (SPEC §6.5).
      sendError(req, res, scope, new GatewayError("ERR_UNAUTHENTICATED"), decision.challenge ? BASIC_CHALLENGE : undefined);
      return "done";
    case "redirect-to-login":
      redirect(res, req.method === "GET" || req.method === "HEAD" ? 302 : 303, loginUrl(deps.prefix, scope, decision.expiredAt));
      return "done";
  }
}
