/**
 * Forgot and reset password routes (SPEC §6.3). Asking for a link answers the same, at once, for
 * every name: the lookup and the mail happen after the answer, so neither the text nor the time
 * tells whether an account exists. Forms get pages, JSON clients get JSON; TLS only.
 */
import { ERRORS, type ErrorCode } from "../errors.js";
import type { PasswordResets } from "../auth/local/password-reset.js";
import type { GatewayRoute } from "../admin/gateway-routes.js";
import { csrfRefused, isSameOrigin } from "../policy/csrf.js";
import { escapeHtml, redirect, sendHtml, sendJson } from "../pipeline/respond.js";
import { answersJson, queryOf, readBody } from "./body.js";
import { forgotPage, resetPage } from "./pages.js";

export interface PasswordResetRouteDeps {
  prefix: string;
  resets: PasswordResets;
}

export const FORGOT_ANSWER =
  "If this account exists and has an email address, a link to choose a new password has been mailed to it. The link works once, for one hour.";


export function passwordResetRoutes(d: PasswordResetRouteDeps): GatewayRoute[] {
  return [
    {
      method: "GET",
      path: "/password/forgot",
      name: "password-forgot-page",
      tlsOnly: true,
      handler(x): "done" {
        sendHtml(x.res, 200, forgotPage({ prefix: d.prefix }));
        return "done";
      },
    },
    {
      method: "POST",
      path: "/password/forgot",
      name: "password-forgot",
      tlsOnly: true,
      async handler(x): Promise<"done"> {
        // A cross-site form must not make the gateway mail people.
        if (!isSameOrigin(x.req, x.scope)) throw csrfRefused("login");
        const fields = await readBody(x.req);
        const username = (fields.username ?? "").trim();
        if (username !== "") {
          const { log, clientIp } = x.scope;
          d.resets.request(username, clientIp).catch((err: Error) => log.error({ err: err.message, user: username }, "password reset request failed"));
        }
        if (answersJson(x.req)) sendJson(x.res, 200, { message: FORGOT_ANSWER });
        else sendHtml(x.res, 200, forgotPage({ prefix: d.prefix, messageHtml: escapeHtml(FORGOT_ANSWER) }));
        return "done";
      },
    },
    {
      method: "GET",
      path: "/password/reset",
      name: "password-reset-page",
      tlsOnly: true,
      async handler(x): Promise<"done"> {
        const token = queryOf(x.scope).get("token") ?? "";
        const found = await d.resets.check(token);
        if (!found) {
          sendHtml(x.res, 400, resetPage({ prefix: d.prefix, messageHtml: "This reset link is not valid: it has been used, has expired or was replaced." }));
          return "done";
        }
        sendHtml(x.res, 200, resetPage({ prefix: d.prefix, token, user: found.account.name }));
        return "done";
      },
    },
    {
      method: "POST",
      path: "/password/reset",
      name: "password-reset",
      tlsOnly: true,
      async handler(x): Promise<"done"> {
        if (!isSameOrigin(x.req, x.scope)) throw csrfRefused("login");
        const fields = await readBody(x.req);
        const token = fields.token ?? "";
        const next = fields.newPassword ?? "";
        const refuse = (code: ErrorCode, message: string, keepForm: boolean) => {
          const status = ERRORS[code].status;
          if (answersJson(x.req)) sendJson(x.res, status, { error: code, message });
          else sendHtml(x.res, status, resetPage({ prefix: d.prefix, token: keepForm ? token : undefined, user: fields.username, messageHtml: escapeHtml(message) }));
          return "done" as const;
        };
        if (fields.confirmPassword !== undefined && fields.confirmPassword !== next) return refuse("ERR_PASSWORD_MISMATCH", ERRORS.ERR_PASSWORD_MISMATCH.message, true);
        const result = await d.resets.complete(token, next, x.scope.clientIp);
        if (!result.ok) return refuse(result.problem.code, result.problem.message, result.problem.code !== "ERR_RESET_LINK");
        if (answersJson(x.req)) sendJson(x.res, 200, { reset: true, user: result.user });
        else redirect(x.res, 303, `${d.prefix}/login?changed=1`);
        return "done";
      },
    },
  ];
}
