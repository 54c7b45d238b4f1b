/**
 * The Redis store (ioredis; standalone, Sentinel or Cluster). Commands fail fast while Redis is
 * unreachable (no offline queue), so callers can fail closed with 503 instead of hanging; ioredis
 * reconnects by itself and the store works again as soon as Redis is back.
 */
import { Cluster, Redis, type RedisOptions } from "ioredis";
import type { RedisTarget } from "../../config/fields.js";
import {
  type CreateSessionResult,
  type FailureState,
  type LimitPolicy,
  type SessionRecord,
  type Store,
  StoreUnavailableError,
  type Unsubscribe,
  sessionTag,
  USER_CHANGED,
} from "../store.js";
import { COUNT_WINDOW, CREATE_SESSION, DELETE_USER_SESSIONS, RECORD_FAILURE, TOUCH_SESSION } from "./scripts.js";

type Client = Redis | Cluster;

interface Scripts {
  pcCreateSession(...args: (string | number)[]): Promise<(string | number)[]>;
  pcTouchSession(...args: (string | number)[]): Promise<number>;
  pcDeleteUserSessions(...args: (string | number)[]): Promise<string[]>;
  pcRecordFailure(...args: (string | number)[]): Promise<[number, number]>;
  pcCountWindow(...args: (string | number)[]): Promise<number>;
  pcReplaceRecord(...args: (string | number)[]): Promise<number>;
}

/** Compare-and-set of one record: KEYS[1] the record, ARGV[1] the JSON expected there, ARGV[2] the new JSON. */
const REPLACE_RECORD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;

/** Failure counters are kept this long after the last failure (garbage collection only). */
const FAILURE_TTL_MS = 30 * 86_400_000;
/** Session keys outlive their absolute expiry by this margin; validity is decided by the caller's clock. */
const SESSION_TTL_MARGIN_MS = 60_000;

export interface RedisStoreOptions {
  target: RedisTarget;
  /** Key prefix, so that tests (and several gateways) can share one Redis. */
  prefix?: string;
  /** How long a command may wait before it counts as a store failure. */
  commandTimeoutMs?: number;
}

function baseOptions(commandTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (times) => Math.min(times * 100, 2_000),
    lazyConnect: false,
  };
}

function connect(target: RedisTarget, commandTimeoutMs: number): Client {
  const options = baseOptions(commandTimeoutMs);
  switch (target.kind) {
    case "url":
      return new Redis(target.url, options);
    case "sentinel":
      return new Redis({ ...options, sentinels: target.sentinels, name: target.name, password: target.password });
    case "cluster":
      return new Cluster(target.nodes, { enableOfflineQueue: false, redisOptions: { ...options, password: target.password } });
  }
}

/** The target for messages, without any password. */
function describeTarget(target: RedisTarget): string {
  if (target.kind === "url") {
    try {
      const u = new URL(target.url);
      return `${u.hostname}:${u.port || 6379}`;
    } catch {
      return "store.redis";
    }
  }
  const nodes = target.kind === "sentinel" ? target.sentinels : target.nodes;
  return nodes.map((n) => `${n.host}:${n.port}`).join(", ");
}

function defineScripts(client: Client): Client & Scripts {
  const define = (name: string, numberOfKeys: number, lua: string) => client.defineCommand(name, { numberOfKeys, lua });
  define("pcCreateSession", 2, CREATE_SESSION);
  define("pcTouchSession", 1, TOUCH_SESSION);
  define("pcDeleteUserSessions", 1, DELETE_USER_SESSIONS);
  define("pcRecordFailure", 2, RECORD_FAILURE);
  define("pcCountWindow", 1, COUNT_WINDOW);
  define("pcReplaceRecord", 1, REPLACE_RECORD);
  return client as Client & Scripts;
}

