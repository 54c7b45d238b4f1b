/**
 * SPEC §1 and §6.1 together: two real gateway PROCESSES (`portcullis serve`) on one real Redis, both
 * with the LDAP provider pointed at one real OpenLDAP slapd over ldaps:// (security.trustStore = the
 * test CA). Failures of a directory user count once across both processes, a directory login's
 * session is honoured by the other process, and a directory restart costs no login on either.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { makePki, type TestPki } from "../helpers/certs.js";
import { type HttpsAnswer, type ProcessGateway, startProcessGateway } from "../helpers/process-gateway.js";
import { startTestRedis, type TestRedis } from "../helpers/redis.js";
import { PEOPLE_SEED, startTestSlapd, type TestSlapd } from "../helpers/slapd.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

const MAX_FAILED = 4;
const { alice, bob } = PEOPLE_SEED;

interface Login {
  status: number;
  res: HttpsAnswer;
  /** "name=value" for a Cookie header, when a session cookie was set. */
  cookie: string | null;
}

async function login(gw: ProcessGateway, username: string, password: string): Promise<Login> {
  const res = await gw.https("/gateway/login", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", origin: `https://127.0.0.1:${gw.securePort}` },
    body: JSON.stringify({ username, password }),
    timeoutMs: 15_000,
  });
  const setCookie = res.headers["set-cookie"] ?? [];
  const session = (Array.isArray(setCookie) ? setCookie : [setCookie]).map((c) => c.split(";")[0]!).find((c) => /^portcullis_session=.+/.test(c));
  return { status: res.status, res, cookie: session ?? null };
}

const get = (gw: ProcessGateway, path: string, cookie: string) => gw.https(path, { headers: { cookie, accept: "application/json" } });

/** The audited login.failed lines of `gw` for `user`. */
const failures = (gw: ProcessGateway, user: string) => gw.logs().filter((l) => l.audit === true && l.event === "login.failed" && l.user === user);

