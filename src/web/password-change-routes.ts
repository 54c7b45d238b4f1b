/**
 * The password change (SPEC §6.3): proving the current password is a login with every rule of one,
 * then the new password must pass the site's rules. Forms get the page, JSON clients JSON.
 */
import { signedIn } from "../auth/identity.js";
import { hashPassword } from "../auth/passwords/hash.js";
import { checkNewPassword } from "../auth/passwords/policy.js";
import type { GatewayRoute } from "../admin/gateway-routes.js";
import { ERRORS, type ErrorCode } from "../errors.js";
import { audit } from "../log/logger.js";
import { escapeHtml, redirect, sendHtml, sendJson } from "../pipeline/respond.js";
import type { AuthRouteDeps } from "./auth-routes.js";
import { loginFailureMessage } from "./login-message.js";
import { answersJson, queryOf, readBody } from "./body.js";
import { passwordPage } from "./pages.js";
import { safeReturnTo } from "./return-to.js";

export function passwordChangeRoutes(d: Pick<AuthRouteDeps, "prefix" | "clock" | "site" | "logins" | "accounts">): GatewayRoute[] {
  return [
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
          return answer("ERR_LOGIN_FAILED", loginFailureMessage(d.site().uiLoginFailureMessage).text);
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
