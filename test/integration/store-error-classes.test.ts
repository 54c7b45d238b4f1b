/**
 * A Redis that answers but cannot serve now fails closed: its reply becomes StoreUnavailableError
 * (ERR_STORE_UNAVAILABLE, 503) through the public Store API, as an unreachable one does. Against real
 * redis-servers: a Cluster node that serves no slot (CLUSTERDOWN), a master demoted to a replica as
 * by a Sentinel failover (READONLY), a replica cut off from its master (MASTERDOWN), a server held by
 * another client's script (BUSY).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis, ReplyError } from "ioredis";
import { createRedisStore } from "../../src/store/redis/redis-store.js";
import { recordKind, sessionTag, type Store } from "../../src/store/store.js";
import { session } from "../contract/store-contract.js";
import { freePort, startTestRedis, type TestRedis } from "../helpers/redis.js";

const T0 = Date.UTC(2026, 0, 1, 12);
const RULE = { maxFailures: 3, lockMs: 60_000 };
const NOTES = recordKind<{ text: string }>("note");
const RedisReply: new (message: string) => Error = ReplyError;

/** The Redis error classes behind an error: its reply's, then those of the commands a transaction refused. */
function replyClasses(err: unknown): string[] {
  if (!(err instanceof RedisReply)) return [];
  const previous = (err as { previousErrors?: unknown[] }).previousErrors ?? [];
  return [err.message.split(" ", 1)[0]!, ...previous.flatMap(replyClasses)];
}

/** `call` fails closed: StoreUnavailableError, caused by a reply of `replyClass` (perhaps inside an EXECABORT). */
async function assertFailsClosed(call: Promise<unknown>, replyClass: string): Promise<void> {
  await assert.rejects(call, (err: Error & { code?: string }) => {
    assert.equal(err.code, "ERR_STORE_UNAVAILABLE", `${err.code}: ${err.message}`);
    assert.ok(replyClasses(err.cause).includes(replyClass), `caused by ${replyClasses(err.cause).join(", ") || String(err.cause)}`);
    return true;
  });
}

/** A client for the test's own commands to the server (REPLICAOF, CONFIG, SCRIPT KILL). */
function adminOf(redis: TestRedis): Redis {
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  admin.on("error", () => undefined);
  return admin;
}

async function replicaLinkUp(admin: Redis): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await admin.info("replication")).includes("master_link_status:up")) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("the replica did not connect to its master");
}

/** Resolves once the server answers BUSY: another client's script has run past busy-reply-threshold. */
async function busy(admin: Redis): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const answer = await admin.ping().catch((err: unknown) => err);
    if (replyClasses(answer)[0] === "BUSY") return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("the server never answered BUSY");
}

describe("a Redis Cluster node that serves no slot (CLUSTERDOWN)", () => {
  let redis: TestRedis;
  let store: Store;
  before(async () => {
    redis = await startTestRedis({ args: ["--cluster-enabled", "yes"] });
    store = await createRedisStore({ target: { kind: "url", url: redis.url } });
  });
  after(async () => {
    await store?.close();
    await redis?.cleanup();
  });

  it("fails closed on a read, a script and a transaction", async () => {
    await assertFailsClosed(store.getSession(sessionTag("ann"), "some-id"), "CLUSTERDOWN");
    await assertFailsClosed(store.recordLoginFailure("ann", T0, RULE), "CLUSTERDOWN");
    await assertFailsClosed(store.putRecord(NOTES, "a", { text: "a" }), "CLUSTERDOWN");
  });
});

describe("a master demoted to a replica, as by a Sentinel failover (READONLY)", () => {
  let master: TestRedis;
  let demoted: TestRedis;
  let admin: Redis;
  let store: Store;
  before(async () => {
    // Its first full sync starts at once, not after the default wait for more replicas.
    master = await startTestRedis({ args: ["--repl-diskless-sync-delay", "0"] });
    demoted = await startTestRedis();
    admin = adminOf(demoted);
    store = await createRedisStore({ target: { kind: "url", url: demoted.url } });
  });
  after(async () => {
    await store?.close();
    admin?.disconnect();
    await demoted?.cleanup();
    await master?.cleanup();
  });

  it("fails closed on every kind of write once demoted, and still answers reads", async () => {
    assert.equal(await store.tryLock("sweep", "p1", 60_000, T0), true);
    await admin.replicaof("127.0.0.1", master.port);
    // Once synced, so that the replies below are not LOADING (an outage too) from the sync.
    await replicaLinkUp(admin);
    await assertFailsClosed(store.tryLock("sweep-2", "p1", 60_000, T0), "READONLY");
    await assertFailsClosed(store.createSession(session("bea"), { maxSessions: 5, policy: "refuse", now: T0 }), "READONLY");
    await assertFailsClosed(store.putRecord(NOTES, "b", { text: "b" }), "READONLY");
    assert.equal(await store.getSession(sessionTag("bea"), "some-id"), null);
  });
});

describe("a replica cut off from its master that serves no stale data (MASTERDOWN)", () => {
  let redis: TestRedis;
  let admin: Redis;
  let store: Store;
  before(async () => {
    redis = await startTestRedis();
    admin = adminOf(redis);
    store = await createRedisStore({ target: { kind: "url", url: redis.url } });
  });
  after(async () => {
    await store?.close();
    admin?.disconnect();
    await redis?.cleanup();
  });

  it("fails closed on reads and on ping", async () => {
    await admin.config("SET", "replica-serve-stale-data", "no");
    // Its master is a port where nothing listens: the link stays down.
    await admin.replicaof("127.0.0.1", await freePort());
    await assertFailsClosed(store.getSession(sessionTag("cid"), "some-id"), "MASTERDOWN");
    await assertFailsClosed(store.getLoginFailures("cid"), "MASTERDOWN");
    await assertFailsClosed(store.ping(), "MASTERDOWN");
  });
});

describe("a Redis held by another client's script (BUSY)", () => {
  let redis: TestRedis;
  let admin: Redis;
  let store: Store;
  before(async () => {
    redis = await startTestRedis({ args: ["--busy-reply-threshold", "100"] });
    admin = adminOf(redis);
    store = await createRedisStore({ target: { kind: "url", url: redis.url } });
  });
  after(async () => {
    await store?.close();
    admin?.disconnect();
    await redis?.cleanup();
  });

  it("fails closed while the script runs, and serves again once it is killed", async () => {
    const hog = adminOf(redis);
    try {
      await hog.ping();
      const running = hog.eval("while true do end", 0).catch((err: unknown) => err);
      await busy(admin);
      await assertFailsClosed(store.getSession(sessionTag("dee"), "some-id"), "BUSY");
      await admin.script("KILL");
      await running;
      assert.equal(await store.getSession(sessionTag("dee"), "some-id"), null);
    } finally {
      hog.disconnect();
    }
  });
});
