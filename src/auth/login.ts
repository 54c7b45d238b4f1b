/**
 * Password logins (forms, JSON and Basic credentials) against the providers, under the lockout rules
 * of ../regulation: per account (`maxFailedLogins` for `maxFailedLoginsLockoutDuration`) and per
 * client IP (`regulation.maxFailuresPerIp`). Every failure looks the same to the caller; the reason is returned
 * for the audit log only. Unknown users cost a dummy hash so that timing tells nothing.
 */
import type { Clock } from "../clock.js";
import type { Logger } from "../log/logger.js";
import type { Site } from "../config/site.js";
import type { Regulation } from "../regulation/regulation.js";
import type { Principal } from "../sessions/session-service.js";
import type { Directory, DirectoryIdentity } from "../ldap/directory.js";
import { type Accounts, type UserRecord, USER_NAME } from "./local/accounts.js";
import { hashPassword, isUnsalted, needsRehash, verifyDummy, verifyPassword } from "./passwords/hash.js";
import { type ChangeReason, mustChangePassword } from "./passwords/policy.js";

export type FailureReason =
  | "unknown-user"
  | "bad-password"
  | "locked"
  | "disabled"
  | "ip-limited"
  | "empty-password"
  | "unknown-provider"
  | "ambiguous-user"
  /** A directory login whose name, folded (nameKey), is a local account's. */
  | "local-name"
  | "directory-unavailable";

/**
 * Names accepted for the directory: no whitespace and no control or format characters at all, and
 * already in NFKC form. A directory compares names after its own folding of case, spaces and width,
 * so "bob ", "bob\u00a0" or a full-width "ｂｏｂ" would find bob's entry under a name with a lock
 * counter of its own; refusing them keeps one name (and one lock) per person.
 */
export function isDirectoryName(name: string): boolean {
  return name.length <= 128 && /^[^\s\p{C}]+$/u.test(name) && name.normalize("NFKC") === name;
}

/**
 * Roles a directory group cannot grant by its name alone: `admin` comes only through
 * `ldap.adminGroups`, and `guest` belongs to anonymous visitors.
 */
const RESERVED_ROLES = new Set(["admin", "guest"]);

/** Roles of a directory user: its group names (minus reserved ones) and `admin` for members of `ldap.adminGroups`. */
export function directoryRoles(identity: DirectoryIdentity): string[] {
  const roles = identity.groups.filter((g) => !RESERVED_ROLES.has(g.toLowerCase()));
  if (identity.admin) roles.push("admin");
  return [...new Set(roles)];
}

export type LoginResult =
  | { ok: true; principal: Principal; mustChange: ChangeReason | null }
  | { ok: false; reason: FailureReason; user: string };

export interface LoginServiceOptions {
  regulation: Regulation;
  accounts: Accounts;
  clock: Clock;
  site: () => Site;
  log: Logger;
  /** The LDAP provider, when `ldap.url` is set. */
  directory?: Directory | null;
}

/** `provider/username` picks a provider (XNAT); otherwise local accounts are tried first, then LDAP. */
export function splitProvider(username: string, known: readonly string[]): { provider: string | null; user: string } {
  const slash = username.indexOf("/");
  if (slash > 0 && known.includes(username.slice(0, slash))) return { provider: username.slice(0, slash), user: username.slice(slash + 1) };
  return { provider: null, user: username };
}

export class LoginService {
  readonly providers: readonly string[];

  constructor(private readonly o: LoginServiceOptions) {
    this.providers = o.directory ? ["local", "ldap"] : ["local"];
  }

  async login(username: string, password: string, ip: string): Promise<LoginResult> {
    const { provider, user } = splitProvider(username, this.providers);
    return this.o.regulation.inTurn(user, ip, () => this.attempt(provider, user, password, ip));
  }

  private async attempt(provider: string | null, user: string, password: string, ip: string): Promise<LoginResult> {
    const regulation = this.o.regulation;
    const fail = async (reason: FailureReason, counted: boolean): Promise<LoginResult> => {
      if (counted) await regulation.countFailure(user, ip);
      return { ok: false, reason, user };
    };

    // Refused before any hashing: the answer does not depend on the account, so it tells nothing,
    // and a client over its limit costs no CPU.
    if (await regulation.ipLimited(ip)) return fail("ip-limited", false);
    const directory = provider === "local" ? null : (this.o.directory ?? null);
    const localName = provider !== "ldap" && USER_NAME.test(user);
    if (!localName && !(directory && isDirectoryName(user))) {
      // Not a possible account name: counted against the client address only, never stored per name.
      await verifyDummy(password);
      await regulation.countIpFailure(ip);
      return fail("unknown-user", false);
    }
    if (password.length === 0) {
      await verifyDummy("x");
      return fail("empty-password", true);
    }
    if (provider !== null && !this.providers.includes(provider)) return fail("unknown-provider", true);

    // A name with a local account is that account's, whatever the directory holds (README "LDAP").
    const account = localName ? await this.o.accounts.get(user) : null;
    if (!account) {
      if (directory) return this.directoryAttempt(directory, user, password, ip);
      await verifyDummy(password);
      return fail("unknown-user", true);
    }
    if (await regulation.isLocked(user)) {
      await verifyDummy(password);
      return fail("locked", true);
    }
    if (!(await verifyPassword(account.passwordHash, password))) return fail("bad-password", true);
    if (!account.enabled) return fail("disabled", false);
    // Another process may have locked the account while this password was being checked.
    if (await regulation.isLocked(user)) return fail("locked", false);

    await regulation.succeeded(user);
    const site = this.o.site();
    const now = this.o.clock.now();
    const mustChange = mustChangePassword(account, password, site, now);
    await this.o.accounts.update(user, (u) => {
      u.lastLoginAt = now;
    }, true);
    // A legacy or weaker hash is replaced now that the password is known (SPEC §6.3), unless the
    // account must pick a new password anyway; never over a password changed meanwhile.
    if (mustChange === null && needsRehash(account.passwordHash) && !(site.requireSaltedPasswords && isUnsalted(account.passwordHash))) {
      await this.o.accounts.replaceVerifiedHash(user, account.passwordHash, await hashPassword(password));
    }
    return { ok: true, principal: localPrincipal(account), mustChange };
  }

