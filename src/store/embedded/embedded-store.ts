/**
 * The embedded store: for one gateway process without Redis. State lives in memory and is written whole
 * to `<dataDir>/store.json` (a temporary file, fsynced, renamed over it, then the directory fsynced), so
 * a restart keeps accounts, sessions and locks. Operations are synchronous inside, hence atomic in one
 * process. A change the gateway acts on for security (a password, an account's state, a session's end,
 * a failed-login count or lock, a site-config override) is on disk before its call resolves: a
 * `kill -9` or a power cut after the answer cannot bring the old state back. Changes that only record
 * activity are written in a batch shortly after.
 */
import { EventEmitter } from "node:events";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { type CreateSessionResult, type FailureState, type SessionRecord, type Store, StoreUnavailableError, type Unsubscribe, USER_CHANGED } from "../store.js";

interface Snapshot {
  version: 1;
  sessions: SessionRecord[];
  failures: Record<string, FailureState>;
  records: Record<string, Record<string, unknown>>;
}

export interface EmbeddedStoreOptions {
  /** Directory to persist to; null keeps everything in memory (tests of the contract). */
  dataDir: string | null;
  /** Delay before a batched change (activity only, see `later`) is written to disk. */
  flushDelayMs?: number;
}

/**
 * A `store.json` that cannot be used. The gateway stops instead of starting with an empty store, which
 * would silently forget every account, lock and password change (and re-create the first-run admin).
 */
export class StoreFileError extends Error {
  readonly code = "ERR_STORE_FILE";
  readonly file: string;

  constructor(file: string, problem: string, cause?: unknown) {
    super(
      `the embedded store file ${file} ${problem}; restore it from a backup, or move it aside to start with an empty store (its accounts, sessions and locks are then lost)`,
      cause === undefined ? undefined : { cause },
    );
    this.name = "StoreFileError";
    this.file = file;
  }
}

