/**
 * The sign-in routes (SPEC §6.1): the login page and the login itself, with the session routes
 * (./session-routes.ts) and the password change (./password-change-routes.ts) beside them. Forms get
 * pages and redirects, JSON clients get JSON. Every failed login answers 401 with
 * `uiLoginFailureMessage`, whatever the reason; the reason is audited.
 */
import type { Clock } from "../clock.js";
import type { RouterPolicy } from "../config/schema.js";
import type { Site } from "../config/site.js";
import { sessionOf } from "../auth/identity.js";
import type { Accounts } from "../auth/local/accounts.js";
import type { LoginService } from "../auth/login.js";
import type { GatewayRoute } from "../admin/gateway-routes.js";
import { ERRORS } from "../errors.js";
import { audit } from "../log/logger.js";
import { lockedToTls } from "../listeners/router-policy.js";
import { csrfRefused, isSameOrigin } from "../policy/csrf.js";
import { escapeHtml, redirect, sendHtml, sendJson } from "../pipeline/respond.js";
import type { Exchange } from "../pipeline/stage.js";
import { sessionCookie } from "../sessions/cookie.js";
import type { SessionService } from "../sessions/session-service.js";
import type { Store } from "../store/store.js";
import { answersJson, queryOf, readBody } from "./body.js";
import { loginFailureMessage } from "./login-message.js";
import { passwordChangeRoutes } from "./password-change-routes.js";
import { sessionJson, sessionRoutes } from "./session-routes.js";
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




export function authRoutes(d: AuthRouteDeps): GatewayRoute[] {
  const timeoutMessage = (at: number) => escapeHtml(d.site().sessionTimeoutMessage.replace(/TIMEOUT_TIME/g, new Date(at).toUTCString()));
  const cookieSecure = (encrypted: boolean) => d.policy() !== "allow" || encrypted;
  const failureMessage = loginFailureMessage;

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
    ...sessionRoutes(d),
    ...passwordChangeRoutes(d),
  ];
}
