/** Local accounts: their store records and the operations the CLI and the admin routes share. */
import type { Clock } from "../../clock.js";
import { relayCliAudits } from "../../log/audit-relay.js";
import type { Logger } from "../../log/logger.js";
import { recordKind, type Store } from "../../store/store.js";
import { endUserSessions } from "../../sessions/end-user-sessions.js";
import { hashPassword, isBareLegacy, wrapLegacy } from "../passwords/hash.js";

export interface PasswordHistoryEntry {
  hash: string;
  changedAt: number;
}

export interface UserRecord {
  name: string;
  roles: string[];
  email?: string;
  enabled: boolean;
  /** PHC argon2id string, or a legacy digest wrapped in argon2id (hash.ts), replaced at the next login. */
  passwordHash: string;
  passwordChangedAt: number;
  lastLoginAt: number | null;
  createdAt: number;
  /** When and why the account was disabled (inactivity sweep, admin). */
  disabledAt?: number;
  disabledReason?: string;
  /** Earlier password hashes with the time they were replaced, for `passwordReuseRestriction`. */
  history: PasswordHistoryEntry[];
}

const KIND = recordKind<UserRecord>("user");
/**
 * Which local account holds a folded name (nameKey → `{ name }`), so that one holding `JSmith`
 * reserves `jsmith` without a scan of every account.
 */
const NAME_KIND = recordKind<{ name: string }>("user-name");

/**
 * A name as case- and accent-blind comparisons see it: compatibility forms and accents dropped, then
 * upper- and lower-cased, so that `JSmith`, `jsmith`, `ｊｓｍｉｔｈ`, `jſmith`, `admın` (dotless ı)
 * and `Jösmith`/`josmith` meet. Applications behind the gateway compare names that way (Java's
 * `equalsIgnoreCase`, MySQL's default collations), so a directory user must not get a local
 * account's name in any of these spellings.
 */
export function nameKey(name: string): string {
  return name.normalize("NFKD").replace(/\p{M}/gu, "").toUpperCase().toLowerCase();
}

/** What an account change did besides the record: the sessions it ended. */
export interface AccountChange {
  user: UserRecord;
  sessionsEnded: number;
}

/** User names: what XNAT and OMERO accept, and nothing that could confuse a header, a path or a filter. */
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export class AccountError extends Error {
  constructor(readonly code: "ERR_USER_EXISTS" | "ERR_USER_NOT_FOUND" | "ERR_USER_NAME", message: string) {
    super(message);
    this.name = "AccountError";
  }
}

export class Accounts {
  /** Resolves with the number of accounts whose legacy hashes were wrapped at this start (Accounts.start). */
  legacyWrapping: Promise<number> = Promise.resolve(0);

  constructor(private readonly store: Store, private readonly clock: Clock) {}

  /**
   * The accounts of a gateway process. Before it serves, every account's name is reserved (accounts
   * made before names were); then, in the background, bare legacy digests still in the store are
   * wrapped (SPEC §6.3); and account changes made by the CLI are logged here as they are announced.
   */
  static async start(store: Store, clock: Clock, log: Logger): Promise<Accounts> {
    const accounts = new Accounts(store, clock);
    const users = await accounts.list();
    await accounts.reserveNames(users);
    await relayCliAudits(store, log);
    accounts.legacyWrapping = accounts.wrapLegacyHashes(users).then(
      (wrapped) => {
        if (wrapped > 0) log.info({ accounts: wrapped }, "legacy password hashes wrapped in argon2id");
        return wrapped;
      },
      (err: Error) => {
        log.warn({ err: err.message }, "wrapping legacy password hashes stopped; the next start goes on with it");
        return 0;
      },
    );
    return accounts;
  }

  get(name: string): Promise<UserRecord | null> {
    return this.store.getRecord(KIND, name);
  }

  /**
   * The local account that holds `name` in any spelling nameKey folds together (`JSmith` for
   * `jsmith`), or null. A local account owns its name against directory logins (README "LDAP").
   */
  async holderOf(name: string): Promise<UserRecord | null> {
    const exact = await this.get(name);
    if (exact) return exact;
    const entry = await this.store.getRecord(NAME_KIND, nameKey(name));
    return entry ? this.get(entry.name) : null;
  }

  /** Writes the name entries that are missing or name an account that is gone (idempotent). */
  private async reserveNames(users: readonly UserRecord[]): Promise<void> {
    const entries = new Map((await this.store.listRecords(NAME_KIND)).map((e) => [nameKey(e.name), e.name]));
    const names = new Set(users.map((u) => u.name));
    const missing: [string, { name: string }][] = [];
    for (const user of users) {
      const key = nameKey(user.name);
      const held = entries.get(key);
      if (held === undefined || !names.has(held)) {
        entries.set(key, user.name);
        missing.push([key, { name: user.name }]);
      }
    }
    if (missing.length > 0) await this.store.writeRecords(NAME_KIND, missing);
  }

  /**
   * Wraps the bare legacy digests of these accounts (current hash and history) in argon2id. Each
   * record is read again and written by compare-and-set, so a login, a password change or another
   * process wrapping the same account meanwhile is never overwritten; the accounts are taken in a
   * random order, so that processes starting together mostly share the work instead of repeating it.
   * One hash at a time: logins keep their turn in the argon2 queue.
   */
  private async wrapLegacyHashes(users: readonly UserRecord[]): Promise<number> {
    const hasBare = (u: UserRecord) => isBareLegacy(u.passwordHash) || u.history.some((h) => isBareLegacy(h.hash));
    const order = users.filter(hasBare).map((u) => ({ name: u.name, at: Math.random() }));
    let wrapped = 0;
    for (const { name } of order.sort((a, b) => a.at - b.at)) {
      for (let attempt = 0; attempt < 5; attempt++) {
        const current = await this.get(name);
        if (!current || !hasBare(current)) break;
        const next: UserRecord = { ...current, passwordHash: await wrapLegacy(current.passwordHash), history: [] };
        for (const entry of current.history) next.history.push({ ...entry, hash: await wrapLegacy(entry.hash) });
        if (await this.store.replaceRecord(KIND, name, current, next)) {
          wrapped++;
          break;
        }
      }
    }
    return wrapped;
  }

