/**
 * Admin routes (SPEC §6.2, §6.4): list and end sessions, end all of a user's sessions, unlock and
 * re-enable accounts. Admin role required; TLS only; the gateway's CSRF token on every change.
 */
import { endsAtText } from "../sessions/expiry.js";
import { knownIdentity, sessionOf, signedIn } from "../auth/identity.js";
import type { Accounts } from "../auth/local/accounts.js";
import type { Site } from "../config/site.js";
import { GatewayError } from "../errors.js";
import { audit } from "../log/logger.js";
import { tokenMatches, csrfRefused } from "../policy/csrf.js";
import { sendJson } from "../pipeline/respond.js";
import type { Exchange } from "../pipeline/stage.js";
import type { Principal, SessionService } from "../sessions/session-service.js";
import type { Regulation } from "../regulation/regulation.js";
import type { SessionRecord } from "../store/store.js";
import { queryOf } from "../web/body.js";
import type { GatewayRoute } from "./gateway-routes.js";

export interface AdminRouteDeps {
  sessions: SessionService;
  accounts: Accounts;
  regulation: Regulation;
  site: () => Site;
}

/** 401 without a signed-in user (the guest is not one), 403 for a user without the `admin` role. */
export function requireAdmin(x: Exchange): Principal {
  const p = signedIn(knownIdentity(x.scope.identity));
  if (!p) throw new GatewayError("ERR_UNAUTHENTICATED", { message: "Not signed in." });
  if (!p.roles.includes("admin")) throw new GatewayError("ERR_FORBIDDEN", { message: "Administrators only." });
  return p;
}

/** A change by a session needs the session's CSRF token in `X-CSRF-Token` (SPEC §6.5). */
export function requireToken(x: Exchange, site: Site): void {
  // Basic-authenticated admin scripts are exempt, as for CSRF in general (SPEC §6.5).
  const session = sessionOf(x.scope.identity);
  if (session === undefined || !site.enableCsrfToken) return;
  if (!tokenMatches(session.csrfToken, x.req.headers["x-csrf-token"] as string | undefined)) throw csrfRefused();
}

/** A session as admins see it: the public id is `<tag>.<hash>`, never the cookie's secret. */
function view(s: SessionRecord) {
  return {
    id: `${s.tag}.${s.id}`,
    user: s.user,
    provider: s.provider,
    createdAt: new Date(s.createdAt).toISOString(),
    lastSeenAt: new Date(s.lastSeenAt).toISOString(),
    expiresAt: endsAtText(s),
    encrypted: s.encrypted,
  };
}

export function adminRoutes(d: AdminRouteDeps): GatewayRoute[] {
  /** A change to one user (`/admin/users/{name}/…`): admin only, CSRF token, JSON answer. */
  const userAction = (method: string, action: string, name: string, act: (user: string, x: Exchange) => Promise<Record<string, unknown>>): GatewayRoute => ({
    method,
    path: `/admin/users/{name}/${action}`,
    name,
    tlsOnly: true,
    async handler(x, params): Promise<"done"> {
      requireAdmin(x);
      requireToken(x, d.site());
      // The pipeline decoded the path once (SPEC §8.1), so the name is used as it is: decoding it again
      // read "%25" as a broken escape (a 500) and "%2561" as "a".
      sendJson(x.res, 200, await act(params.name!, x));
      return "done";
    },
  });

  return [
    {
      method: "GET",
      path: "/admin/sessions",
      name: "admin-sessions",
      tlsOnly: true,
      async handler(x): Promise<"done"> {
        requireAdmin(x);
        const user = queryOf(x.scope).get("user");
        // Without ?user=, every session: directory users have no local account to be found through.
        const sessions = user ? await d.sessions.list(user) : await d.sessions.listAll();
        sendJson(x.res, 200, { sessions: sessions.map(view) });
        return "done";
      },
    },
    {
      method: "DELETE",
      path: "/admin/sessions/{id}",
      name: "admin-session-end",
      tlsOnly: true,
      async handler(x, params): Promise<"done"> {
        requireAdmin(x);
        requireToken(x, d.site());
        const [tag, id] = (params.id ?? "").split(".");
        if (!tag || !id) throw new GatewayError("ERR_NOT_FOUND", { message: "No such session." });
        // The audit line names whose session it was (end answers the user).
        const user = await d.sessions.end({ tag, id });
        if (user === null) throw new GatewayError("ERR_NOT_FOUND", { message: "No such session." });
        audit(x.scope.log, "session.ended", { by: signedIn(x.scope.identity)!.user, user, reason: "admin", session: `${tag}.${id.slice(0, 8)}…`, requestId: x.scope.id });
        sendJson(x.res, 200, { ended: true });
        return "done";
      },
    },
    userAction("DELETE", "sessions", "admin-user-sessions-end", async (name, x) => {
      const ended = await d.sessions.endAll(name);
      audit(x.scope.log, "session.ended", { by: signedIn(x.scope.identity)!.user, user: name, reason: "admin", count: ended.length, requestId: x.scope.id });
      return { ended: ended.length };
    }),
    userAction("POST", "unlock", "admin-user-unlock", async (name, x) => {
      await d.regulation.unlock(name, { by: signedIn(x.scope.identity)!.user, requestId: x.scope.id });
      return { unlocked: name };
    }),
    userAction("POST", "enable", "admin-user-enable", async (name, x) => {
      if (!(await d.accounts.get(name))) throw new GatewayError("ERR_NOT_FOUND", { message: "No such user." });
      await d.accounts.setEnabled(name, true);
      audit(x.scope.log, "account.enabled", { by: signedIn(x.scope.identity)!.user, user: name, requestId: x.scope.id });
      return { enabled: name };
    }),
    {
      method: "GET",
      path: "/admin/users",
      name: "admin-users",
      tlsOnly: true,
      async handler(x): Promise<"done"> {
        requireAdmin(x);
        const users = await d.accounts.list();
        sendJson(x.res, 200, {
          users: await Promise.all(
            users.map(async (u) => ({
              name: u.name,
              roles: u.roles,
              email: u.email,
              enabled: u.enabled,
              lastLoginAt: u.lastLoginAt === null ? null : new Date(u.lastLoginAt).toISOString(),
              failures: (await d.regulation.state(u.name)).failures,
            })),
          ),
        });
        return "done";
      },
    },
  ];
}
