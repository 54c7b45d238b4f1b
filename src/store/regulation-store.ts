/** The part of the Store that counts failed logins, per account and per client address, across processes. */

export interface FailureState {
  /** Consecutive failures since the last success, unlock or the end of a lock. */
  failures: number;
  /**
   * When the count reached `maxFailures` (ms since epoch), or null. Whether the account is locked now
   * is decided by the caller against the current settings (they may change live, SPEC §4).
   */
  lockedAt: number | null;
}

export interface RegulationStore {
  /**
   * Counts one failed login for `user`, atomically across processes. When the count reaches
   * `maxFailures` (> 0) the lock starts (`lockedAt = now`); failures during a lock are counted but do
   * not move its start; a failure after a lock has ended (lockedAt + lockMs <= now) starts a new count.
   * A lock starting bumps the user's version (see AccountStore.getUserVersion).
   */
  recordLoginFailure(user: string, now: number, rule: { maxFailures: number; lockMs: number }): Promise<FailureState>;
  getLoginFailures(user: string): Promise<FailureState>;
  /** A success or an unlock: the count and any lock are cleared. */
  clearLoginFailures(user: string): Promise<void>;
  /** Counts one failure from `ip` in a fixed window of `windowMs`; returns the count in the window. */
  countIpFailure(ip: string, now: number, windowMs: number): Promise<number>;
  getIpFailures(ip: string, now: number, windowMs: number): Promise<number>;
}