  list(): Promise<UserRecord[]> {
    return this.store.listRecords(KIND).then((users) => users.sort((a, b) => a.name.localeCompare(b.name)));
  }

  async add(input: { name: string; password?: string; passwordHash?: string; roles?: string[]; email?: string }): Promise<UserRecord> {
    if (!USER_NAME.test(input.name)) {
      throw new AccountError("ERR_USER_NAME", `"${input.name}" is not a valid user name (letters, digits, . _ @ -, at most 64)`);
    }
    const holder = await this.holderOf(input.name);
    if (holder) {
      throw new AccountError("ERR_USER_EXISTS", holder.name === input.name ? `user ${input.name} already exists` : `user ${holder.name} already exists, and names that differ only in case or accents are one name`);
    }
    const now = this.clock.now();
    // A legacy digest is stored wrapped in argon2id, never bare (SPEC §6.3).
    const hash = input.passwordHash === undefined ? await hashPassword(input.password ?? "") : await wrapLegacy(input.passwordHash);
    const user: UserRecord = {
      name: input.name,
      roles: input.roles ?? [],
      email: input.email,
      enabled: true,
      passwordHash: hash,
      passwordChangedAt: now,
      lastLoginAt: null,
      createdAt: now,
      history: [],
    };
    // The name first: a failure between the two writes leaves a reservation of a name without an
    // account (which holderOf ignores), never an account whose name is free for a directory user.
    await this.store.putRecord(NAME_KIND, nameKey(user.name), { name: user.name });
    await this.store.putRecord(KIND, user.name, user);
    return user;
  }

  /**
   * Changes an account. Unless `bookkeeping` (last login, a rehash of the same password), the user's
   * version moves, so that cached logins of the account end at once on every process.
   *
   * The record is written by compare-and-set, `change` applied again to a fresh read when another
   * process changed it meanwhile: a login noting its time must not undo a disable made elsewhere
   * between its read and its write.
   */
  async update(name: string, change: (user: UserRecord) => void, bookkeeping = false): Promise<UserRecord> {
    for (let attempt = 1; ; attempt++) {
      const read = await this.get(name);
      if (!read) throw new AccountError("ERR_USER_NOT_FOUND", `no user ${name}`);
      const user = structuredClone(read);
      change(user);
      if (await this.store.replaceRecord(KIND, name, read, user)) {
        if (!bookkeeping) await this.store.bumpUserVersion(name);
        return user;
      }
      if (attempt === 10) throw new Error(`the account ${name} kept changing while it was being changed; try again`);
    }
  }

  /**
   * Sets a new password hash. The old one goes to the history with the time it stopped being used
   * (the reuse rule counts from then). The account's sessions end: whoever held them proved the old
   * password, not the new one.
   */
  async setPasswordHash(name: string, hash: string): Promise<AccountChange> {
    const now = this.clock.now();
    const user = await this.update(name, (u) => {
      u.history = [{ hash: u.passwordHash, changedAt: now }, ...u.history].slice(0, 50);
      u.passwordHash = hash;
      u.passwordChangedAt = now;
    });
    return { user, sessionsEnded: (await endUserSessions(this.store, name)).length };
  }

  /**
   * Replaces the hash a login has just verified by a stronger one of the same password (bookkeeping:
   * no version move, no history entry), unless the record changed meanwhile: a new password set on
   * another process must not be overwritten by a rehash of the old one. Whether it was replaced.
   */
  async replaceVerifiedHash(name: string, verified: string, hash: string): Promise<boolean> {
    const user = await this.get(name);
    if (!user || user.passwordHash !== verified) return false;
    return this.store.replaceRecord(KIND, name, user, { ...user, passwordHash: hash });
  }

  /** Enables or disables an account; disabling also ends its sessions on every process. */
  async setEnabled(name: string, enabled: boolean, reason?: string): Promise<AccountChange> {
    const now = this.clock.now();
    const user = await this.update(name, (u) => {
      u.enabled = enabled;
      if (enabled) {
        delete u.disabledAt;
        delete u.disabledReason;
        // A re-enabled account starts a fresh inactivity period.
        u.lastLoginAt = now;
      } else {
        u.disabledAt = now;
        u.disabledReason = reason ?? "admin";
      }
    });
    return { user, sessionsEnded: enabled ? 0 : (await endUserSessions(this.store, name)).length };
  }

  /** Removes an account and frees its name (unless another account of the same folded name remains). */
  async remove(name: string): Promise<boolean> {
    const removed = await this.store.deleteRecord(KIND, name);
    const key = nameKey(name);
    const entry = await this.store.getRecord(NAME_KIND, key);
    if (entry?.name === name) {
      // Two accounts of one folded name can exist only from before names were reserved.
      const other = (await this.list()).find((u) => nameKey(u.name) === key);
      if (other) await this.store.putRecord(NAME_KIND, key, { name: other.name });
      else await this.store.deleteRecord(NAME_KIND, key);
    }
    return removed;
  }
}
