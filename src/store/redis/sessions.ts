/** Sessions in Redis: one compact string per session and a per-user index, both in the user's Cluster slot. */
import { Cluster } from "ioredis";
import { type CreateSessionResult, type SessionLimit, type SessionRecord, type SessionStore, sessionTag } from "../session-store.js";
import { type RedisContext, run } from "./context.js";

/** Session keys outlive their absolute expiry by this margin; validity is decided by the caller's clock. */
const SESSION_TTL_MARGIN_MS = 60_000;

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

const alive = (s: SessionRecord, now: number) => s.expiresAt > now && s.absoluteExpiresAt > now;

export function redisSessionStore(ctx: RedisContext): SessionStore {
  const { client, keys: k } = ctx;
  return {
    createSession: (session, limit) => run(() => createSession(ctx, session, limit)),

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
          .filter((s): s is SessionRecord => s !== null && alive(s, now));
      }),

    listAllSessions: (now) =>
      run(async () => {
        const all: SessionRecord[] = [];
        for (const user of await usersWithSessions(ctx)) {
          const tag = sessionTag(user);
          const ids = await client.zrange(k.userIndex(tag, user), "0", "-1");
          if (ids.length === 0) continue;
          const values = await Promise.all(ids.map((id) => client.get(k.session(tag, id))));
          for (const [i, value] of values.entries()) {
            const s = toSession(tag, ids[i]!, value);
            if (s !== null && alive(s, now)) all.push(s);
          }
        }
        return all.sort((a, b) => a.createdAt - b.createdAt);
      }),

    deleteUserSessions: (user) =>
      run(async () => {
        const tag = sessionTag(user);
        return (await client.pcDeleteUserSessions(k.userIndex(tag, user), k.sessionPrefix(tag))).map(String);
      }),
  };
}

/** Adds a session under the user's cap, evicting or refusing in the same script (CREATE_SESSION). */
async function createSession({ client, keys: k }: RedisContext, session: SessionRecord, limit: SessionLimit): Promise<CreateSessionResult> {
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
  if (Number(result[0]) === 0) return { created: false, reason: "limit" };
  return { created: true, evicted: result.slice(1).map(String) };
}

/**
 * Every user with a session index. There is no index of all users (it would be one key outside every
 * user's Cluster slot), so the user indexes are found with SCAN, on every master of a Cluster. An
 * admin listing, not a hot path.
 */
async function usersWithSessions({ client, prefix }: RedisContext): Promise<Set<string>> {
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
  return users;
}
