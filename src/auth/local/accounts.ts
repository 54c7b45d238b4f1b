/** Local accounts: their store records and the operations the CLI and the admin routes share. */
import type { Clock } from "../../clock.js";
import type { Store } from "../../store/store.js";
import { endUserSessions } from "../../sessions/end-user-sessions.js";
import { hashPassword } from "../passwords/hash.js";

export interface PasswordHistoryEntry {
  hash: string;
  changedAt: number;
}

export interface UserRecord {
  name: string;
  roles: string[];
  email?: string;
  enabled: boolean;
  /** PHC argon2id string, or a legacy hash waiting to be replaced at the next login. */
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

const KIND = "user";

/** User names: what XNAT and OMERO accept, and nothing that could confuse a header, a path or a filter. */
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export class AccountError extends Error {
  constructor(readonly code: "ERR_USER_EXISTS" | "ERR_USER_NOT_FOUND" | "ERR_USER_NAME", message: string) {
    super(message);
    this.name = "AccountError";
  }
}

export class Accounts {
  constructor(private readonly store: Store, private readonly clock: Clock) {}

  get(name: string): Promise<UserRecord | null> {
    return this.store.getRecord<UserRecord>(KIND, name);
  }

  list(): Promise<UserRecord[]> {
    return this.store.listRecords<UserRecord>(KIND).then((users) => users.sort((a, b) => a.name.localeCompare(b.name)));
  }

  async add(input: { name: string; password?: string; passwordHash?: string; roles?: string[]; email?: string }): Promise<UserRecord> {
    if (!USER_NAME.test(input.name)) {
      throw new AccountError("ERR_USER_NAME", `"${input.name}" is not a valid user name (letters, digits, . _ @ -, at most 64)`);
    }
    if (await this.get(input.name)) throw new AccountError("ERR_USER_EXISTS", `user ${input.name} already exists`);
    const now = this.clock.now();
    const hash = input.passwordHash ?? (await hashPassword(input.password ?? ""));
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
    await this.store.putRecord(KIND, user.name, user);
    return user;
  }

  /**
   * Changes an account. Unless `bookkeeping` (last login, a rehash of the same password), the user's
   * version moves, so that cached logins of the account end at once on every process.
   */
  async update(name: string, change: (user: UserRecord) => void, bookkeeping = false): Promise<UserRecord> {
    const user = await this.get(name);
    if (!user) throw new AccountError("ERR_USER_NOT_FOUND", `no user ${name}`);
    change(user);
    await this.store.putRecord(KIND, name, user);
    if (!bookkeeping) await this.store.bumpUserVersion(name);
    return user;
  }

  /**
   * Sets a new password hash. The old one goes to the history with the time it stopped being used
   * (the reuse rule counts from then). The account's sessions end: whoever held them proved the old
   * password, not the new one.
   */
  async setPasswordHash(name: string, hash: string): Promise<UserRecord> {
    const now = this.clock.now();
    const user = await this.update(name, (u) => {
      u.history = [{ hash: u.passwordHash, changedAt: now }, ...u.history].slice(0, 50);
      u.passwordHash = hash;
      u.passwordChangedAt = now;
    });
    await endUserSessions(this.store, name);
    return user;
  }

  /** Enables or disables an account; disabling also ends its sessions on every process. */
  async setEnabled(name: string, enabled: boolean, reason?: string): Promise<UserRecord> {
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
    if (!enabled) await endUserSessions(this.store, name);
    return user;
  }

  remove(name: string): Promise<boolean> {
    return this.store.deleteRecord(KIND, name);
  }
}
