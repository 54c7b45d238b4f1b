/**
 * Legacy hashes cost what argon2id costs (issue #15, SPEC §6.3): imported OMERO/XNAT digests are
 * stored wrapped in argon2id, a wrong password for such an account takes as long as one for an
 * unknown name, digests already in a store are wrapped at the first start (idempotent, safe when
 * processes start together or change the account meanwhile), and the first login replaces the
 * wrapper with a plain argon2id hash without overwriting a password changed meanwhile.
 */
import { Regulation } from "../../../src/regulation/regulation.js";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Writable } from "node:stream";
import { ManualClock } from "../../../src/clock.js";
import { validate } from "../../../src/config/load.js";
import { compileSite } from "../../../src/config/site.js";
import { Accounts, type UserRecord } from "../../../src/auth/local/accounts.js";
import { LoginService } from "../../../src/auth/login.js";
import { hashPassword, isBareLegacy, schemeOf, verifyPassword } from "../../../src/auth/passwords/hash.js";
import { createLogger } from "../../../src/log/logger.js";
import { createEmbeddedStore } from "../../../src/store/embedded/embedded-store.js";
import { createRedisStore } from "../../../src/store/redis/redis-store.js";
import type { Store } from "../../../src/store/store.js";
import { startTestGateway } from "../../helpers/gateway.js";
import { startTestRedis, type TestRedis } from "../../helpers/redis.js";
import { login, tryLogin } from "../../helpers/auth.js";

const omeroHash = (pw: string) => createHash("md5").update(pw, "utf8").digest("base64");
const xnatHash = (pw: string) => createHash("sha256").update(pw, "utf8").digest("hex");
const quietLog = () => createLogger({ level: "silent", destination: new Writable({ write: (_c, _e, cb) => cb() }) });

