/**
 * The account lock (SPEC §6.4, XNAT's `maxFailedLogins` for `maxFailedLoginsLockoutDuration`), judged
 * against the settings in force now: a lock set under one duration ends when an admin shortens it.
 */
import type { Site } from "../config/site.js";
import type { FailureState } from "../store/store.js";

export interface LockRule {
  /** Failures that start a lock; 0 or less: never locked. */
  maxFailures: number;
  lockMs: number;
}

export interface LockState {
  failures: number;
  locked: boolean;
  /** When the lock ends (ms since epoch), or null without a lock in force. */
  lockEndsAt: number | null;
}

export function lockRuleOf(site: Pick<Site, "maxFailedLogins" | "lockoutMs">): LockRule {
  return { maxFailures: site.maxFailedLogins, lockMs: site.lockoutMs };
}

export function lockState(state: FailureState, rule: LockRule, now: number): LockState {
  const locked = rule.maxFailures > 0 && state.lockedAt !== null && state.failures >= rule.maxFailures && now < state.lockedAt + rule.lockMs;
  return { failures: state.failures, locked, lockEndsAt: locked ? state.lockedAt! + rule.lockMs : null };
}

/** A lock that has run its course: its count can be cleared (the resetFailedLogins sweep). */
export function lockEnded(state: FailureState, rule: LockRule, now: number): boolean {
  return state.lockedAt !== null && state.lockedAt + rule.lockMs <= now;
}