describe("two gateway processes, one Redis, one LDAP directory", { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let upstream: TestUpstream;
  let pki: TestPki;
  let slapd: TestSlapd;
  let A: ProcessGateway | undefined;
  let B: ProcessGateway | undefined;
  let inspect: Redis;
  /** alice's session made on A by the session test, reused by the restart test. */
  let aliceCookie: string | null = null;

  before(async () => {
    pki = makePki();
    [redis, upstream, slapd] = await Promise.all([startTestRedis(), startTestUpstream(), startTestSlapd({ pki })]);
    inspect = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    const settings = {
      upstream: { url: upstream.url },
      store: { redis: redis.url },
      access: { defaultPolicy: "authenticated" },
      site: { maxFailedLogins: MAX_FAILED },
      security: { trustStore: pki.caFile },
      ldap: slapd.ldapConfig(),
    };
    // A first: on an empty store it creates the local `admin`; B then finds accounts and leaves it.
    A = await startProcessGateway({ name: "A", pki, settings });
    B = await startProcessGateway({ name: "B", pki, settings });
  });

  after(async () => {
    const stops = await Promise.all([A?.stop(), B?.stop()]);
    inspect?.disconnect();
    await upstream?.close();
    await Promise.all([redis?.cleanup(), slapd?.cleanup()]);
    pki?.cleanup();
    for (const [i, s] of stops.entries()) if (s) assert.equal(s.killed, false, `gateway ${i === 0 ? "A" : "B"} ignored SIGTERM`);
  });

  it("an LDAP login on A gives a session cookie that B honours, as an ldap session", async () => {
    const onA = await login(A!, "alice", alice.password);
    assert.equal(onA.status, 200, `alice on A: ${onA.res.body}\n${A!.stdout().slice(-2000)}`);
    assert.ok(onA.cookie, "no session cookie");
    const body = onA.res.json<{ user: string; provider: string; roles: string[]; email?: string; csrfToken: string }>();
    assert.equal(body.user, "alice");
    assert.equal(body.provider, "ldap");
    assert.equal(body.email, alice.mail);
    assert.deepEqual([...body.roles].sort(), ["admin", "admins", "scientists"]);

    const session = await get(B!, "/gateway/session", onA.cookie);
    assert.equal(session.status, 200, session.body);
    const seen = session.json<{ user: string; provider: string; roles: string[]; csrfToken: string }>();
    assert.equal(seen.user, "alice");
    assert.equal(seen.provider, "ldap");
    assert.deepEqual([...seen.roles].sort(), ["admin", "admins", "scientists"]);
    assert.equal(seen.csrfToken, body.csrfToken);

    // B proxies with it and passes the directory identity on.
    const proxied = await get(B!, "/app/alice-on-b", onA.cookie);
    assert.equal(proxied.status, 200, proxied.body);
    assert.equal(proxied.headers["x-upstream"], "yes");
    const headers = proxied.json<{ headers: Record<string, string> }>().headers;
    assert.equal(headers["x-remote-user"], "alice");
    assert.equal(headers["x-remote-provider"], "ldap");
    assert.equal(headers["x-remote-email"], alice.mail);

    const audited = await A!.waitForLog((l) => l.audit === true && l.event === "login.ok" && l.user === "alice" && l.provider === "ldap");
    assert.ok(audited, "A audited login.ok with provider ldap");
    aliceCookie = onA.cookie;
  });

  it(`locks the LDAP user bob at exactly the ${MAX_FAILED}th failure when the failures alternate between the processes`, async () => {
    // The right password works (on B) before any failure: later refusals are the lock's doing.
    const ok = await login(B!, "bob", bob.password);
    assert.equal(ok.status, 200, ok.res.body);
    assert.equal(ok.res.json<{ provider: string }>().provider, "ldap");

    const sequence = [A!, B!, A!, B!];
    assert.equal(sequence.length, MAX_FAILED);
    for (const [i, gw] of sequence.entries()) {
      const res = await login(gw, "bob", `wrong-password-${i}`);
      assert.equal(res.status, 401, `failure ${i + 1} on ${gw.name}: ${res.res.body}`);
      assert.equal(res.cookie, null);
      const [n, at] = await inspect.hmget("pc:{u:bob}:f", "n", "at");
      assert.equal(Number(n), i + 1, `the shared counter after failure ${i + 1} (on ${gw.name})`);
      if (i < MAX_FAILED - 1) assert.ok(at === null || Number(at) < 0, `not locked after ${i + 1} failures (at=${at})`);
      else assert.ok(Number(at) > 0, `locked at failure ${MAX_FAILED} (at=${at})`);
    }

    // The RIGHT password is now refused on both processes, with the same answer as any failure.
    for (const gw of [A!, B!]) {
      const res = await login(gw, "bob", bob.password);
      assert.equal(res.status, 401, `bob's right password on ${gw.name} while locked: ${res.res.body}`);
      assert.equal(res.cookie, null);
      assert.equal(res.res.json<{ error: string }>().error, "ERR_LOGIN_FAILED");
    }

    for (const gw of [A!, B!]) {
      const locked = await gw.waitForLog((l) => l.audit === true && l.event === "login.failed" && l.user === "bob" && l.reason === "locked");
      assert.ok(locked, `${gw.name} audited reason "locked" for bob; got ${JSON.stringify(failures(gw, "bob"))}`);
      const bad = failures(gw, "bob").filter((l) => l.reason === "bad-password");
      assert.equal(bad.length, 2, `${gw.name} saw two of the four bad passwords: ${JSON.stringify(failures(gw, "bob"))}`);
    }
    const lockedEvents = [A!, B!].flatMap((gw) => gw.logs().filter((l) => l.event === "account.locked" && l.user === "bob"));
    assert.equal(lockedEvents.length, 1, `one account.locked audit for bob across both processes: ${JSON.stringify(lockedEvents)}`);

    // Another directory user is not affected.
    const other = await login(A!, "carol", PEOPLE_SEED.carol.password);
    assert.equal(other.status, 200, other.res.body);
  });

  it("after the directory is stopped and started again, alice logs in again on both processes", async () => {
    assert.ok(aliceCookie, "the session test ran first");
    await slapd.stop();

    // While it is down: logins fail (not counted against alice), sessions in Redis still work.
    for (const gw of [A!, B!]) {
      const started = Date.now();
      const res = await login(gw, "alice", alice.password);
      assert.notEqual(res.status, 200, `alice logged in on ${gw.name} with the directory down`);
      assert.equal(res.cookie, null);
      assert.ok(Date.now() - started < 8_000, `a refused directory took ${Date.now() - started} ms to fail on ${gw.name}`);
      const unavailable = await gw.waitForLog((l) => l.event === "login.failed" && l.user === "alice" && l.reason === "directory-unavailable");
      assert.ok(unavailable, `${gw.name} audited directory-unavailable; got ${JSON.stringify(failures(gw, "alice"))}`);
    }
    const [n] = await inspect.hmget("pc:{u:alice}:f", "n");
    assert.ok(n === null || Number(n) === 0, `an unreachable directory counted against alice (n=${n})`);
    const during = await get(B!, "/gateway/session", aliceCookie);
    assert.equal(during.status, 200, `alice's existing session on B during the outage: ${during.body}`);

    await slapd.start();
    // The first attempt on each process succeeds: the broken service connection is replaced.
    for (const gw of [A!, B!]) {
      const res = await login(gw, "alice", alice.password);
      assert.equal(res.status, 200, `alice on ${gw.name} right after the restart: ${res.status} ${res.res.body}\n${gw.stdout().slice(-3000)}`);
      assert.ok(res.cookie, `no session cookie from ${gw.name}`);
      assert.equal(res.res.json<{ provider: string }>().provider, "ldap");
      const other = gw === A! ? B! : A!;
      const there = await get(other, "/gateway/session", res.cookie);
      assert.equal(there.status, 200, there.body);
      assert.equal(there.json<{ user: string; provider: string }>().provider, "ldap");
    }
    // Groups are read again after the restart too: alice is still an admin.
    const again = await login(B!, "alice", alice.password);
    assert.equal(again.status, 200);
    assert.ok(again.res.json<{ roles: string[] }>().roles.includes("admin"), `alice's roles after the restart: ${again.res.body}`);
    // And a wrong password is a counted failure again, not "unavailable".
    const wrong = await login(A!, "alice", "wrong-password");
    assert.equal(wrong.status, 401);
    const [after] = await inspect.hmget("pc:{u:alice}:f", "n");
    assert.equal(Number(after), 1, "the wrong password after the restart is counted once");
    const counted = await A!.waitForLog((l) => l.event === "login.failed" && l.user === "alice" && l.reason === "bad-password");
    assert.ok(counted, `A audited bad-password for alice; got ${JSON.stringify(failures(A!, "alice"))}`);
  });

  it("a directory restart between two logins (no attempt while it was down) costs no login on either process", async () => {
    // Both processes hold a bound service connection now …
    for (const gw of [A!, B!]) assert.equal((await login(gw, "carol", PEOPLE_SEED.carol.password)).status, 200, `carol on ${gw.name}`);
    // … which the restart breaks; the next login must open a fresh one rather than fail.
    await slapd.stop();
    await slapd.start();
    for (const gw of [B!, A!]) {
      const res = await login(gw, "alice", alice.password);
      assert.equal(res.status, 200, `alice on ${gw.name} after a quiet restart: ${res.status} ${res.res.body}\n${JSON.stringify(failures(gw, "alice").slice(-2))}`);
      assert.equal(res.res.json<{ provider: string }>().provider, "ldap");
    }
    const [n] = await inspect.hmget("pc:{u:alice}:f", "n");
    assert.ok(n === null || Number(n) === 0, `alice's failure counter after her good logins (n=${n})`);
  });
});
