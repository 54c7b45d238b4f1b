/**
 * Password logins (forms, JSON and Basic credentials) against the providers, with the lockout rules:
 * per account (`maxFailedLogins` for `maxFailedLoginsLockoutDuration`) and per client IP
 * (`regulation.maxFailuresPerIp`). Every failure looks the same to the caller; the reason is returned
 * for the audit log only. Unknown users cost a dummy hash so that timing tells nothing.
 */
import type { Clock } from "../clock.js";
import { audit, type Logger } from "../log/logger.js";
import type { Site } from "../config/site.js";
import type { Principal } from "../sessions/session-service.js";
import type { Store } from "../store/store.js";
import { type Accounts, USER_NAME } from "./local/accounts.js";
import { KeyedLimiter } from "./keyed-limiter.js";
import { hashPassword, isUnsalted, needsRehash, verifyDummy, verifyPassword } from "./passwords/hash.js";
import { type ChangeReason, mustChangePassword } from "./passwords/policy.js";

export type FailureReason = "unknown-user" | "bad-password" | "locked" | "disabled" | "ip-limited" | "empty-password" | "unknown-provider";

export type LoginResult =
  | { ok: true; principal: Principal; mustChange: ChangeReason | null }
  | { ok: false; reason: FailureReason; user: string };

export interface LoginServiceOptions {
  store: Store;
  accounts: Accounts;
  clock: Clock;
  site: () => Site;
  ipLimit: { count: number; windowMs: number };
  log: Logger;
}

/** `provider/username` picks a provider (XNAT); otherwise local accounts are tried first (LDAP follows in issue #4). */
export function splitProvider(username: string, known: readonly string[]): { provider: string | null; user: string } {
  const slash = username.indexOf("/");
  if (slash > 0 && known.includes(username.slice(0, slash))) return { provider: username.slice(0, slash), user: username.slice(slash + 1) };
  return { provider: null, user: username };
}

export class LoginService {
  readonly providers = ["local"] as const;
  private readonly perUser = new KeyedLimiter();
  private readonly perIp = new KeyedLimiter();

  constructor(private readonly o: LoginServiceOptions) {}

  /** Whether `user` is locked now, judged against the settings in force now. */
  async isLocked(user: string): Promise<boolean> {
    const site = this.o.site();
    if (site.maxFailedLogins <= 0) return false;
    const state = await this.o.store.getLoginFailures(user);
    return state.lockedAt !== null && state.failures >= site.maxFailedLogins && this.o.clock.now() < state.lockedAt + site.lockoutMs;
  }

  /** Counts a failed proof of a password against both limits; a lock that starts now is audited. */
  async countFailure(user: string, ip: string): Promise<void> {
    const site = this.o.site();
    const now = this.o.clock.now();
    await this.o.store.countIpFailure(ip, now, this.o.ipLimit.windowMs);
    const state = await this.o.store.recordLoginFailure(user, now, { maxFailures: site.maxFailedLogins, lockMs: site.lockoutMs });
    if (state.lockedAt === now && state.failures === site.maxFailedLogins) {
      audit(this.o.log, "account.locked", { user, failures: state.failures, until: new Date(now + site.lockoutMs).toISOString(), ip });
    }
  }

  async login(username: string, password: string, ip: string): Promise<LoginResult> {
    const { provider, user } = splitProvider(username, this.providers);
    // One check per account at a time and a few per client address: parallel guesses wait their
    // turn, so every failure is counted before the next guess is judged.
    return this.perIp.run(ip, 4, () => this.perUser.run(user, 1, () => this.attempt(provider, user, password, ip)));
  }

  private async attempt(provider: string | null, user: string, password: string, ip: string): Promise<LoginResult> {
    const site = this.o.site();
    const now = this.o.clock.now();
    const fail = async (reason: FailureReason, counted: boolean): Promise<LoginResult> => {
      if (counted) await this.countFailure(user, ip);
      return { ok: false, reason, user };
    };

    // Refused before any hashing: the answer does not depend on the account, so it tells nothing,
    // and a client over its limit costs no CPU.
    if ((await this.o.store.getIpFailures(ip, now, this.o.ipLimit.windowMs)) >= this.o.ipLimit.count) return fail("ip-limited", false);
    if (!USER_NAME.test(user)) {
      // Not a possible account name: counted against the client address only, never stored per name.
      await verifyDummy(password);
      await this.o.store.countIpFailure(ip, now, this.o.ipLimit.windowMs);
      return fail("unknown-user", false);
    }
    if (password.length === 0) {
      await verifyDummy("x");
      return fail("empty-password", true);
    }
    if (provider !== null && provider !== "local") return fail("unknown-provider", true);

    const account = await this.o.accounts.get(user);
    if (!account) {
      await verifyDummy(password);
      return fail("unknown-user", true);
    }
    if (await this.isLocked(user)) {
      await verifyDummy(password);
      return fail("locked", true);
    }
    if (!(await verifyPassword(account.passwordHash, password))) return fail("bad-password", true);
    if (!account.enabled) return fail("disabled", false);
    // Another process may have locked the account while this password was being checked.
    if (await this.isLocked(user)) return fail("locked", false);

    await this.o.store.clearLoginFailures(user);
    const mustChange = mustChangePassword(account, password, site, now);
    await this.o.accounts.update(user, (u) => {
      u.lastLoginAt = now;
    }, true);
    // A legacy or weaker hash is replaced now that the password is known (SPEC §6.3), unless the
    // account must pick a new password anyway.
    if (mustChange === null && needsRehash(account.passwordHash) && !(site.requireSaltedPasswords && isUnsalted(account.passwordHash))) {
      const hash = await hashPassword(password);
      await this.o.accounts.update(user, (u) => {
        u.passwordHash = hash;
      }, true);
    }
    return { ok: true, principal: { user, roles: account.roles, email: account.email, provider: "local" }, mustChange };
  }
}
