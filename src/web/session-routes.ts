/**
 * The session routes (SPEC §6.1): logout, logout of every session, the session's JSON and its
 * renewal. Each change needs the session's CSRF token besides the origin check.
 */
import { endsAtText } from "../sessions/expiry.js";
import { knownIdentity, sessionOf } from "../auth/identity.js";
import type { GatewayRoute } from "../admin/gateway-routes.js";
import { GatewayError } from "../errors.js";
import { audit } from "../log/logger.js";
import { csrfRefused, tokenMatches } from "../policy/csrf.js";
import { redirect, sendJson } from "../pipeline/respond.js";
import type { Exchange } from "../pipeline/stage.js";
import { clearedCookie } from "../sessions/cookie.js";
import type { SessionRecord } from "../store/store.js";
import type { Site } from "../config/site.js";
import type { AuthRouteDeps } from "./auth-routes.js";
import { answersJson, type Fields, readBody } from "./body.js";

/** The JSON shape of a session (login answer, `GET /session`). */
export function sessionJson(s: SessionRecord) {
  return {
    user: s.user,
    roles: s.roles,
    provider: s.provider,
    ...(s.email === undefined ? {} : { email: s.email }),
    ...(s.name === undefined ? {} : { name: s.name }),
    expiresAt: endsAtText(s),
    encrypted: s.encrypted,
    csrfToken: s.csrfToken,
  };
}

function requireSession(x: Exchange): SessionRecord {
  const session = sessionOf(knownIdentity(x.scope.identity));
  if (session === undefined) throw new GatewayError("ERR_UNAUTHENTICATED", { message: "Not signed in." });
  return session;
}

/** A change to the signed-in session (logout/all, renew): its body read and its CSRF token checked. */
async function sessionChange(x: Exchange, site: Site): Promise<SessionRecord> {
  const session = requireSession(x);
  requireToken(x, await readBody(x.req), session, site);
  return session;
}

/** The gateway's own state-changing routes need the session's CSRF token besides the origin check. */
function requireToken(x: Exchange, fields: Fields, session: SessionRecord, site: Site): void {
  if (!site.enableCsrfToken) return;
  const given = (x.req.headers["x-csrf-token"] as string | undefined) ?? fields.csrfToken;
  if (!tokenMatches(session.csrfToken, given)) throw csrfRefused("token");
}

export function sessionRoutes(d: Pick<AuthRouteDeps, "prefix" | "cookieName" | "site" | "sessions" | "store">): GatewayRoute[] {
  /** After logout: the cookie is cleared; forms go to the login page, JSON clients get `body`. */
  const signedOut = (x: Exchange, body: Record<string, unknown>): "done" => {
    // Over plaintext (allow mode) a browser ignores a Set-Cookie marked Secure: the clearing must not be.
    x.res.setHeader("set-cookie", clearedCookie(d.cookieName, x.scope.listener === "secure"));
    if (!answersJson(x.req)) redirect(x.res, 303, `${d.prefix}/login`);
    else sendJson(x.res, 200, body);
    return "done";
  };

  return [
    {
      method: "POST",
      path: "/logout",
      name: "logout",
      async handler(x): Promise<"done"> {
        const fields = await readBody(x.req);
        // The credentials stage has taken the cookie off the request and found its session, if live;
        // when the store could not tell, nothing can be ended, and "logged out" would be a lie (503).
        const session = sessionOf(knownIdentity(x.scope.identity));
        if (session) {
          requireToken(x, fields, session, d.site());
          await d.sessions.end({ tag: session.tag, id: session.id });
          audit(x.scope.log, "session.ended", { user: session.user, reason: "logout", requestId: x.scope.id });
        }
        return signedOut(x, { loggedOut: true });
      },
    },
    {
      method: "POST",
      path: "/logout/all",
      name: "logout-all",
      async handler(x): Promise<"done"> {
        const session = await sessionChange(x, d.site());
        const ended = await d.sessions.endAll(session.user);
        // Cached Basic verifications of this user stop counting too.
        await d.store.bumpUserVersion(session.user);
        audit(x.scope.log, "session.ended", { user: session.user, reason: "logout-all", count: ended.length, requestId: x.scope.id });
        return signedOut(x, { loggedOut: true, sessionsEnded: ended.length });
      },
    },
    {
      method: "GET",
      path: "/session",
      name: "session",
      handler(x): "done" {
        sendJson(x.res, 200, sessionJson(requireSession(x)));
        return "done";
      },
    },
    {
      method: "POST",
      path: "/session/renew",
      name: "session-renew",
      async handler(x): Promise<"done"> {
        const session = await sessionChange(x, d.site());
        const renewed = await d.sessions.renew(session);
        x.res.setHeader("x-session-expires", endsAtText(renewed));
        sendJson(x.res, 200, sessionJson(renewed));
        return "done";
      },
    },
  ];
}