/** An account record as a store written before the wrapping holds it: the bare digest. */
function oldRecord(name: string, passwordHash: string, history: string[] = []): UserRecord {
  return { name, roles: ["user"], enabled: true, passwordHash, passwordChangedAt: 0, lastLoginAt: null, createdAt: 0, history: history.map((hash, i) => ({ hash, changedAt: i })) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe("the time a failed login takes", () => {
  it("is the same for a wrong password of an imported legacy account as for an unknown name (median of 20 each, interleaved)", { timeout: 180_000 }, async () => {
    const store = await createEmbeddedStore({ dataDir: null });
    const clock = new ManualClock();
    const accounts = new Accounts(store, clock);
    // No lock: every attempt must reach the password check, not the cheaper locked path.
    const site = compileSite(validate({ site: { maxFailedLogins: -1 } }).site);
    const logins = new LoginService({ regulation: new Regulation({ store, clock, site: () => site, ipLimit: { count: 1_000_000, windowMs: 60_000 }, audit: () => undefined }), accounts, clock, site: () => site, log: quietLog() });
    await accounts.add({ name: "omero1", passwordHash: omeroHash("omero-secret-1"), roles: ["user"] });
    await accounts.add({ name: "xnat1", passwordHash: xnatHash("xnat-secret-1"), roles: ["user"] });
    // A bare digest as a store written before this version holds it until the first start wraps it.
    await store.putRecord("user", "omero2", oldRecord("omero2", omeroHash("omero-secret-2")));

    const timed = async (name: string): Promise<number> => {
      const started = performance.now();
      const result = await logins.login(name, "a-wrong-password", "10.0.0.1");
      const ms = performance.now() - started;
      assert.equal(result.ok, false);
      return ms;
    };
    // Warm-up: the dummy hash is made at its first use.
    await timed("nobody-0");
    const kinds = ["nobody", "omero1", "xnat1", "omero2"] as const;
    const times: Record<(typeof kinds)[number], number[]> = { nobody: [], omero1: [], xnat1: [], omero2: [] };
    for (let i = 0; i < 20; i++) {
      // A different order each round, so that no kind always follows another.
      const order = i % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) times[kind].push(await timed(kind === "nobody" ? `nobody-${i}` : kind));
    }
    const unknown = median(times.nobody);
    const ratios = { omero1: median(times.omero1) / unknown, xnat1: median(times.xnat1) / unknown, omero2: median(times.omero2) / unknown };
    console.log(`median ms: unknown ${unknown.toFixed(1)}, ratios to it: ${JSON.stringify(Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, Number(v.toFixed(3))])))}`);
    for (const [kind, ratio] of Object.entries(ratios)) {
      assert.ok(ratio >= 0.8 && ratio <= 1.25, `${kind}: a wrong password took ${ratio.toFixed(2)}x the time of an unknown name`);
    }
    await store.close();
  });
});

describe("legacy digests already in the store", () => {
  it("are wrapped at the gateway's first start, history included; the password still works and its first login leaves plain argon2id", { timeout: 120_000 }, async () => {
    const store = await createEmbeddedStore({ dataDir: null });
    await store.putRecord("user", "omero1", oldRecord("omero1", omeroHash("omero-secret-1"), [xnatHash("older-secret")]));
    await store.putRecord("user", "xnat1", oldRecord("xnat1", `xnat-sha256:${xnatHash("xnat-secret-1")}`));
    const gw = await startTestGateway({ access: { defaultPolicy: "authenticated" } }, { store, clock: new ManualClock() });
    try {
      assert.equal(await gw.gateway.accounts.legacyWrapping, 2);
      const omero = (await store.getRecord<UserRecord>("user", "omero1"))!;
      assert.equal(schemeOf(omero.passwordHash), "argon2id-omero-md5");
      assert.equal(schemeOf(omero.history[0]!.hash), "argon2id-xnat-sha256");
      assert.equal(await verifyPassword(omero.history[0]!.hash, "older-secret"), true);
      assert.equal(schemeOf((await store.getRecord<UserRecord>("user", "xnat1"))!.passwordHash), "argon2id-xnat-sha256");
      const everything = JSON.stringify(await store.listRecords("user"));
      for (const digest of [omeroHash("omero-secret-1"), xnatHash("xnat-secret-1"), xnatHash("older-secret")]) assert.ok(!everything.includes(digest), `${digest} is still in the store`);
      assert.ok(gw.logs.lines.some((l) => l.msg === "legacy password hashes wrapped in argon2id" && l.accounts === 2));

      assert.equal((await tryLogin(gw, "omero1", "wrong-secret")).res.status, 401);
      await login(gw, "omero1", "omero-secret-1");
      assert.equal(schemeOf((await store.getRecord<UserRecord>("user", "omero1"))!.passwordHash), "argon2id");
      await login(gw, "omero1", "omero-secret-1");
    } finally {
      await gw.close();
    }
    // A second start finds nothing left to wrap and changes nothing.
    const before = JSON.stringify(await store.listRecords("user"));
    const again = await startTestGateway({}, { store, adminPassword: false });
    try {
      assert.equal(await again.gateway.accounts.legacyWrapping, 0);
      assert.equal(JSON.stringify(await store.listRecords("user")), before);
    } finally {
      await again.close();
      await store.close();
    }
  });

  it("never overwrite a password changed while the wrapping ran", { timeout: 60_000 }, async () => {
    const inner = await createEmbeddedStore({ dataDir: null });
    await inner.putRecord("user", "omero1", oldRecord("omero1", omeroHash("omero-secret-1")));
    const other = new Accounts(inner, new ManualClock());
    let raced = false;
    // Another process sets a new password between the wrapping's read and its write.
    const store: Store = {
      ...inner,
      async replaceRecord<T>(kind: string, id: string, expected: T, value: T) {
        if (!raced) {
          raced = true;
          await other.setPasswordHash("omero1", await hashPassword("brand-new-secret"));
        }
        return inner.replaceRecord(kind, id, expected, value);
      },
    };
    const accounts = await Accounts.start(store, new ManualClock(), quietLog());
    await accounts.legacyWrapping;
    assert.equal(raced, true);
    const user = (await inner.getRecord<UserRecord>("user", "omero1"))!;
    assert.equal(await verifyPassword(user.passwordHash, "brand-new-secret"), true, "the new password was overwritten");
    assert.equal(await verifyPassword(user.passwordHash, "omero-secret-1"), false);
    // The old digest went to the history with the change, and is wrapped there too.
    assert.equal(schemeOf(user.history[0]!.hash), "argon2id-omero-md5");
    await inner.close();
  });
});

describe("the first login of a wrapped account", () => {
  it("does not put the old password back when a new one was set while the login ran", { timeout: 60_000 }, async () => {
    const inner = await createEmbeddedStore({ dataDir: null });
    const clock = new ManualClock();
    const other = new Accounts(inner, clock);
    let raced = false;
    const store: Store = {
      ...inner,
      async replaceRecord<T>(kind: string, id: string, expected: T, value: T) {
        if (!raced && kind === "user") {
          raced = true;
          await other.setPasswordHash("omero1", await hashPassword("brand-new-secret"));
        }
        return inner.replaceRecord(kind, id, expected, value);
      },
    };
    const accounts = new Accounts(store, clock);
    await accounts.add({ name: "omero1", passwordHash: omeroHash("omero-secret-1"), roles: ["user"] });
    const site = compileSite(validate({}).site);
    const logins = new LoginService({ regulation: new Regulation({ store, clock, site: () => site, ipLimit: { count: 100, windowMs: 60_000 }, audit: () => undefined }), accounts, clock, site: () => site, log: quietLog() });
    const result = await logins.login("omero1", "omero-secret-1", "10.0.0.1");
    assert.equal(result.ok, true);
    assert.equal(raced, true, "the login did not replace the legacy hash");
    const stored = (await inner.getRecord<UserRecord>("user", "omero1"))!.passwordHash;
    assert.equal(await verifyPassword(stored, "brand-new-secret"), true, "the rehash of the old password overwrote the new one");
    assert.equal(await verifyPassword(stored, "omero-secret-1"), false);
    await inner.close();
  });
});

describe("two processes starting together on Redis", () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startTestRedis();
  });
  after(async () => {
    await redis?.cleanup();
  });

  it("wrap every legacy digest once between them, and every password still verifies", { timeout: 120_000 }, async () => {
    const a = await createRedisStore({ target: { kind: "url", url: redis.url } });
    const b = await createRedisStore({ target: { kind: "url", url: redis.url } });
    const names = Array.from({ length: 8 }, (_, i) => `legacy${i}`);
    for (const name of names) await a.putRecord("user", name, oldRecord(name, i(name) % 2 === 0 ? omeroHash(`${name}-secret`) : xnatHash(`${name}-secret`)));
    const [first, second] = await Promise.all([Accounts.start(a, new ManualClock(), quietLog()), Accounts.start(b, new ManualClock(), quietLog())]);
    const counts = await Promise.all([first.legacyWrapping, second.legacyWrapping]);
    assert.equal(counts[0] + counts[1], names.length, `wrapped ${counts.join(" + ")}`);
    for (const name of names) {
      const user = (await a.getRecord<UserRecord>("user", name))!;
      assert.equal(isBareLegacy(user.passwordHash), false, `${name} is still bare`);
      assert.equal(await verifyPassword(user.passwordHash, `${name}-secret`), true, name);
    }
    await a.close();
    await b.close();
  });

  it("replace a record only while it is the one expected (compare-and-set), on Redis and embedded alike", async () => {
    const redisStore = await createRedisStore({ target: { kind: "url", url: redis.url }, prefix: "cas:" });
    const embedded = await createEmbeddedStore({ dataDir: null });
    for (const store of [redisStore, embedded]) {
      const v1 = { name: "x", n: 1, nested: { list: [1, 2] } };
      assert.equal(await store.replaceRecord("thing", "x", v1, { ...v1, n: 2 }), false, `${store.kind}: replaced a record that does not exist`);
      assert.equal(await store.getRecord("thing", "x"), null);
      await store.putRecord("thing", "x", v1);
      const read = (await store.getRecord<typeof v1>("thing", "x"))!;
      assert.equal(await store.replaceRecord("thing", "x", { ...v1, n: 9 }, { ...v1, n: 3 }), false, `${store.kind}: replaced a record that changed`);
      assert.deepEqual(await store.getRecord("thing", "x"), v1);
      assert.equal(await store.replaceRecord("thing", "x", read, { ...v1, n: 2 }), true, `${store.kind}: did not replace the record read`);
      assert.deepEqual(await store.getRecord("thing", "x"), { ...v1, n: 2 });
      assert.equal(await store.replaceRecord("thing", "x", read, { ...v1, n: 4 }), false, `${store.kind}: replaced twice from one read`);
      assert.deepEqual((await store.listRecords("thing")).length, 1);
    }
    await redisStore.close();
    await embedded.close();
  });
});

/** The number at the end of a name. */
function i(name: string): number {
  return Number(/\d+$/.exec(name)![0]);
}