export async function createEmbeddedStore(options: EmbeddedStoreOptions): Promise<Store> {
  const file = options.dataDir === null ? null : path.join(options.dataDir, "store.json");
  const sessions = new Map<string, SessionRecord>();
  const failures = new Map<string, FailureState>();
  const records = new Map<string, Map<string, unknown>>();
  const versions = new Map<string, number>();
  const ipWindows = new Map<string, { window: number; count: number }>();
  const locks = new Map<string, { owner: string; until: number }>();
  const events = new EventEmitter();
  events.setMaxListeners(0);

  const lockFile = file === null ? null : `${file}.lock`;
  if (file !== null) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    takeLock(lockFile!);
    try {
      removeStaleTemporaries(file);
      const snapshot = readSnapshot(file);
      if (snapshot) {
        for (const s of snapshot.sessions) sessions.set(s.id, s);
        for (const [user, state] of Object.entries(snapshot.failures)) failures.set(user, state);
        for (const [kind, byId] of Object.entries(snapshot.records)) records.set(kind, new Map(Object.entries(byId)));
      }
    } catch (err) {
      fs.rmSync(lockFile!, { force: true });
      throw err;
    }
  }

  const snapshotText = () => {
    const snapshot: Snapshot = {
      version: 1,
      sessions: [...sessions.values()],
      failures: Object.fromEntries(failures),
      records: Object.fromEntries([...records].map(([kind, byId]) => [kind, Object.fromEntries(byId)])),
    };
    return JSON.stringify(snapshot);
  };

  // Writes run one after another (they share the temporary file). Each takes its snapshot when it
  // starts, so every change made before then is in it: calls that wait together share one write and
  // one fsync (group commit), instead of one each.
  let chain: Promise<void> = Promise.resolve();
  let queued: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): Promise<void> => {
    if (file === null) return Promise.resolve();
    if (queued) return queued;
    clearTimeout(timer);
    timer = undefined;
    const write = chain.then(() => {
      queued = null;
      return writeDurably(file, snapshotText());
    });
    queued = write;
    chain = write.catch(() => undefined);
    return write;
  };
  /** Security-relevant changes: resolves once they are on disk; a failed write is a store failure (503). */
  const durable = async (): Promise<void> => {
    try {
      await flush();
    } catch (err) {
      throw new StoreUnavailableError(err);
    }
  };
  /**
   * Activity only (an idle slide, expired sessions dropped): written within `flushDelayMs`, or with the
   * next durable write. A failed batched write is not reported here: the next write retries it, and a
   * durable one reports the failure to its caller.
   */
  const later = (): void => {
    if (file === null || timer !== undefined || queued !== null) return;
    timer = setTimeout(() => void flush().catch(() => undefined), options.flushDelayMs ?? 200);
  };

  const alive = (s: SessionRecord, now: number) => s.expiresAt > now && s.absoluteExpiresAt > now;
  const userSessions = (user: string) => [...sessions.values()].filter((s) => s.user === user).sort((a, b) => a.createdAt - b.createdAt);
  const kindMap = (kind: string) => {
    let m = records.get(kind);
    if (!m) records.set(kind, (m = new Map()));
    return m;
  };
  const clone = <T>(v: T): T => structuredClone(v);
  const bump = (user: string) => {
    versions.set(user, (versions.get(user) ?? 0) + 1);
    events.emit(USER_CHANGED, user);
  };

  return {
    kind: "embedded",

    async createSession(session, limit): Promise<CreateSessionResult> {
      const live: SessionRecord[] = [];
      for (const s of userSessions(session.user)) {
        if (alive(s, limit.now)) live.push(s);
        else sessions.delete(s.id);
      }
      const evicted: string[] = [];
      if (live.length >= limit.maxSessions) {
        if (limit.policy !== "evictOldest") return { created: false, reason: "limit" };
        for (const s of live.slice(0, live.length - limit.maxSessions + 1)) {
          sessions.delete(s.id);
          evicted.push(s.id);
        }
      }
      sessions.set(session.id, clone(session));
      // Durable: sessions evicted here have ended, and the new one has been handed to its user.
      await durable();
      return { created: true, evicted };
    },

    async getSession(tag, id) {
      const s = sessions.get(id);
      return s && s.tag === tag ? clone(s) : null;
    },

    async touchSession(tag, id, lastSeenAt, expiresAt) {
      const s = sessions.get(id);
      if (!s || s.tag !== tag) return;
      s.lastSeenAt = Math.max(s.lastSeenAt, lastSeenAt);
      s.expiresAt = Math.max(s.expiresAt, Math.min(expiresAt, s.absoluteExpiresAt));
      // Batched: every request slides the idle timeout; losing the last slides only ends it sooner.
      later();
    },

    async deleteSession(tag, id) {
      const s = sessions.get(id);
      if (!s || s.tag !== tag) return false;
      sessions.delete(id);
      // Durable: an ended session (logout, admin) must not come back after a crash.
      await durable();
      return true;
    },

    async listSessions(user, now) {
      return userSessions(user).filter((s) => alive(s, now)).map(clone);
    },

    async listAllSessions(now) {
      return [...sessions.values()].filter((s) => alive(s, now)).sort((a, b) => a.createdAt - b.createdAt).map(clone);
    },

    async deleteUserSessions(user) {
      const ids = userSessions(user).map((s) => s.id);
      for (const id of ids) sessions.delete(id);
      if (ids.length) await durable();
      return ids;
    },

    async recordLoginFailure(user, now, rule) {
      const prev = failures.get(user) ?? { failures: 0, lockedAt: null };
      let state = { ...prev };
      if (state.lockedAt !== null && state.lockedAt + rule.lockMs <= now) state = { failures: 0, lockedAt: null };
      state.failures += 1;
      if (state.lockedAt === null && rule.maxFailures > 0 && state.failures >= rule.maxFailures) {
        state.lockedAt = now;
        bump(user);
      }
      failures.set(user, state);
      // Durable: a crash must not reset the count, nor end a lock early.
      await durable();
      return { ...state };
    },

    async getLoginFailures(user) {
      return { ...(failures.get(user) ?? { failures: 0, lockedAt: null }) };
    },

    async getUserVersion(user) {
      return versions.get(user) ?? 0;
    },

    async bumpUserVersion(user) {
      bump(user);
    },

    subscriptionEpoch: () => 0,

    async clearLoginFailures(user) {
      // Durable: an unlock an admin was told about holds.
      if (failures.delete(user)) await durable();
    },

    // Per-address windows and sweep locks stay in memory only: they are rate limits of minutes, and
    // the per-account count (recordLoginFailure) is the lockout that must survive a restart.
    async countIpFailure(ip, now, windowMs) {
      const window = Math.floor(now / windowMs);
      const entry = ipWindows.get(ip);
      const next = entry && entry.window === window ? { window, count: entry.count + 1 } : { window, count: 1 };
      ipWindows.set(ip, next);
      // Addresses are cheap to rotate (IPv6): windows that have passed are dropped.
      if (ipWindows.size > 10_000) for (const [key, e] of ipWindows) if (e.window < window) ipWindows.delete(key);
      return next.count;
    },

    async getIpFailures(ip, now, windowMs) {
      const entry = ipWindows.get(ip);
      return entry && entry.window === Math.floor(now / windowMs) ? entry.count : 0;
    },

    async getRecord<T>(kind: string, id: string) {
      const v = records.get(kind)?.get(id);
      return v === undefined ? null : (clone(v) as T);
    },

    async putRecord(kind, id, value) {
      kindMap(kind).set(id, clone(value));
      // Records are durable: accounts (passwords, roles, enabled), single-use reset links, site-config
      // overrides, signing keys. The store cannot tell a last-login stamp from a password change in the
      // same user record; a login pays an argon2id hash already, so one fsync more is small.
      await durable();
    },

    async deleteRecord(kind, id) {
      const deleted = records.get(kind)?.delete(id) ?? false;
      if (deleted) await durable();
      return deleted;
    },

    async writeRecords(kind, put, remove = []) {
      // Values are cloned before anything changes: a value that cannot be stored leaves all as it was.
      const copies = put.map(([id, value]) => [id, clone(value)] as const);
      const map = kindMap(kind);
      for (const [id, value] of copies) map.set(id, value);
      for (const id of remove) map.delete(id);
      await durable();
    },

    async replaceRecord(kind, id, expected, value) {
      const current = records.get(kind)?.get(id);
      if (current === undefined || JSON.stringify(current) !== JSON.stringify(expected)) return false;
      kindMap(kind).set(id, clone(value));
      await durable();
      return true;
    },

    async listRecords<T>(kind: string) {
      return [...(records.get(kind)?.values() ?? [])].map((v) => clone(v) as T);
    },

    async tryLock(name, owner, ttlMs, now) {
      const held = locks.get(name);
      if (held && held.until > now) return false;
      locks.set(name, { owner, until: now + ttlMs });
      return true;
    },

    async publish(channel, message) {
      // Delivered asynchronously, as over Redis.
      setImmediate(() => events.emit(channel, message));
    },

    async subscribe(channel, handler): Promise<Unsubscribe> {
      events.on(channel, handler);
      return () => events.off(channel, handler);
    },

    async prune(now) {
      let removed = false;
      for (const s of sessions.values()) {
        if (!alive(s, now)) {
          sessions.delete(s.id);
          removed = true;
        }
      }
      // Batched: these sessions have expired, so they are refused after a restart all the same.
      if (removed) later();
    },

    async ping() {},

    async close() {
      try {
        await flush();
      } finally {
        events.removeAllListeners();
        if (lockFile) fs.rmSync(lockFile, { force: true });
      }
    },
  };
}

