/**
 * Login, logout, session and password routes (SPEC §6.1, §6.3). Forms get pages and redirects,
 * JSON clients get JSON. Every failed login answers 401 with `uiLoginFailureMessage`, whatever the
 * reason; the reason is audited.
 */
import type { Clock } from "../clock.js";
import type { RouterPolicy } from "../config/schema.js";
import type { Site } from "../config/site.js";
import { sessionOf, signedIn } from "../auth/identity.js";
import type { Accounts } from "../auth/local/accounts.js";
import type { LoginService } from "../auth/login.js";
import { hashPassword } from "../auth/passwords/hash.js";
import { checkNewPassword } from "../auth/passwords/policy.js";
import type { GatewayRoute } from "../admin/gateway-routes.js";
import { ERRORS, GatewayError, type ErrorCode } from "../errors.js";
import { audit } from "../log/logger.js";
import { lockedToTls } from "../listeners/router-policy.js";
import { csrfRefused, isSameOrigin, tokenMatches } from "../policy/csrf.js";
import { escapeHtml, redirect, sendHtml, sendJson } from "../pipeline/respond.js";
import type { Exchange } from "../pipeline/stage.js";
import { clearedCookie, sessionCookie } from "../sessions/cookie.js";
import type { SessionService } from "../sessions/session-service.js";
import type { SessionRecord, Store } from "../store/store.js";
import { answersJson, type Fields, queryOf, readBody } from "./body.js";
import { loginMessageCache } from "./login-message.js";
import { loginPage, passwordPage } from "./pages.js";
import { safeReturnTo } from "./return-to.js";

export interface AuthRouteDeps {
  prefix: string;
  cookieName: string;
  clock: Clock;
  site: () => Site;
  policy: () => RouterPolicy;
  forceEncryption: boolean;
  sessions: SessionService;
  logins: LoginService;
  accounts: Accounts;
  store: Store;
}

/** The JSON shape of a session (login answer, `GET /session`). */
function sessionJson(s: SessionRecord) {
  return {
    user: s.user,
    roles: s.roles,
    provider: s.provider,
    ...(s.email === undefined ? {} : { email: s.email }),
    ...(s.name === undefined ? {} : { name: s.name }),
    expiresAt: new Date(Math.min(s.expiresAt, s.absoluteExpiresAt)).toISOString(),
    encrypted: s.encrypted,
    csrfToken: s.csrfToken,
  };
}

function requireSession(x: Exchange): SessionRecord {
  const session = sessionOf(x.scope.identity);
  if (session === undefined) throw new GatewayError("ERR_UNAUTHENTICATED", { message: "Not signed in." });
  return session;
}

/** The gateway's own state-changing routes need the session's CSRF token besides the origin check. */
function requireToken(x: Exchange, fields: Fields, session: SessionRecord, site: Site): void {
  if (!site.enableCsrfToken) return;
  const given = (x.req.headers["x-csrf-token"] as string | undefined) ?? fields.csrfToken;
  if (!tokenMatches(session.csrfToken, given)) throw csrfRefused("token");
}