  /**
   * Search-then-bind against the directory, under the same lock as local accounts. Every failure also
   * costs a dummy hash, so an LDAP failure takes as long as a local one; a directory that cannot be
   * reached is not the user's fault and is not counted.
   *
   * Directories match names without regard to case (`Bob` finds `uid=bob`), so the name is folded
   * to lower case for the lock and the session: every spelling shares one failure count and the
   * upstream always sees the same user.
   */
  private async directoryAttempt(directory: Directory, typed: string, password: string, ip: string): Promise<LoginResult> {
    const user = typed.toLowerCase();
    const regulation = this.o.regulation;
    const fail = async (reason: FailureReason, counted: boolean): Promise<LoginResult> => {
      if (counted) await regulation.countFailure(user, ip);
      return { ok: false, reason, user };
    };
    if (!isDirectoryName(typed)) {
      await verifyDummy(password);
      return fail("unknown-user", false);
    }
    // The session would carry a local account's name (and everything granted to that name) in a
    // spelling that applications comparing names without regard to case or accents take for it.
    if (await this.o.accounts.holderOf(user)) {
      await verifyDummy(password);
      this.o.log.warn({ user }, "a directory login for the name of a local account was refused; rename one of them");
      return fail("local-name", true);
    }
    if (await regulation.isLocked(user)) {
      await verifyDummy(password);
      return fail("locked", true);
    }
    const result = await directory.authenticate(user, password);
    if (result.kind !== "ok") await verifyDummy(password);
    switch (result.kind) {
      case "unavailable":
        this.o.log.warn({ user, problem: result.problem.message, code: result.problem.code }, "directory unavailable");
        return fail("directory-unavailable", false);
      case "not-found":
        return fail("unknown-user", true);
      case "ambiguous":
        this.o.log.warn({ user, matches: result.count }, "ldap.userFilter matches more than one entry; login refused");
        return fail("ambiguous-user", true);
      case "bad-password":
        return fail("bad-password", true);
    }
    if (await regulation.isLocked(user)) return fail("locked", false);
    await regulation.succeeded(user);
    return { ok: true, principal: directoryPrincipal(user, result.identity), mustChange: null };
  }

  /**
   * The principal `username` would have once signed in, without a password (`explain`): a local
   * account's (enabled or not: the caller reports its state), else the directory's; null when no
   * provider knows the name.
   */
  async lookup(username: string): Promise<{ principal: Principal; account: UserRecord | null } | null> {
    const { provider, user } = splitProvider(username, this.providers);
    const account = provider !== "ldap" && USER_NAME.test(user) ? await this.o.accounts.get(user) : null;
    if (account) return { principal: localPrincipal(account), account };
    const directory = provider === "local" ? null : (this.o.directory ?? null);
    if (!directory || !isDirectoryName(user) || (await this.o.accounts.holderOf(user.toLowerCase()))) return null;
    const found = await directory.lookup(user.toLowerCase());
    if (found.kind === "unavailable") throw new DirectoryUnavailableError(found.problem.message);
    return found.kind === "ok" ? { principal: directoryPrincipal(user.toLowerCase(), found.identity), account: null } : null;
  }
}

/** Thrown by `lookup` when the directory cannot be asked. */
export class DirectoryUnavailableError extends Error {
  readonly code = "ERR_DIRECTORY_UNAVAILABLE";
  constructor(problem: string) {
    super(`the directory cannot be asked: ${problem}`);
    this.name = "DirectoryUnavailableError";
  }
}

function localPrincipal(account: UserRecord): Principal {
  return { user: account.name, roles: account.roles, email: account.email, provider: "local" };
}

function directoryPrincipal(user: string, identity: DirectoryIdentity): Principal {
  const principal: Principal = { user, roles: directoryRoles(identity), provider: "ldap" };
  if (identity.email) principal.email = identity.email;
  if (identity.displayName) principal.name = identity.displayName;
  return principal;
}
