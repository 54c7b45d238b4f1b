/**
 * Regulation (SPEC §6.4): failed logins counted per account and per client address, the account lock
 * judged against the settings in force, unlocks (the admin route, the CLI and a password reset all
 * come here, and each is audited), and the turn-taking that keeps parallel guesses from outrunning
 * the count. Every process shares the counts through the store; the turns are per process.
 */
import type { Clock } from "../clock.js";
import type { Site } from "../config/site.js";
import type { RegulationStore } from "../store/store.js";
import { lockEnded, lockRuleOf, lockState, type LockState } from "./lock-rule.js";
import { KeyedLimiter } from "./semaphore.js";

/** Where audit lines go: the gateway's log, or the CLI's relay (log/audit-relay.ts). */
export type AuditSink = (event: string, fields: Record<string, unknown>) => void | Promise<void>;

export interface RegulationOptions {
  store: RegulationStore;
  clock: Clock;
  site: () => Site;
  /** `regulation.maxFailuresPerIp`: failures from one address in a window before its logins are refused. */
  ipLimit: { count: number; windowMs: number };
  audit: AuditSink;
}

/** Who or what unlocked an account, for the audit line. */
export interface UnlockContext {
  by: string;
  ip?: string;
  requestId?: string;
}

export class Regulation {
  // One password check per account at a time and a few per client address: parallel guesses wait
  // their turn, so every failure is counted before the next guess is judged (across processes the
  // overshoot is at most one guess per process).
  private readonly perUser = new KeyedLimiter(1);
  private readonly perIp = new KeyedLimiter(4);

  constructor(private readonly o: RegulationOptions) {}

  /** Runs a password check of `user` from `ip` in its turn. Keyed without case: spellings of one directory name share a turn. */
  inTurn<T>(user: string, ip: string, check: () => Promise<T>): Promise<T> {
    return this.perIp.run(ip, () => this.perUser.run(user.toLowerCase(), check));
  }

  async state(user: string): Promise<LockState> {
    return lockState(await this.o.store.getLoginFailures(user), lockRuleOf(this.o.site()), this.o.clock.now());
  }

  /** Whether `user` is locked now, judged against the settings in force now. */
  async isLocked(user: string): Promise<boolean> {
    if (this.o.site().maxFailedLogins <= 0) return false;
    return (await this.state(user)).locked;
  }

  /** Whether `ip` has had too many failures in the current window to try again. */
  async ipLimited(ip: string): Promise<boolean> {
    return (await this.o.store.getIpFailures(ip, this.o.clock.now(), this.o.ipLimit.windowMs)) >= this.o.ipLimit.count;
  }

  /** A failure that names no possible account: counted against the client address only. */
  async countIpFailure(ip: string): Promise<void> {
    await this.o.store.countIpFailure(ip, this.o.clock.now(), this.o.ipLimit.windowMs);
  }

  /**
   * Counts a failed proof of a password against both limits. A failure that locks the account is
   * audited, with when the lock ends: judged before and after, so a lock is seen however it came
   * (the count reaching the limit, a limit lowered below the count, a limit raised and met again
   * while an earlier lock's time runs).
   */
  async countFailure(user: string, ip: string): Promise<void> {
    const now = this.o.clock.now();
    await this.o.store.countIpFailure(ip, now, this.o.ipLimit.windowMs);
    const rule = lockRuleOf(this.o.site());
    const before = lockState(await this.o.store.getLoginFailures(user), rule, now);
    const after = lockState(await this.o.store.recordLoginFailure(user, now, rule), rule, now);
    if (!before.locked && after.locked) {
      await this.o.audit("account.locked", { user, failures: after.failures, until: new Date(after.lockEndsAt!).toISOString(), ip });
    }
  }

  /** A successful login: the count starts again. */
  async succeeded(user: string): Promise<void> {
    await this.o.store.clearLoginFailures(user);
  }

  /**
   * Clears the count and any lock, audited. `if-counted` (a password reset) does nothing, and says
   * nothing, for an account without failures.
   */
  async unlock(user: string, context: UnlockContext, when: "always" | "if-counted" = "always"): Promise<boolean> {
    if (when === "if-counted") {
      const state = await this.o.store.getLoginFailures(user);
      if (state.failures === 0 && state.lockedAt === null) return false;
    }
    await this.o.store.clearLoginFailures(user);
    await this.o.audit("account.unlocked", { user, ...context });
    return true;
  }

  /** The resetFailedLogins sweep: clears the counts of locks that have run their course; returns how many. */
  async clearEndedLocks(users: readonly string[], now: number): Promise<number> {
    const rule = lockRuleOf(this.o.site());
    let cleared = 0;
    for (const user of users) {
      if (lockEnded(await this.o.store.getLoginFailures(user), rule, now)) {
        await this.o.store.clearLoginFailures(user);
        cleared++;
      }
    }
    return cleared;
  }
}
