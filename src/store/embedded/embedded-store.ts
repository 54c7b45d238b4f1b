/**
 * The embedded store: for one gateway process without Redis. State lives in memory and is written to
 * `<dataDir>/store.json` (atomically, by rename) shortly after each change and on close, so a restart
 * keeps accounts, sessions and locks. Operations are synchronous inside, hence atomic in one process.
 */
import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { type CreateSessionResult, type FailureState, type SessionRecord, type Store, type Unsubscribe, USER_CHANGED } from "../store.js";

interface Snapshot {
  version: 1;
  sessions: SessionRecord[];
  failures: Record<string, FailureState>;
  records: Record<string, Record<string, unknown>>;
}

export interface EmbeddedStoreOptions {
  /** Directory to persist to; null keeps everything in memory (tests of the contract). */
  dataDir: string | null;
  /** Delay before a change is written to disk. */
  flushDelayMs?: number;
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
    if (fs.existsSync(file)) {
      const snapshot = JSON.parse(fs.readFileSync(file, "utf8")) as Snapshot;
      for (const s of snapshot.sessions) sessions.set(s.id, s);
      for (const [user, state] of Object.entries(snapshot.failures)) failures.set(user, state);
      for (const [kind, byId] of Object.entries(snapshot.records)) records.set(kind, new Map(Object.entries(byId)));
    }
  }

  let timer: NodeJS.Timeout | undefined;
  const writeNow = () => {
    if (file === null) return;
    clearTimeout(timer);
    timer = undefined;
    const snapshot: Snapshot = {
      version: 1,
      sessions: [...sessions.values()],
      failures: Object.fromEntries(failures),
      records: Object.fromEntries([...records].map(([kind, byId]) => [kind, Object.fromEntries(byId)])),
    };
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(snapshot), { mode: 0o600 });
    fs.renameSync(tmp, file);
  };
  const changed = () => {
    if (file !== null && timer === undefined) timer = setTimeout(writeNow, options.flushDelayMs ?? 200);
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
      changed();
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
      changed();
    },

    async deleteSession(tag, id) {
      const s = sessions.get(id);
      if (!s || s.tag !== tag) return false;
      sessions.delete(id);
      changed();
      return true;
    },

    async listSessions(user, now) {
      return userSessions(user).filter((s) => alive(s, now)).map(clone);
    },

    async deleteUserSessions(user) {
      const ids = userSessions(user).map((s) => s.id);
      for (const id of ids) sessions.delete(id);
      if (ids.length) changed();
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
      changed();
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
      if (failures.delete(user)) changed();
    },

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
      changed();
    },

    async deleteRecord(kind, id) {
      const deleted = records.get(kind)?.delete(id) ?? false;
      if (deleted) changed();
      return deleted;
    },

    async writeRecords(kind, put, remove = []) {
      // Values are cloned before anything changes: a value that cannot be stored leaves all as it was.
      const copies = put.map(([id, value]) => [id, clone(value)] as const);
      const map = kindMap(kind);
      for (const [id, value] of copies) map.set(id, value);
      for (const id of remove) map.delete(id);
      changed();
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
      if (removed) changed();
    },

    async ping() {},

    async close() {
      writeNow();
      events.removeAllListeners();
      if (lockFile) fs.rmSync(lockFile, { force: true });
    },
  };
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