export function authRoutes(d: AuthRouteDeps): GatewayRoute[] {
  const timeoutMessage = (at: number) => escapeHtml(d.site().sessionTimeoutMessage.replace(/TIMEOUT_TIME/g, new Date(at).toUTCString()));
  const cookieSecure = (encrypted: boolean) => d.policy() !== "allow" || encrypted;
  const failureMessage = loginMessageCache();

  const renderLogin = (x: Exchange, status: number, returnTo: string, messageHtml?: string, kind: "error" | "info" = "error", username?: string) => {
    sendHtml(
      x.res,
      status,
      loginPage({ prefix: d.prefix, returnTo, messageHtml, messageKind: kind, username, providers: d.logins.providers, offerEncryption: !lockedToTls(d.policy(), d.forceEncryption, false) }),
    );
    return "done" as const;
  };

  const loginFailed = (x: Exchange, json: boolean, returnTo: string, username: string) => {
    // uiLoginFailureMessage may hold HTML (XNAT): the page gets the allow-listed part, JSON the text.
    const message = failureMessage(d.site().uiLoginFailureMessage);
    if (json) {
      sendJson(x.res, ERRORS.ERR_LOGIN_FAILED.status, { error: "ERR_LOGIN_FAILED", message: message.text });
      return "done" as const;
    }
    return renderLogin(x, 401, returnTo, message.html, "error", username);
  };

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
      method: "GET",
      path: "/login",
      name: "login-page",
      tlsOnly: true,
      handler(x): "done" {
        const query = queryOf(x.scope);
        const returnTo = safeReturnTo(query.get("returnTo"));
        const timeout = Number(query.get("timeout"));
        if (Number.isFinite(timeout) && timeout > 0) return renderLogin(x, 200, returnTo, timeoutMessage(timeout), "info");
        if (query.get("changed") === "1") return renderLogin(x, 200, returnTo, "Your password has been changed. Sign in with the new one.", "info");
        return renderLogin(x, 200, returnTo);
      },
    },
    {
      method: "POST",
      path: "/login",
      name: "login",
      tlsOnly: true,
      async handler(x): Promise<"done"> {
        const json = answersJson(x.req);
        const { scope } = x;
        // Login CSRF: a cross-site form must not sign the browser in as someone else.
        if (!isSameOrigin(x.req, scope)) throw csrfRefused("login");
        const fields = await readBody(x.req);
        const username = (fields.username ?? "").trim();
        const password = fields.password ?? "";
        const returnTo = safeReturnTo(fields.returnTo);
        if (username === "") return loginFailed(x, json, returnTo, username);
        // The page's provider choice is the XNAT `provider/username` form; an unknown one stays in the name and fails.
        const provider = fields.provider ?? "";
        const result = await d.logins.login(provider === "" ? username : `${provider}/${username}`, password, scope.clientIp);
        if (!result.ok) {
          audit(scope.log, "login.failed", { user: result.user, reason: result.reason, via: "form", ip: scope.clientIp, requestId: scope.id });
          return loginFailed(x, json, returnTo, username);
        }
        // One browser, one session: the session this browser was signed in with ends, so it neither
        // lives on unseen behind the new cookie nor counts against concurrentMaxSessions.
        const previous = sessionOf(scope.identity);
        if (previous) {
          await d.sessions.end({ tag: previous.tag, id: previous.id });
          audit(scope.log, "session.ended", { user: previous.user, reason: "login", requestId: scope.id });
        }
        if (result.mustChange !== null) {
          audit(scope.log, "login.password-change-required", { user: result.principal.user, reason: result.mustChange, ip: scope.clientIp, requestId: scope.id });
          const message = result.mustChange === "complexity" ? d.site().passwordComplexityMessage : result.mustChange === "expired" ? "Your password has expired." : "Your password must be replaced.";
          if (json) {
            sendJson(x.res, ERRORS.ERR_PASSWORD_CHANGE_REQUIRED.status, { error: "ERR_PASSWORD_CHANGE_REQUIRED", reason: result.mustChange, message, changeUrl: `${d.prefix}/password` });
            return "done";
          }
          sendHtml(x.res, 200, passwordPage({ prefix: d.prefix, username: result.principal.user, messageHtml: escapeHtml(`${message} Choose a new one to continue.`), messageKind: "info", returnTo }));
          return "done";
        }
        const encrypted = lockedToTls(d.policy(), d.forceEncryption, fields.encrypted === "true" || fields.encrypted === "on");
        const created = await d.sessions.create(result.principal, encrypted);
        if (!created) {
          audit(scope.log, "login.failed", { user: result.principal.user, reason: "session-limit", via: "form", ip: scope.clientIp, requestId: scope.id });
          return loginFailed(x, json, returnTo, username);
        }
        audit(scope.log, "login.ok", { user: result.principal.user, provider: result.principal.provider, encrypted, ip: scope.clientIp, requestId: scope.id });
        x.res.setHeader("set-cookie", sessionCookie(created.cookieValue, { name: d.cookieName, secure: cookieSecure(encrypted) }));
        if (json) sendJson(x.res, 200, sessionJson(created.session));
        else redirect(x.res, 303, returnTo);
        return "done";
      },
    },
    {
      method: "POST",
      path: "/logout",
      name: "logout",
      async handler(x): Promise<"done"> {
        const fields = await readBody(x.req);
        // The credentials stage has taken the cookie off the request and found its session, if live.
        const session = sessionOf(x.scope.identity);
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
        const session = requireSession(x);
        const fields = await readBody(x.req);
        requireToken(x, fields, session, d.site());
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
        const session = requireSession(x);
        const fields = await readBody(x.req);
        requireToken(x, fields, session, d.site());
        const renewed = await d.sessions.renew(session);
        x.res.setHeader("x-session-expires", new Date(Math.min(renewed.expiresAt, renewed.absoluteExpiresAt)).toISOString());
        sendJson(x.res, 200, sessionJson(renewed));
        return "done";
      },
    },
    {
      method: "GET",
      path: "/password",
      name: "password-page",
      tlsOnly: true,
      handler(x): "done" {
        sendHtml(x.res, 200, passwordPage({ prefix: d.prefix, username: signedIn(x.scope.identity)?.user ?? "", returnTo: safeReturnTo(queryOf(x.scope).get("returnTo")) }));
        return "done";
      },
    },
    {
      method: "POST",
      path: "/password",
      name: "password-change",
      tlsOnly: true,
      async handler(x): Promise<"done"> {
        const json = answersJson(x.req);
        const fields = await readBody(x.req);
        const username = (fields.username ?? signedIn(x.scope.identity)?.user ?? "").trim();
        const returnTo = safeReturnTo(fields.returnTo);
        /** The page or JSON of the change: refused with an error code's status, or done (no code). */
        const answer = (code: ErrorCode | null, message: string) => {
          const status = code === null ? 200 : ERRORS[code].status;
          if (json) sendJson(x.res, status, code === null ? { changed: true } : { error: code, message });
          else sendHtml(x.res, status, passwordPage({ prefix: d.prefix, username, messageHtml: escapeHtml(message), messageKind: status === 200 ? "info" : "error", returnTo }));
          return "done" as const;
        };
        // Proving the current password is a login, with every rule of one: client limit, lockout,
        // counting, the same answer and timing whether or not the account exists.
        const proof = await d.logins.login(username, fields.password ?? "", x.scope.clientIp);
        // Only a local account's own password opens its change: a directory login never does.
        const account = proof.ok && proof.principal.provider === "local" ? await d.accounts.get(proof.principal.user) : null;
        if (!proof.ok || !account) {
          audit(x.scope.log, "password.change-failed", { user: username, reason: proof.ok ? "no-account" : proof.reason, ip: x.scope.clientIp, requestId: x.scope.id });
          return answer("ERR_LOGIN_FAILED", failureMessage(d.site().uiLoginFailureMessage).text);
        }
        const next = fields.newPassword ?? "";
        if (fields.confirmPassword !== undefined && fields.confirmPassword !== next) return answer("ERR_PASSWORD_MISMATCH", ERRORS.ERR_PASSWORD_MISMATCH.message);
        const problem = await checkNewPassword(account, next, d.site(), d.clock.now());
        if (problem) return answer(problem.code, problem.message);
        await d.accounts.setPasswordHash(account.name, await hashPassword(next));
        audit(x.scope.log, "password.changed", { user: username, ip: x.scope.clientIp, requestId: x.scope.id });
        if (!json) {
          redirect(x.res, 303, `${d.prefix}/login?changed=1&returnTo=${encodeURIComponent(returnTo)}`);
          return "done";
        }
        return answer(null, "Password changed.");
      },
    },
  ];
}
