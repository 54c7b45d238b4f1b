/**
 * Password rules for local accounts (SPEC §4, §6.3): complexity, expiry, reuse. LDAP passwords are the
 * directory's business and never pass through here.
 */
import type { Site } from "../../config/site.js";
import type { UserRecord } from "../local/accounts.js";
import { isUnsalted, verifyPassword } from "./hash.js";

export type ChangeReason = "expired" | "complexity" | "unsalted";

/** Why a user who just proved their password must choose a new one before getting a session, or null. */
export function mustChangePassword(user: UserRecord, password: string, site: Site, now: number): ChangeReason | null {
  if (site.requireSaltedPasswords && isUnsalted(user.passwordHash)) return "unsalted";
  const exp = site.passwordExpiration;
  if (exp.type === "interval" && user.passwordChangedAt + exp.ms <= now) return "expired";
  if (exp.type === "date" && user.passwordChangedAt < exp.before && exp.before <= now) return "expired";
  if (!site.passwordComplexity.test(password)) return "complexity";
  return null;
}

export type PasswordProblem = { code: "ERR_PASSWORD_COMPLEXITY"; message: string } | { code: "ERR_PASSWORD_REUSED"; message: string } | { code: "ERR_PASSWORD_EMPTY"; message: string };

/** Checks a new password against complexity and the reuse rule; null when it is acceptable. */
export async function checkNewPassword(user: UserRecord | null, password: string, site: Site, now: number): Promise<PasswordProblem | null> {
  if (password.length === 0) return { code: "ERR_PASSWORD_EMPTY", message: "The password must not be empty." };
  if (!site.passwordComplexity.test(password)) return { code: "ERR_PASSWORD_COMPLEXITY", message: site.passwordComplexityMessage };
  if (user && site.passwordHistoryMs !== null) {
    const horizon = now - site.passwordHistoryMs;
    // History entries carry the time the password was replaced, i.e. the last time it was in use.
    const recent = [{ hash: user.passwordHash, changedAt: now }, ...user.history.filter((h) => h.changedAt >= horizon)];
    for (const entry of recent) {
      if (await verifyPassword(entry.hash, password)) {
        return { code: "ERR_PASSWORD_REUSED", message: "This password has been used recently; choose another." };
      }
    }
  }
  return null;
}