/** The snapshot in `file`, or null when there is none yet; anything unreadable is a StoreFileError. */
function readSnapshot(file: string): Snapshot | null {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    throw new StoreFileError(file, `cannot be read (${code})`, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StoreFileError(file, text.trim() === "" ? "is empty" : `is not valid JSON (${(err as Error).message})`, err);
  }
  const isMap = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  const s = parsed as Partial<Snapshot> | null;
  if (!isMap(s) || s!.version !== 1 || !Array.isArray(s!.sessions) || !isMap(s!.failures) || !isMap(s!.records) || !Object.values(s!.records!).every(isMap)) {
    throw new StoreFileError(file, "does not hold a portcullis store (version 1)");
  }
  return s as Snapshot;
}

/**
 * Replaces `file` so that it holds either the old or the new text after a crash or power cut, and the
 * new one once this resolves: the data is fsynced before the rename, the directory after it (the
 * rename itself lives in the directory).
 */
async function writeDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await fsp.open(tmp, "w", 0o600);
  try {
    await handle.writeFile(text, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.rename(tmp, file);
  let dir: fsp.FileHandle | undefined;
  try {
    dir = await fsp.open(path.dirname(file), "r");
    await dir.sync();
  } catch (err) {
    // Some platforms (Windows) and file systems cannot open or fsync a directory; the rename is all they offer.
    if (!["EISDIR", "EINVAL", "EPERM", "ENOTSUP"].includes((err as NodeJS.ErrnoException).code ?? "")) throw err;
  } finally {
    await dir?.close();
  }
}

/** Temporary files left by a process killed while writing: never renamed, so never part of the store. */
function removeStaleTemporaries(file: string): void {
  const base = path.basename(file);
  const pattern = new RegExp(`^${base.replace(/\./g, "\\.")}\\.\\d+\\.tmp$`);
  for (const name of fs.readdirSync(path.dirname(file))) {
    if (pattern.test(name)) fs.rmSync(path.join(path.dirname(file), name), { force: true });
  }
}

/**
 * One process at a time: a second gateway, or a CLI command while a gateway runs, would overwrite
 * the other's changes. A lock left by a process that is gone is taken over.
 */
function takeLock(lockFile: string): void {
  try {
    fs.writeFileSync(lockFile, String(process.pid), { flag: "wx", mode: 0o600 });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  const holder = Number(fs.readFileSync(lockFile, "utf8"));
  if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
    throw Object.assign(
      new Error(`the embedded store in ${path.dirname(lockFile)} is in use by process ${holder}; stop it first, or set store.redis to share state between processes`),
      { code: "ERR_STORE_LOCKED" },
    );
  }
  fs.writeFileSync(lockFile, String(process.pid), { mode: 0o600 });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
