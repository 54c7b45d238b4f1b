/**
 * The part of the Store that keeps records (local accounts, site-config overrides, reset links,
 * signing keys) by kind and id, and the per-user version that moves when an account changes.
 */

declare const valueType: unique symbol;

/**
 * A kind of record together with the type of its values. At run time it is the kind's name, which is
 * what is stored, so existing data reads the same; for the compiler it also carries the value type,
 * both ways (a function of it), so that a kind declared as `recordKind<UserRecord>("user")` is read
 * as a UserRecord and can be neither read nor written as any other type. Each module declares its
 * own kinds: the store knows none of them.
 *
 * A bare string still names a kind (tests reach into the store by name); its records are `unknown`
 * until the caller says otherwise.
 */
export type RecordKind<T> = string & { readonly [valueType]?: (value: T) => T };

/** Declares a kind of record stored under `name` whose values are a T. */
export function recordKind<T>(name: string): RecordKind<T> {
  return name;
}

export interface RecordStore {
  getRecord<T>(kind: RecordKind<T>, id: string): Promise<T | null>;
  putRecord<T>(kind: RecordKind<T>, id: string, value: NoInfer<T>): Promise<void>;
  deleteRecord<T>(kind: RecordKind<T>, id: string): Promise<boolean>;
  /**
   * Puts and deletes several records of one kind as one change: all of it is stored or none of it
   * (a store that fails half-way leaves nothing half-written).
   */
  writeRecords<T>(kind: RecordKind<T>, put: ReadonlyArray<readonly [id: string, value: NoInfer<T>]>, remove?: readonly string[]): Promise<void>;
  /**
   * Replaces a record only if it still is `expected` (compared as JSON, as read by getRecord): a
   * compare-and-set, so that a change made meanwhile by another process is never overwritten. False,
   * and nothing written, when the record changed or is gone.
   */
  replaceRecord<T>(kind: RecordKind<T>, id: string, expected: NoInfer<T>, value: NoInfer<T>): Promise<boolean>;
  listRecords<T>(kind: RecordKind<T>): Promise<T[]>;
}

/** Records, and the version of each user that cached logins are checked against. */
export interface AccountStore extends RecordStore {
  /**
   * A per-user counter that moves whenever the account changes in a way that must end cached logins
   * (disabled, password changed, roles changed, logout/all, a lock starting). Each move is also
   * published on the `user-changed` channel (USER_CHANGED) with the user name as message.
   */
  getUserVersion(user: string): Promise<number>;
  bumpUserVersion(user: string): Promise<void>;
}

/** The channel on which user-version moves are announced. */
export const USER_CHANGED = "user-changed";
