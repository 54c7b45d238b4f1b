/**
 * The site-config properties (SPEC §4) as the code uses them: intervals in milliseconds, regexes
 * compiled, cron kept as text. Built once per change, not per request.
 */
import picomatch from "picomatch";
import { parseInterval } from "./interval.js";
import { compilePattern, type Pattern } from "./pattern.js";
import type { SiteConfig } from "./schema.js";

export interface Site {
  readonly raw: SiteConfig;
  readonly requireLogin: boolean;
  readonly refreshGuestFrequencyMs: number;
  readonly sessionTimeoutMs: number;
  readonly sessionTimeoutMessage: string;
  readonly concurrentMaxSessions: number;
  readonly maxFailedLogins: number;
  readonly lockoutMs: number;
  readonly uiLoginFailureMessage: string;
  readonly canResetFailedLoginsWithForgotPassword: boolean;
  readonly inactivityBeforeLockoutMs: number;
  readonly aliasTokenTimeoutMs: number;
  /** Client addresses that may use XNAT's mail-send path (SPEC §8.2). */
  readonly mailSenders: Pattern;
  readonly interactiveAgents: readonly Pattern[];
  readonly isDataPath: (path: string) => boolean;
  readonly passwordComplexity: Pattern;
  readonly passwordComplexityMessage: string;
  readonly passwordExpiration: { type: "disabled" } | { type: "interval"; ms: number } | { type: "date"; before: number };
  readonly passwordHistoryMs: number | null;
  readonly requireSaltedPasswords: boolean;
  readonly enableCsrfToken: boolean;
  readonly csrfEmailAlert: boolean;
}

/** Told once per pattern when a match runs over its time budget (./pattern.ts). */
export type OverBudget = (source: string, budgetMs: number) => void;

/**
 * Compiles the values. Each admin pattern must match the whole value, as Java's `matches` does in
 * XNAT (`^.*$`-style anchors are the admin's business), on a linear-time engine where it compiles.
 */
export function compileSite(raw: SiteConfig, onOverBudget?: OverBudget): Site {
  const whole = (source: string, memo = false) => compilePattern(source, { mode: "whole", memo, onOverBudget });
  const isDataPath = picomatch([...raw.dataPaths], { dot: true });
  const site: Site = {
    raw,
    requireLogin: raw.requireLogin,
    refreshGuestFrequencyMs: parseInterval(raw.refreshGuestFrequency),
    sessionTimeoutMs: parseInterval(raw.sessionTimeout),
    sessionTimeoutMessage: raw.sessionTimeoutMessage,
    concurrentMaxSessions: raw.concurrentMaxSessions,
    maxFailedLogins: raw.maxFailedLogins,
    lockoutMs: parseInterval(raw.maxFailedLoginsLockoutDuration),
    uiLoginFailureMessage: raw.uiLoginFailureMessage.replace(/%d/g, String(raw.maxFailedLogins)),
    canResetFailedLoginsWithForgotPassword: raw.canResetFailedLoginsWithForgotPassword,
    inactivityBeforeLockoutMs: parseInterval(raw.inactivityBeforeLockout),
    aliasTokenTimeoutMs: parseInterval(raw.aliasTokenTimeout),
    mailSenders: whole(raw.ipsThatCanSendEmailsThroughRest),
    interactiveAgents: raw.interactiveAgentIds.map((source) => whole(source, true)),
    isDataPath: (path: string) => isDataPath(path),
    passwordComplexity: whole(raw.passwordComplexity),
    passwordComplexityMessage: raw.passwordComplexityMessage,
    passwordExpiration:
      raw.passwordExpirationType === "interval"
        ? { type: "interval" as const, ms: parseInterval(raw.passwordExpirationInterval) }
        : raw.passwordExpirationType === "date"
          ? { type: "date" as const, before: Date.parse(raw.passwordExpirationDate!) }
          : { type: "disabled" as const },
    passwordHistoryMs: raw.passwordReuseRestriction === "historical" ? parseInterval(raw.passwordHistoryDuration) : null,
    requireSaltedPasswords: raw.requireSaltedPasswords,
    enableCsrfToken: raw.enableCsrfToken,
    csrfEmailAlert: raw.csrfEmailAlert,
  };
  return Object.freeze(site);
}
