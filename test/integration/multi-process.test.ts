/**
 * SPEC §1: "Several gateway processes may share one Redis: every limit (lockout, concurrent sessions,
 * revocation, site config) holds across all of them at once." Two real gateway PROCESSES (`portcullis
 * serve`), one real redis-server, one upstream; the limits are exercised by alternating between them.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { makePki, type TestPki } from "../helpers/certs.js";
import { type HttpsAnswer, type ProcessGateway, runCliCommand, startProcessGateway } from "../helpers/process-gateway.js";
import { startTestRedis, type TestRedis } from "../helpers/redis.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

const ADMIN_PASSWORD = "admin-password-1";
const USERS: Record<string, string> = {
  carol: "carol-password-1",
  bob: "bob-password-1",
  dave: "dave-password-1",
  erin: "erin-password-1",
  frank: "frank-password-1",
};

interface Login {
  status: number;
  res: HttpsAnswer;
  /** "name=value" for a Cookie header, when a session cookie was set. */
  cookie: string | null;
  csrfToken: string | null;
}

async function login(gw: ProcessGateway, username: string, password: string): Promise<Login> {
  const res = await gw.https("/gateway/login", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const setCookie = res.headers["set-cookie"] ?? [];
  const session = (Array.isArray(setCookie) ? setCookie : [setCookie]).map((c) => c.split(";")[0]!).find((c) => /^portcullis_session=.+/.test(c));
  let csrfToken: string | null = null;
  if (res.status === 200) csrfToken = (res.json<{ csrfToken?: string }>().csrfToken ?? null) as string | null;
  return { status: res.status, res, cookie: session ?? null, csrfToken };
}

function logout(gw: ProcessGateway, session: Login, path = "/gateway/logout"): Promise<HttpsAnswer> {
  return gw.https(path, {
    method: "POST",
    headers: { cookie: session.cookie!, "x-csrf-token": session.csrfToken!, accept: "application/json", "content-type": "application/json" },
    body: "{}",
  });
}

function get(gw: ProcessGateway, path: string, cookie: string): Promise<HttpsAnswer> {
  return gw.https(path, { headers: { cookie, accept: "application/json" } });
}

/** Sessions of `user` that really exist in Redis (index members whose session key is present). */
async function liveSessions(redis: Redis, user: string): Promise<number> {
  const indexes = await redis.keys(`pc:{*}:u:${user}`);
  let n = 0;
  for (const index of indexes) {
    const prefix = index.slice(0, index.length - `:u:${user}`.length);
    for (const id of await redis.zrange(index, "0", "-1")) n += await redis.exists(`${prefix}:s:${id}`);
  }
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("two gateway processes sharing one Redis", { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let upstream: TestUpstream;
  let pki: TestPki;
  let A: ProcessGateway | undefined;
  let B: ProcessGateway | undefined;
  let inspect: Redis;

  before(async () => {
    redis = await startTestRedis();
    upstream = await startTestUpstream();
    pki = makePki();
    inspect = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    const settings = {
      upstream: { url: upstream.url },
      store: { redis: redis.url },
      access: { defaultPolicy: "authenticated" },
      site: { maxFailedLogins: 4, concurrentMaxSessions: 2 },
    };
    // A first: on an empty store it creates `admin` from PORTCULLIS_ADMIN_PASSWORD.
    A = await startProcessGateway({ name: "A", pki, settings, adminPassword: ADMIN_PASSWORD });
    const cwd = A.dir;
    const [b, ...added] = await Promise.all([
      // B is given another first-run password: accounts exist, so it must not touch `admin`.
      startProcessGateway({ name: "B", pki, settings, adminPassword: "some-other-password" }),
      ...Object.entries(USERS).map(([name, pw]) => runCliCommand(["users", "add", name, "-c", A!.configFile], { cwd, stdin: `${pw}\n${pw}\n` })),
    ]);
    B = b;
    for (const [i, r] of added.entries()) assert.equal(r.code, 0, `users add ${Object.keys(USERS)[i]} failed: ${r.stderr}${r.stdout}`);
  });

  after(async () => {
    const stops = await Promise.all([A?.stop(), B?.stop()]);
    inspect?.disconnect();
    await upstream?.close();
    await redis?.cleanup();
    pki?.cleanup();
    // A gateway that had to be SIGKILLed did not honour SIGTERM (SPEC §10): worth failing for.
    for (const [i, s] of stops.entries()) if (s) assert.equal(s.killed, false, `gateway ${i === 0 ? "A" : "B"} ignored SIGTERM`);
  });

  it("uses the one admin account that the first process created (the second does not overwrite it)", async () => {
    const onA = await login(A!, "admin", ADMIN_PASSWORD);
    assert.equal(onA.status, 200);
    assert.equal((await login(B!, "admin", "some-other-password")).status, 401);
    const onB = await login(B!, "admin", ADMIN_PASSWORD);
    assert.equal(onB.status, 200);
    // Leave admin's two session places (cap 2) free for the other tests.
    assert.equal((await logout(B!, onA)).status, 200);
    assert.equal((await logout(A!, onB)).status, 200);
    assert.equal(await liveSessions(inspect, "admin"), 0);
  });

  it("locks an account at exactly the 4th failure when the failures alternate between the processes", async () => {
    const user = "carol";
    // The right password works (on B) before any failure: later refusals are the lock's doing.
    const ok = await login(B!, user, USERS[user]!);
    assert.equal(ok.status, 200);

    const sequence = [A!, B!, A!, B!];
    for (const [i, gw] of sequence.entries()) {
      const res = await login(gw, user, "wrong-password");
      assert.equal(res.status, 401, `failure ${i + 1} on ${gw.name}`);
      assert.equal(res.cookie, null);
      const [n, at] = await inspect.hmget(`pc:{u:${user}}:f`, "n", "at");
      assert.equal(Number(n), i + 1, `the shared counter after failure ${i + 1} (on ${gw.name})`);
      if (i < 3) assert.ok(at === null || Number(at) < 0, `not locked after ${i + 1} failures (at=${at})`);
      else assert.ok(Number(at) > 0, `locked at the 4th failure (at=${at})`);
    }

    // The correct password is now refused on both processes, with the same answer as any failure.
    for (const gw of [A!, B!]) {
      const res = await login(gw, user, USERS[user]!);
      assert.equal(res.status, 401, `correct password on ${gw.name} while locked`);
      assert.equal(res.cookie, null);
      assert.equal(res.res.json<{ error: string }>().error, "ERR_LOGIN_FAILED");
    }

    // The audit log of each process names the real reason.
    for (const gw of [A!, B!]) {
      const locked = await gw.waitForLog((l) => l.audit === true && l.event === "login.failed" && l.user === user && l.reason === "locked", 3_000);
      assert.ok(locked, `process ${gw.name} audited login.failed reason "locked" for ${user}; got: ${JSON.stringify(gw.logs().filter((l) => l.event === "login.failed" && l.user === user))}`);
      const bad = gw.logs().filter((l) => l.event === "login.failed" && l.user === user && l.reason === "bad-password");
      assert.equal(bad.length, 2, `process ${gw.name} saw two of the four bad passwords`);
    }
  });

  it("counts the concurrent-session cap over sessions made on both processes", async () => {
    const user = "bob";
    const onA = await login(A!, user, USERS[user]!);
    assert.equal(onA.status, 200);
    assert.ok(onA.cookie);
    const onB = await login(B!, user, USERS[user]!);
    assert.equal(onB.status, 200);
    assert.ok(onB.cookie);
    assert.equal(await liveSessions(inspect, user), 2);

    // The third login is refused on either process, with the generic failure and no cookie.
    for (const gw of [A!, B!]) {
      const third = await login(gw, user, USERS[user]!);
      assert.equal(third.status, 401, `third session of ${user} on ${gw.name}`);
      assert.equal(third.cookie, null);
      const refused = await gw.waitForLog((l) => l.event === "login.failed" && l.user === user && l.reason === "session-limit", 3_000);
      assert.ok(refused, `process ${gw.name} audited reason session-limit`);
    }
    assert.equal(await liveSessions(inspect, user), 2);

    // Both existing sessions still work, each on the other process.
    assert.equal((await get(B!, "/app/bob-a", onA.cookie!)).status, 200);
    assert.equal((await get(A!, "/app/bob-b", onB.cookie!)).status, 200);

    // Another user is not affected by bob's cap.
    const dave = await login(B!, "dave", USERS.dave!);
    assert.equal(dave.status, 200);

    // Ending one of bob's sessions on A frees a place for a login on B.
    assert.equal((await logout(A!, onA)).status, 200);
    const again = await login(B!, user, USERS[user]!);
    assert.equal(again.status, 200, "a place freed on A is usable on B");
    assert.equal(await liveSessions(inspect, user), 2);
  });

  it("enforces the cap atomically when logins race on both processes at once", async () => {
    const user = "erin";
    const attempts = await Promise.all([A!, B!, A!, B!, A!, B!, A!, B!].map((gw) => login(gw, user, USERS[user]!)));
    const statuses = attempts.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 200).length, 2, `exactly two of eight simultaneous logins succeed: ${statuses.join(",")}`);
    assert.equal(statuses.filter((s) => s === 401).length, 6, `the rest are refused: ${statuses.join(",")}`);
    assert.equal(attempts.filter((a) => a.cookie !== null).length, 2);
    assert.equal(await liveSessions(inspect, user), 2);
  });

  it("stops honouring a session on the other process within a second of its logout", async () => {
    const session = await login(A!, "admin", ADMIN_PASSWORD);
    assert.equal(session.status, 200);
    assert.ok(session.cookie && session.csrfToken);

    // B proxies with the session (and so has it validated, possibly cached) …
    const before = upstream.received.length;
    for (let i = 0; i < 3; i++) {
      const res = await get(B!, `/protected/warm-${i}`, session.cookie);
      assert.equal(res.status, 200, `request ${i} with the session on B`);
      assert.equal(res.headers["x-upstream"], "yes");
      assert.equal(res.json<{ headers: Record<string, string> }>().headers["x-remote-user"], "admin");
    }
    assert.equal(upstream.received.length, before + 3);

    // … then the session is ended on A.
    const out = await logout(A!, session);
    assert.equal(out.status, 200, `logout on A: ${out.body}`);
    const endedAt = Date.now();

    let refusedAfter: number | null = null;
    let lastStatus = 0;
    for (let i = 0; i < 16 && Date.now() - endedAt <= 1_500; i++) {
      const res = await get(B!, `/protected/after-logout-${i}`, session.cookie);
      lastStatus = res.status;
      if (res.status !== 200) {
        assert.ok(res.status === 401 || res.status === 302, `refused as unauthenticated, got ${res.status} ${res.body}`);
        refusedAfter = Date.now() - endedAt;
        break;
      }
      await sleep(100);
    }
    assert.ok(refusedAfter !== null, `B still accepted the ended session 1.5 s after logout (last status ${lastStatus})`);
    assert.ok(refusedAfter <= 1_200, `B refused the ended session only after ${refusedAfter} ms`);
    // On A, where it was ended, it is refused at once.
    assert.notEqual((await get(A!, "/protected/on-a", session.cookie)).status, 200);
  });

  it("logout/all on one process ends the user's sessions made on the other", async () => {
    const onA = await login(A!, "dave", USERS.dave!);
    assert.equal(onA.status, 200);
    // dave may already hold one session from the cap test: this is the second (cap 2).
    const onB = await B!.https("/gateway/session", { headers: { cookie: onA.cookie!, accept: "application/json" } });
    assert.equal(onB.status, 200);
    const csrf = onB.json<{ csrfToken: string }>().csrfToken;
    assert.equal(csrf, onA.csrfToken);
    assert.equal((await get(A!, "/protected/dave", onA.cookie!)).status, 200);

    const all = await B!.https("/gateway/logout/all", {
      method: "POST",
      headers: { cookie: onA.cookie!, "x-csrf-token": csrf, accept: "application/json", "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(all.status, 200, all.body);
    const endedAt = Date.now();
    let refusedAfter: number | null = null;
    for (let i = 0; i < 16 && Date.now() - endedAt <= 1_500; i++) {
      if ((await get(A!, `/protected/dave-${i}`, onA.cookie!)).status !== 200) {
        refusedAfter = Date.now() - endedAt;
        break;
      }
      await sleep(100);
    }
    assert.ok(refusedAfter !== null && refusedAfter <= 1_200, `A refused dave's session after ${refusedAfter} ms`);
    assert.equal(await liveSessions(inspect, "dave"), 0);
  });
  const adminBasic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString("base64")}`;

  it("an admin ending a session on one process stops it on the other within a second", async () => {
    const dave = await login(A!, "dave", USERS.dave!);
    assert.equal(dave.status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await get(A!, `/protected/dave-warm-${i}`, dave.cookie!)).status, 200);

    // The admin (a script with Basic credentials: no session, no CSRF token needed) works on B.
    const list = await B!.https("/gateway/admin/sessions?user=dave", { headers: { authorization: adminBasic, accept: "application/json" } });
    assert.equal(list.status, 200, list.body);
    const sessions = list.json<{ sessions: { id: string; user: string }[] }>().sessions;
    assert.equal(sessions.length, 1, JSON.stringify(sessions));
    const del = await B!.https(`/gateway/admin/sessions/${encodeURIComponent(sessions[0]!.id)}`, { method: "DELETE", headers: { authorization: adminBasic, accept: "application/json" } });
    assert.equal(del.status, 200, del.body);
    const endedAt = Date.now();

    let refusedAfter: number | null = null;
    for (let i = 0; i < 16 && Date.now() - endedAt <= 1_500; i++) {
      if ((await get(A!, `/protected/dave-ended-${i}`, dave.cookie!)).status !== 200) {
        refusedAfter = Date.now() - endedAt;
        break;
      }
      await sleep(100);
    }
    assert.ok(refusedAfter !== null && refusedAfter <= 1_200, `A refused the session ended by the admin on B after ${refusedAfter} ms`);
  });

  it("an admin unlocking an account on one process lets it log in on the other at once", async () => {
    // carol was locked by the lockout test (and stays locked for an hour without this).
    assert.equal((await login(A!, "carol", USERS.carol!)).status, 401);
    const unlock = await B!.https("/gateway/admin/users/carol/unlock", { method: "POST", headers: { authorization: adminBasic, accept: "application/json" } });
    assert.equal(unlock.status, 200, unlock.body);
    const res = await login(A!, "carol", USERS.carol!);
    assert.equal(res.status, 200, `carol on A right after the unlock on B: ${res.status} ${res.res.body}`);
  });
  it("failures by Basic credentials and forms on both processes lock together, and the lock beats a cached Basic login", async () => {
    const user = "frank";
    const good = `Basic ${Buffer.from(`${user}:${USERS[user]}`).toString("base64")}`;
    const bad = `Basic ${Buffer.from(`${user}:wrong-password`).toString("base64")}`;
    const basicGet = (gw: ProcessGateway, path: string, authorization: string) => gw.https(path, { headers: { authorization, accept: "application/json" } });

    // A script authenticates on A; its verification is now cached there (auth.credentialCacheTtl).
    for (let i = 0; i < 2; i++) {
      const res = await basicGet(A!, `/protected/frank-${i}`, good);
      assert.equal(res.status, 200);
      assert.equal(res.json<{ headers: Record<string, string> }>().headers["x-remote-user"], user);
    }

    const failures: [ProcessGateway, "basic" | "form"][] = [[B!, "basic"], [A!, "form"], [A!, "basic"], [B!, "form"]];
    for (const [i, [gw, how]] of failures.entries()) {
      const status = how === "basic" ? (await basicGet(gw, `/protected/frank-bad-${i}`, bad)).status : (await login(gw, user, "wrong-password")).status;
      assert.equal(status, 401, `failure ${i + 1} (${how} on ${gw.name})`);
      const [n, at] = await inspect.hmget(`pc:{u:${user}}:f`, "n", "at");
      assert.equal(Number(n), i + 1, `shared counter after failure ${i + 1} (${how} on ${gw.name})`);
      assert.equal(Number(at ?? -1) > 0, i === 3, `locked only at the 4th failure (at=${at})`);
    }

    // The lock takes effect at once (SPEC §7), even for the verification cached on A.
    const cached = await basicGet(A!, "/protected/frank-after-lock", good);
    assert.equal(cached.status, 401, `the cached Basic login on A after the lock: ${cached.status} ${cached.body}`);
    assert.equal((await basicGet(B!, "/protected/frank-after-lock-b", good)).status, 401);
    assert.equal((await login(B!, user, USERS[user]!)).status, 401);
    const proxied = upstream.received.filter((r) => r.url.startsWith("/protected/frank-after-lock"));
    assert.deepEqual(proxied.map((r) => r.url), [], "a locked account's request reached the upstream");
  });

});
