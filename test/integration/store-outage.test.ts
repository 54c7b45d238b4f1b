/**
 * SPEC §10 "Store unreachable: requests that need credentials get 503 (fail closed; never forwarded
 * unauthenticated), bypass routes keep working, recovery is automatic." A real redis-server is
 * killed under traffic and started again; and a gateway is started while Redis is down.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { Accounts } from "../../src/auth/local/accounts.js";
import { systemClock } from "../../src/clock.js";
import { createRedisStore } from "../../src/store/redis/redis-store.js";
import { request, startTestGateway, type TestGateway, type TestResponse } from "../helpers/gateway.js";
import { makePki } from "../helpers/certs.js";
import { startProcessGateway } from "../helpers/process-gateway.js";
import { freePort, startTestRedis, type TestRedis } from "../helpers/redis.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

const PASSWORD = "admin-password-1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sessionCookieOf(res: TestResponse): string | null {
  const raw = res.headers["set-cookie"] ?? [];
  const found = (Array.isArray(raw) ? raw : [raw]).map((c) => c.split(";")[0]!).find((c) => /^portcullis_session=.+/.test(c));
  return found ?? null;
}

function overrides(redisUrl: string, upstreamUrl: string): Record<string, unknown> {
  return {
    upstream: { url: upstreamUrl },
    store: { redis: redisUrl },
    access: { defaultPolicy: "authenticated", rules: [{ paths: ["/public/**"], policy: "bypass" }] },
  };
}

describe("the store becomes unreachable under traffic", { timeout: 90_000 }, () => {
  let redis: TestRedis;
  let upstream: TestUpstream;
  let gw: TestGateway;

  before(async () => {
    redis = await startTestRedis();
    upstream = await startTestUpstream();
    gw = await startTestGateway(overrides(redis.url, upstream.url));
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
    await redis?.cleanup();
  });

  const loginJson = (password = PASSWORD) =>
    gw.https("/gateway/login", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ username: "admin", password }),
    });
  /** Redis comes back empty (redis-server saved nothing): the account is restored as from a backup. */
  const restoreAdmin = async () => {
    const restore = await createRedisStore({ target: { kind: "url", url: redis.url } });
    try {
      await new Accounts(restore, systemClock).add({ name: "admin", password: PASSWORD, roles: ["admin"] });
    } finally {
      await restore.close();
    }
  };
  const withCookie = (path: string, cookie: string) => gw.https(path, { headers: { cookie, accept: "application/json" } });
  const basic = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}`;

  it("fails closed while Redis is down, keeps bypass routes and health up, and recovers by itself", async (t) => {
    // Before: a session works.
    const first = await loginJson();
    assert.equal(first.status, 200, first.body);
    const cookie = sessionCookieOf(first);
    assert.ok(cookie);
    const ok = await withCookie("/protected/before", cookie);
    assert.equal(ok.status, 200);
    assert.equal(ok.json<{ headers: Record<string, string> }>().headers["x-remote-user"], "admin");
    // A validated session may be served from memory for up to a second (SPEC §6.2); let that pass,
    // so that every request below has to ask the store.
    await sleep(1_200);

    await redis.stop();
    const receivedBefore = upstream.received.length;
    const outcomes = { cookie: [] as number[], basic: [] as number[], login: [] as number[], anon: [] as number[], bypass: [] as number[], bypassWithCookie: [] as number[], health: [] as number[] };
    const started = Date.now();
    for (let i = 0; i < 8; i++) {
      const answers: TestResponse[] = await Promise.all([
        withCookie(`/protected/during-${i}`, cookie),
        gw.https(`/protected/basic-${i}`, { headers: { authorization: basic, accept: "application/json" } }),
        loginJson(),
        gw.https(`/protected/anon-${i}`, { headers: { accept: "application/json" } }),
        gw.https(`/public/x?i=${i}`),
        withCookie(`/public/x?c=${i}`, cookie),
        gw.https("/gateway/healthz"),
      ]);
      const [c, b, l, a, p, pc, h] = answers as [TestResponse, TestResponse, TestResponse, TestResponse, TestResponse, TestResponse, TestResponse];
      outcomes.cookie.push(c.status);
      outcomes.basic.push(b.status);
      outcomes.login.push(l.status);
      outcomes.anon.push(a.status);
      outcomes.bypass.push(p.status);
      outcomes.bypassWithCookie.push(pc.status);
      outcomes.health.push(h.status);

      assert.equal(c.status, 503, `session request ${i} while Redis is down: ${c.status} ${c.body}`);
      assert.equal(c.json<{ error: string }>().error, "ERR_STORE_UNAVAILABLE");
      assert.equal(b.status, 503, `Basic request ${i} while Redis is down: ${b.status} ${b.body}`);
      assert.ok(l.status === 503 || l.status === 401, `login ${i} while Redis is down: ${l.status} ${l.body}`);
      assert.equal(sessionCookieOf(l), null, `login ${i} while Redis is down set a session cookie`);
      assert.notEqual(a.status, 200, `an anonymous request ${i} was proxied`);
      assert.equal(p.status, 200, `bypass request ${i}: ${p.status} ${p.body}`);
      assert.equal(p.headers["x-upstream"], "yes");
      assert.equal(pc.status, 200, `bypass request ${i} carrying a cookie: ${pc.status} ${pc.body}`);
      assert.equal(h.status, 200);
      await sleep(250);
    }
    t.diagnostic(`statuses while Redis was down: ${JSON.stringify(outcomes)}`);
    assert.ok(Date.now() - started < 15_000, "the outage traffic was answered promptly, not hung");

    // Nothing that needed credentials reached the upstream; bypass requests arrived without identity.
    const during = upstream.received.slice(receivedBefore);
    assert.deepEqual(
      during.filter((r) => !r.url.startsWith("/public/")).map((r) => r.url),
      [],
      "requests that need credentials were forwarded while the store was down",
    );
    assert.equal(during.length, 16, `the 16 bypass requests reached the upstream: ${JSON.stringify(outcomes)}`);
    for (const r of during) assert.equal(r.headers["x-remote-user"], undefined, `bypass request ${r.url} carried an identity`);

    // Redis is back (empty: redis-server saved nothing, so the account is restored like a backup).
    await redis.start();
    await restoreAdmin();

    // Recovery is automatic: within a bounded time, logins and sessions work again.
    const restarted = Date.now();
    let again: TestResponse | undefined;
    while (Date.now() - restarted < 10_000) {
      again = await loginJson();
      if (again.status === 200) break;
      assert.ok(again.status === 503 || again.status === 401, `login while reconnecting: ${again.status} ${again.body}`);
      await sleep(200);
    }
    t.diagnostic(`first successful login ${Date.now() - restarted} ms after Redis came back`);
    assert.equal(again?.status, 200, `no successful login within 10 s of Redis coming back (last: ${again?.status} ${again?.body})`);
    const fresh = sessionCookieOf(again!);
    assert.ok(fresh);
    const res = await withCookie("/protected/after", fresh);
    assert.equal(res.status, 200, res.body);
    assert.equal(res.json<{ headers: Record<string, string> }>().headers["x-remote-user"], "admin");
    // The old session died with Redis' memory: it is now simply unknown (not 503, not proxied).
    const old = await withCookie("/protected/old", cookie);
    assert.ok(old.status === 302 || old.status === 401, `the pre-outage cookie after recovery: ${old.status} ${old.body}`);
    // Basic credentials work again too.
    const b = await gw.https("/protected/basic-after", { headers: { authorization: basic, accept: "application/json" } });
    assert.equal(b.status, 200);

    // No crash: the gateway logged the outage as 503s, not as internal errors (500).
    await sleep(300); // access lines are handed over in batches of up to 200 ms
    assert.ok(gw.logs.lines.some((l) => l.msg === "request" && l.status === 503), "the 503 answers are in the access log");
    const internal = gw.logs.lines.filter((l) => l.msg === "request" && l.status === 500);
    assert.deepEqual(internal, [], "internal errors were answered during the outage");
  });

  it("serves a session it validated less than a second before the outage only with its identity, then fails closed", async () => {
    const login = await loginJson();
    assert.equal(login.status, 200, login.body);
    const cookie = sessionCookieOf(login)!;
    const warm = await withCookie("/protected/warm", cookie);
    assert.equal(warm.status, 200);
    const validatedAt = Date.now();
    await redis.stop();
    const receivedBefore = upstream.received.length;
    try {
      const seen: { at: number; status: number }[] = [];
      while (Date.now() - validatedAt < 2_000) {
        const res = await withCookie(`/protected/cached-${seen.length}`, cookie);
        seen.push({ at: Date.now() - validatedAt, status: res.status });
        assert.ok(res.status === 200 || res.status === 503, `status ${res.status} ${res.body}`);
        if (res.status === 200) {
          assert.equal(res.json<{ headers: Record<string, string> }>().headers["x-remote-user"], "admin");
          // SPEC §6.2 lets a validation stand for at most a second (plus this request's own time).
          assert.ok(Date.now() - validatedAt <= 1_300, `served from memory ${Date.now() - validatedAt} ms after the last validation: ${JSON.stringify(seen)}`);
        }
        await sleep(100);
      }
      assert.equal(seen.at(-1)!.status, 503, JSON.stringify(seen));
      for (const r of upstream.received.slice(receivedBefore)) assert.equal(r.headers["x-remote-user"], "admin", `forwarded without identity: ${r.url}`);
    } finally {
      await redis.start();
      await restoreAdmin();
    }
  });

  it("answers the gateway's own routes for a signed-in user 503 while Redis is down, never 401 or a logout that ended nothing", async () => {
    const login = await loginJson();
    assert.equal(login.status, 200, login.body);
    const cookie = sessionCookieOf(login)!;
    const csrfToken = login.json<{ csrfToken: string }>().csrfToken;
    // Past the second a validation may stand for, so every request below has to ask the store.
    await sleep(1_200);
    await redis.stop();
    try {
      const json = { accept: "application/json" };
      const answers = {
        explainBasic: await gw.https("/gateway/admin/explain?path=/x", { headers: { ...json, authorization: basic } }),
        explainCookie: await gw.https("/gateway/admin/explain?path=/x", { headers: { ...json, cookie } }),
        sessionsBasic: await gw.https("/gateway/admin/sessions", { headers: { ...json, authorization: basic } }),
        session: await gw.https("/gateway/session", { headers: { ...json, cookie } }),
        logout: await gw.https("/gateway/logout", { method: "POST", headers: { ...json, cookie, "x-csrf-token": csrfToken, "content-type": "application/json" }, body: "{}" }),
      };
      const statuses = Object.fromEntries(Object.entries(answers).map(([k, r]) => [k, r.status]));
      assert.deepEqual(statuses, { explainBasic: 503, explainCookie: 503, sessionsBasic: 503, session: 503, logout: 503 });
      for (const r of Object.values(answers)) assert.equal(r.json<{ error: string }>().error, "ERR_STORE_UNAVAILABLE");
      assert.equal(answers.logout.headers["set-cookie"], undefined, "a logout that ended nothing must not clear the cookie as if it had");
    } finally {
      await redis.start();
      await restoreAdmin();
    }
  });

  it("reports the store on /readyz of the admin listener: 503 while Redis is down, 200 once it is back", async () => {
    const readyz = async () => {
      const res = await request(http, gw.adminPort, "/readyz");
      return { status: res.status, body: res.json<{ ready: boolean; checks: Record<string, { ok: boolean }> }>() };
    };
    // An earlier test restarted Redis: the client may still be in its reconnect back-off.
    let up = await readyz();
    for (const start = Date.now(); up.status !== 200 && Date.now() - start < 10_000; ) {
      await sleep(200);
      up = await readyz();
    }
    assert.equal(up.status, 200, JSON.stringify(up.body));
    // SPEC §10: "/readyz (store, upstream, LDAP)" — the store is one of the checks.
    assert.ok(up.body.checks.store, `/readyz has no store check: ${JSON.stringify(up.body)}`);
    assert.equal(up.body.checks.store.ok, true);

    await redis.stop();
    try {
      const down = await readyz();
      assert.equal(down.status, 503, `/readyz while Redis is down: ${down.status} ${JSON.stringify(down.body)}`);
      assert.equal(down.body.ready, false);
      assert.equal(down.body.checks.store?.ok, false);
    } finally {
      await redis.start();
    }
    const back = Date.now();
    let last = await readyz();
    while (last.status !== 200 && Date.now() - back < 10_000) {
      await sleep(200);
      last = await readyz();
    }
    assert.equal(last.status, 200, `/readyz after Redis came back: ${JSON.stringify(last.body)}`);
  });
});

describe("starting while the store is unreachable", { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startTestUpstream();
  });
  after(async () => {
    await upstream?.close();
  });

  it("an in-process gateway refuses to start with a store-unavailable error (bounded)", async () => {
    // A port nothing listens on. (Not a stopped TestRedis: its stop() after SIGKILL sees exitCode
    // null and waits for an 'exit' that has already happened, so cleanup() after stop() never ends.)
    const port = await freePort();
    const started = Date.now();
    let gw: TestGateway | undefined;
    await assert.rejects(
      (async () => {
        gw = await startTestGateway(overrides(`redis://127.0.0.1:${port}`, upstream.url));
      })(),
      (err: Error & { code?: string; cause?: Error }) => {
        assert.equal(err.code, "ERR_STORE_UNAVAILABLE", `code of ${err.name}: ${err.message}`);
        assert.match(`${err.message} ${err.cause?.message ?? ""}`, /store|redis/i);
        return true;
      },
    );
    await gw?.close();
    assert.ok(Date.now() - started < 15_000, `gave up only after ${Date.now() - started} ms`);
  });

  describe("`portcullis serve` with an unreachable Redis", () => {
    let message = "";
    let elapsedMs = 0;
    let port = 0;
    before(async () => {
      const pki = makePki();
      port = await freePort(); // nothing listens there
      const started = Date.now();
      try {
        await startProcessGateway({ name: "down", pki, settings: overrides(`redis://127.0.0.1:${port}`, upstream.url), readyTimeoutMs: 20_000 });
        message = "it started";
      } catch (err) {
        message = (err as Error).message;
      } finally {
        elapsedMs = Date.now() - started;
        pki.cleanup();
      }
    });

    it("exits with status 1 and says the store is unreachable (bounded)", () => {
      assert.match(message, /exited \(code 1,/, message);
      assert.match(message, /--- stderr ---\nportcullis: .*store.*unreachable/i, message);
      assert.ok(elapsedMs < 20_000, `took ${elapsedMs} ms`);
    });

    it("names what it could not reach (Redis and its address), so the operator knows what to fix", () => {
      const stderr = message.slice(message.indexOf("--- stderr ---"), message.indexOf("--- stdout ---"));
      assert.match(stderr, /redis/i, `stderr does not mention Redis: ${stderr}`);
      assert.ok(stderr.includes(`127.0.0.1:${port}`), `stderr does not name the address 127.0.0.1:${port}: ${stderr}`);
    });
  });
});