/** Resolves once the first connection is ready (or rejects after `timeoutMs`). */
function ready(client: Client, timeoutMs: number, describe: string): Promise<void> {
  if ((client as Redis).status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(Object.assign(new StoreUnavailableError(new Error(`no connection within ${timeoutMs} ms`)), { message: `the store (Redis at ${describe}) is unreachable: no connection within ${timeoutMs} ms; check store.redis and that Redis runs` }));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off("ready", onReady);
    };
    client.on("ready", onReady);
  });
}

export async function createRedisStore(options: RedisStoreOptions): Promise<Store> {
  const prefix = options.prefix ?? "pc:";
  const commandTimeoutMs = options.commandTimeoutMs ?? 2_000;
  const client = defineScripts(connect(options.target, commandTimeoutMs));
  // Errors are reported through failed commands; without a listener ioredis would log to stderr.
  client.on("error", () => undefined);
  let subscriber: Client | undefined;
  const handlers = new Map<string, Set<(message: string) => void>>();
  let epoch = 0;

  try {
    await ready(client, 5_000, describeTarget(options.target));
  } catch (err) {
    client.disconnect();
    throw err;
  }

  const k = {
    session: (tag: string, id: string) => `${prefix}{${tag}}:s:${id}`,
    sessionPrefix: (tag: string) => `${prefix}{${tag}}:s:`,
    userIndex: (tag: string, user: string) => `${prefix}{${tag}}:u:${user}`,
    failures: (user: string) => `${prefix}{u:${user}}:f`,
    version: (user: string) => `${prefix}{u:${user}}:v`,
    ipWindow: (ip: string, window: number) => `${prefix}ip:${ip}:${window}`,
    record: (kind: string, id: string) => `${prefix}{r:${kind}}:${id}`,
    recordIndex: (kind: string) => `${prefix}{r:${kind}}`,
    lock: (name: string) => `${prefix}lock:${name}`,
    channel: (name: string) => `${prefix}ch:${name}`,
  };

  /** Runs a command, turning connection trouble into StoreUnavailableError. */
  async function run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const message = (err as Error).message ?? "";
      if (/Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|timed out|Command timed out|MaxRetriesPerRequest|ETIMEDOUT|EPIPE/i.test(message)) {
        throw new StoreUnavailableError(err);
      }
      throw err;
    }
  }

  /**
   * What is stored of a session besides its key and the times (s, e, a): short names, nothing
   * repeated, because every idle session costs Redis memory (target: under 512 bytes each).
   */
  interface Stored {
    u: string;
    p: string;
    r: string[];
    m?: string;
    n?: string;
    c: number;
    x: 0 | 1;
    k: string;
  }

  function pack(s: SessionRecord): string {
    const stored: Stored = { u: s.user, p: s.provider, r: s.roles, c: s.createdAt, x: s.encrypted ? 1 : 0, k: s.csrfToken };
    if (s.email !== undefined) stored.m = s.email;
    if (s.name !== undefined) stored.n = s.name;
    return JSON.stringify(stored);
  }

  const SESSION_VALUE = /^(\d+),(\d+),(\d+),(.*)$/s;

  function toSession(tag: string, id: string, value: string | null): SessionRecord | null {
    const m = value === null ? null : SESSION_VALUE.exec(value);
    if (!m) return null;
    const [, s, e, a, d] = m;
    const v = JSON.parse(d!) as Stored;
    const record: SessionRecord = {
      id,
      tag,
      user: v.u,
      provider: v.p,
      roles: v.r,
      createdAt: v.c,
      lastSeenAt: Number(s),
      expiresAt: Number(e),
      absoluteExpiresAt: Number(a),
      encrypted: v.x === 1,
      csrfToken: v.k,
    };
    if (v.m !== undefined) record.email = v.m;
    if (v.n !== undefined) record.name = v.n;
    return record;
  }

  return {
    kind: "redis",

    createSession(session: SessionRecord, limit: { maxSessions: number; policy: LimitPolicy; now: number }): Promise<CreateSessionResult> {
      return run(async () => {
        const ttl = Math.max(session.absoluteExpiresAt - limit.now, 1) + SESSION_TTL_MARGIN_MS;
        const result = await client.pcCreateSession(
          k.userIndex(session.tag, session.user),
          k.session(session.tag, session.id),
          session.id,
          pack(session),
          ttl,
          session.createdAt,
          limit.maxSessions,
          limit.policy,
          k.sessionPrefix(session.tag),
          limit.now,
          session.lastSeenAt,
          session.expiresAt,
          session.absoluteExpiresAt,
        );
        if (Number(result[0]) === 0) return { created: false, reason: "limit" } as const;
        return { created: true, evicted: result.slice(1).map(String) } as const;
      });
    },

    getSession: (tag, id) => run(async () => toSession(tag, id, await client.get(k.session(tag, id)))),

    touchSession: (tag, id, lastSeenAt, expiresAt) => run(async () => void (await client.pcTouchSession(k.session(tag, id), lastSeenAt, expiresAt))),

    deleteSession: (tag, id) =>
      run(async () => {
        const session = toSession(tag, id, await client.get(k.session(tag, id)));
        if (session === null) return false;
        const { user } = session;
        await client.multi().del(k.session(tag, id)).zrem(k.userIndex(tag, user), id).exec();
        return true;
      }),

    listSessions: (user, now) =>
      run(async () => {
        const tag = sessionTag(user);
        const ids = await client.zrange(k.userIndex(tag, user), "0", "-1");
        if (ids.length === 0) return [];
        const pipeline = client.pipeline();
        for (const id of ids) pipeline.get(k.session(tag, id));
        const results = (await pipeline.exec()) ?? [];
        return results
          .map(([err, value], i) => (err ? null : toSession(tag, ids[i]!, value as string | null)))
          .filter((s): s is SessionRecord => s !== null && s.expiresAt > now && s.absoluteExpiresAt > now);
      }),

    listAllSessions: (now) =>
      run(async () => {
        // There is no index of all users (it would be one key outside every user's Cluster slot), so
        // the user indexes are found with SCAN, on every master of a Cluster. An admin listing, not a hot path.
        const tagLength = sessionTag("").length;
        const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}{${"?".repeat(tagLength)}}:u:*`;
        const users = new Set<string>();
        for (const node of client instanceof Cluster ? client.nodes("master") : [client]) {
          let cursor = "0";
          do {
            const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
            cursor = next;
            for (const key of keys) {
              // `<prefix>{<tag>}:u:<user>`; a key that only looks like one has a tag not derived from its name.
              const user = key.slice(prefix.length + tagLength + 5);
              if (key.slice(prefix.length + 1, prefix.length + 1 + tagLength) === sessionTag(user)) users.add(user);
            }
          } while (cursor !== "0");
        }
        const all: SessionRecord[] = [];
        for (const user of users) {
          const tag = sessionTag(user);
          const ids = await client.zrange(k.userIndex(tag, user), "0", "-1");
          if (ids.length === 0) continue;
          const values = await Promise.all(ids.map((id) => client.get(k.session(tag, id))));
          for (const [i, value] of values.entries()) {
            const s = toSession(tag, ids[i]!, value);
            if (s !== null && s.expiresAt > now && s.absoluteExpiresAt > now) all.push(s);
          }
        }
        return all.sort((a, b) => a.createdAt - b.createdAt);
      }),

    deleteUserSessions: (user) =>
      run(async () => {
        const tag = sessionTag(user);
        return (await client.pcDeleteUserSessions(k.userIndex(tag, user), k.sessionPrefix(tag))).map(String);
      }),

    recordLoginFailure: (user, now, rule) =>
      run(async () => {
        const ttl = Math.max(FAILURE_TTL_MS, rule.lockMs * 2);
        const [n, at] = await client.pcRecordFailure(k.failures(user), k.version(user), now, rule.maxFailures, rule.lockMs, ttl, k.channel(USER_CHANGED), user);
        return { failures: Number(n), lockedAt: Number(at) < 0 ? null : Number(at) };
      }),

    getLoginFailures: (user) =>
      run(async () => {
        const [n, at] = await client.hmget(k.failures(user), "n", "at");
        return { failures: Number(n ?? 0), lockedAt: at === null || Number(at) < 0 ? null : Number(at) } satisfies FailureState;
      }),

    getUserVersion: (user) => run(async () => Number((await client.get(k.version(user))) ?? 0)),

    bumpUserVersion: (user) => run(async () => void (await client.multi().incr(k.version(user)).publish(k.channel(USER_CHANGED), user).exec())),

    subscriptionEpoch: () => (subscriber !== undefined && (subscriber as Redis).status === "ready" ? epoch : -1),

    clearLoginFailures: (user) => run(async () => void (await client.del(k.failures(user)))),

    countIpFailure: (ip, now, windowMs) => run(async () => Number(await client.pcCountWindow(k.ipWindow(ip, Math.floor(now / windowMs)), windowMs * 2))),

    getIpFailures: (ip, now, windowMs) => run(async () => Number((await client.get(k.ipWindow(ip, Math.floor(now / windowMs)))) ?? 0)),

    getRecord: <T>(kind: string, id: string) =>
      run(async () => {
        const value = await client.get(k.record(kind, id));
        return value === null ? null : (JSON.parse(value) as T);
      }),

    putRecord: (kind, id, value) => run(async () => void (await client.multi().set(k.record(kind, id), JSON.stringify(value)).sadd(k.recordIndex(kind), id).exec())),

    deleteRecord: (kind, id) =>
      run(async () => {
        const results = await client.multi().del(k.record(kind, id)).srem(k.recordIndex(kind), id).exec();
        return Number(results?.[0]?.[1] ?? 0) > 0;
      }),

    writeRecords: (kind, put, remove = []) =>
      run(async () => {
        // MULTI/EXEC: applied as one, and not at all if the connection fails before EXEC.
        const tx = client.multi();
        for (const [id, value] of put) tx.set(k.record(kind, id), JSON.stringify(value));
        if (put.length > 0) tx.sadd(k.recordIndex(kind), ...put.map(([id]) => id));
        if (remove.length > 0) tx.del(...remove.map((id) => k.record(kind, id))).srem(k.recordIndex(kind), ...remove);
        await tx.exec();
      }),

    replaceRecord: (kind, id, expected, value) =>
      run(async () => (await client.pcReplaceRecord(k.record(kind, id), JSON.stringify(expected), JSON.stringify(value))) === 1),

    listRecords: <T>(kind: string) =>
      run(async () => {
        const ids = await client.smembers(k.recordIndex(kind));
        if (ids.length === 0) return [] as T[];
        const values = await client.mget(...ids.map((id) => k.record(kind, id)));
        return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as T);
      }),

    tryLock: (name, owner, ttlMs) => run(async () => (await client.set(k.lock(name), owner, "PX", ttlMs, "NX")) === "OK"),

    publish: (channel, message) => run(async () => void (await client.publish(k.channel(channel), message))),

    async subscribe(channel, handler): Promise<Unsubscribe> {
      const name = k.channel(channel);
      if (!subscriber) {
        // A subscriber connection keeps its offline queue: subscriptions are replayed on reconnect.
        const sub: Client = client instanceof Cluster ? client.duplicate() : client.duplicate({ enableOfflineQueue: true });
        subscriber = sub;
        sub.on("error", () => undefined);
        sub.on("ready", () => epoch++);
        sub.on("message", (ch: string, message: string) => {
          for (const h of handlers.get(ch) ?? []) h(message);
        });
      }
      if (!handlers.has(name)) {
        handlers.set(name, new Set());
        await run(() => subscriber!.subscribe(name));
      }
      handlers.get(name)!.add(handler);
      return () => {
        handlers.get(name)?.delete(handler);
      };
    },

    prune: async () => undefined,

    ping: () => run(async () => void (await client.ping())),

    async close() {
      subscriber?.disconnect();
      await client.quit().catch(() => client.disconnect());
    },
  };
}
