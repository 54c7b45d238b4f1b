/**
 * Reporting CSRF refusals (SPEC §6.5): each one is audited; with `csrfEmailAlert` the admin
 * (`mail.adminEmail`) is mailed, at most once a minute across all processes sharing the store, so
 * a page that fires requests in a loop cannot flood the admin's mailbox.
 */
import type http from "node:http";
import { randomUUID } from "node:crypto";
import { signedIn } from "../auth/identity.js";
import type { Clock } from "../clock.js";
import type { Site } from "../config/site.js";
import { audit, type Logger } from "../log/logger.js";
import type { Mailer } from "../mail/mailer.js";
import type { RequestScope } from "../pipeline/scope.js";
import type { Store } from "../store/store.js";
import type { CsrfReason } from "./csrf.js";

export const CSRF_MAIL_INTERVAL_MS = 60 * 1000;

export interface CsrfAlertDeps {
  site: () => Site;
  store: Store;
  clock: Clock;
  mailer: Mailer;
  adminEmail?: string;
  log: Logger;
}

export type CsrfReporter = (req: http.IncomingMessage, scope: RequestScope, reason: CsrfReason) => void;

export function csrfReporter(d: CsrfAlertDeps): CsrfReporter {
  const owner = randomUUID();
  const mail = async (details: Record<string, unknown>) => {
    if (!(await d.store.tryLock("csrf-alert-mail", owner, CSRF_MAIL_INTERVAL_MS, d.clock.now()))) return;
    await d.mailer.send({
      to: d.adminEmail!,
      subject: "portcullis: a cross-site request was refused",
      text:
        `portcullis refused a request that did not come from its own site (CSRF, SPEC §6.5).\n\n` +
        `time: ${new Date(d.clock.now()).toISOString()}\n` +
        Object.entries(details)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k}: ${String(v)}`)
          .join("\n") +
        `\n\nFurther refusals within a minute are in the audit log only (event csrf.refused).\n`,
    });
  };
  return (req, scope, reason) => {
    const details = {
      user: signedIn(scope.identity)?.user,
      reason,
      method: req.method,
      path: scope.path,
      origin: req.headers.origin,
      fetchSite: req.headers["sec-fetch-site"],
      ip: scope.clientIp,
      requestId: scope.id,
    };
    audit(scope.log, "csrf.refused", details);
    if (!d.site().csrfEmailAlert || !d.adminEmail) return;
    mail(details).catch((err: Error) => d.log.error({ err: err.message }, "could not send the CSRF alert mail"));
  };
}
