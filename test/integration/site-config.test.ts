/**
 * SPEC §4: site-config properties readable at /gateway/xapi/siteConfig/values/{name} (public ones by
 * anyone, the rest by admins), all of them at GET /gateway/xapi/siteConfig, writable by admins with a
 * JSON map that is validated as a whole (400 listing every problem, nothing applied), persisted in
 * the store, in force at once on every process sharing it, and audited. Also the guest principal of
 * `requireLogin: false`, which a local account named `guest` lends its roles for refreshGuestFrequency.
 *
 * Reading the public properties needs no sign-in: they are what a login page shows (the timeout and
 * failure messages, the password rule, whether login is required).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { LiveSite, SITE_CONFIG_CHANGED, SITE_CONFIG_KIND, type SiteOverride } from "../../src/admin/live-site.js";
import { validate } from "../../src/config/load.js";
import { siteKeys } from "../../src/config/schema.js";
import { createLogger } from "../../src/log/logger.js";
import { createEmbeddedStore } from "../../src/store/embedded/embedded-store.js";
import { createRedisStore } from "../../src/store/redis/redis-store.js";
import { type Store, StoreUnavailableError } from "../../src/store/store.js";
import { makePki, type TestPki } from "../helpers/certs.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { memoryLog, startTestGateway, type TestGateway, type TestResponse } from "../helpers/gateway.js";
import { API, BROWSER, HOUR, MINUTE, SCRIPT, audits, basic, formLogin, login, tryLogin, type LoginOutcome } from "../helpers/auth.js";
import { type HttpsAnswer, type ProcessGateway, startProcessGateway } from "../helpers/process-gateway.js";
import { startTestRedis, type TestRedis } from "../helpers/redis.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

const SITE = "/gateway/xapi/siteConfig";
const ADMIN_PASSWORD = "admin-password-1";

interface Problems {
  error: string;
  problems: { key: string; message: string }[];
}

interface Echo {
  headers: Record<string, string>;
}

/** Polls `check` (bounded, real time: for work another process or a background read does). */
async function eventually(check: () => boolean | Promise<boolean>, withinMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > withinMs) assert.fail(`not within ${withinMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An embedded store whose chosen operations can be made to fail or wait, as a store outage or a race would. */
function scriptedStore(inner: Store) {
  const control = {
    failListing: false,
    failGuest: false,
    epoch: 0,
    dropMessages: false,
    /** Site-config record writes fail (as in an outage) while set; `writes` counts the attempts. */
    failWrites: false,
    writes: 0,
    /** When set, every site-config listing waits here until `release` is called. */
    barrier: null as null | { waiting: number; needed: number; open: Promise<void>; release: () => void },
  };
  const store: Store = {
    ...inner,
    subscriptionEpoch: () => control.epoch,
    async listRecords<T>(kind: string): Promise<T[]> {
      if (kind === SITE_CONFIG_KIND && control.failListing) throw new StoreUnavailableError();
      const records = await inner.listRecords<T>(kind);
      const b = control.barrier;
      if (kind === SITE_CONFIG_KIND && b) {
        if (++b.waiting >= b.needed) b.release();
        await b.open;
      }
      return records;
    },
    async getRecord<T>(kind: string, id: string): Promise<T | null> {
      if (control.failGuest && kind === "user" && id === "guest") throw new StoreUnavailableError();
      return inner.getRecord<T>(kind, id);
    },
    async writeRecords<T>(kind: string, put: ReadonlyArray<readonly [string, T]>, remove?: readonly string[]) {
      if (kind === SITE_CONFIG_KIND) {
        control.writes++;
        if (control.failWrites) throw new StoreUnavailableError();
      }
      return inner.writeRecords(kind, put, remove);
    },
    async publish(channel: string, message: string) {
      if (!control.dropMessages) await inner.publish(channel, message);
    },
  };
  const barrier = (needed: number) => {
    let release!: () => void;
    const open = new Promise<void>((r) => (release = r));
    control.barrier = { waiting: 0, needed, open, release };
  };
  return { store, control, barrier };
}

describe("site-config over REST", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let admin: LoginOutcome;
  let bob: LoginOutcome;
  const clock = new ManualClock();

  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      {
        upstream: { url: upstream.url },
        access: { defaultPolicy: "authenticated", rules: [{ paths: ["/public/**"], policy: "bypass" }] },
        site: { maxFailedLogins: 5 },
      },
      { clock },
    );
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"] });
    admin = await login(gw, "admin", ADMIN_PASSWORD);
    bob = await login(gw, "bob", "bob-password-1");
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const read = (name: string, who?: LoginOutcome) => gw.https(`${SITE}/values/${name}`, { headers: { ...API, ...(who ? { cookie: who.cookie } : {}) } });
  const post = (body: string, who: LoginOutcome = admin, headers: Record<string, string> = {}) =>
    gw.https(SITE, { method: "POST", headers: { ...API, "content-type": "application/json", cookie: who.cookie, "x-csrf-token": who.csrfToken, ...headers }, body });
  const postJson = (changes: unknown, who?: LoginOutcome) => post(JSON.stringify(changes), who);
  const valueOf = async (name: string) => (await read(name, admin)).json<unknown>();
  const problemsOf = (res: TestResponse) => {
    assert.equal(res.status, 400, res.body);
    const body = res.json<Problems>();
    assert.equal(body.error, "ERR_SITE_CONFIG");
    return body.problems;
  };

  describe("reading", () => {
    it("answers a public property to a client that is not signed in", async () => {
      const res = await read("uiLoginFailureMessage");
      assert.equal(res.status, 200);
      assert.match(res.json<string>(), /After %d failed login attempts/);
      assert.equal((await read("requireLogin")).json<boolean>(), true);
    });

    it("answers a public property to a signed-in non-admin", async () => {
      const res = await read("sessionTimeout", bob);
      assert.equal(res.status, 200);
      assert.equal(res.json<string>(), "15 minutes");
    });

    it("refuses a non-public property to a non-admin (403) and to an anonymous client (401)", async () => {
      assert.equal((await read("maxFailedLogins", bob)).status, 403);
      assert.equal((await read("maxFailedLogins")).status, 401);
      // One non-public name in a map is enough to refuse the whole map.
      assert.equal((await read("{requireLogin,maxFailedLogins}", bob)).status, 403);
      const res = await read("maxFailedLogins", admin);
      assert.equal(res.status, 200);
      assert.equal(res.json<number>(), 5);
    });

    it("answers {a,b} with a map of exactly those properties, braces written raw or percent-encoded", async () => {
      for (const spelled of ["{requireLogin,sessionTimeout}", "%7BrequireLogin,sessionTimeout%7D", "%7BrequireLogin%2C%20sessionTimeout%7D"]) {
        const res = await read(spelled);
        assert.equal(res.status, 200, `${spelled}: ${res.body}`);
        assert.deepEqual(res.json(), { requireLogin: true, sessionTimeout: "15 minutes" }, spelled);
      }
      const all = await read("{maxFailedLogins,passwordExpirationDate,dataPaths}", admin);
      assert.deepEqual(all.json(), { maxFailedLogins: 5, passwordExpirationDate: null, dataPaths: ["/xapi/**", "/data/**", "/REST/**", "/fs/**"] });
    });

    it("answers 404 for an unknown property, with the nearest name", async () => {
      const res = await read("maxFailedLogin", admin);
      assert.equal(res.status, 404);
      assert.equal(res.json<{ error: string }>().error, "ERR_NOT_FOUND");
      assert.match(res.json<{ message: string }>().message, /did you mean "maxFailedLogins"/);
      assert.equal((await read("{requireLogin,noSuchThing}")).status, 404);
      assert.equal((await read("__proto__")).status, 404);
    });

    it("lists every property at GET /gateway/xapi/siteConfig for admins only", async () => {
      const res = await gw.https(SITE, { headers: { ...API, cookie: admin.cookie } });
      assert.equal(res.status, 200);
      assert.deepEqual(Object.keys(res.json()).sort(), [...siteKeys].sort());
      assert.equal(res.json<Record<string, unknown>>().securityChannel, "https");
      assert.equal((await gw.https(SITE, { headers: { ...API, cookie: bob.cookie } })).status, 403);
      assert.equal((await gw.https(SITE, { headers: API })).status, 401);
      assert.equal((await gw.https(SITE, { headers: { ...API, authorization: basic("admin", ADMIN_PASSWORD) } })).status, 200);
    });

    it("is answered only over TLS: the plaintext port redirects", async () => {
      const res = await gw.http(`${SITE}/values/requireLogin`, { headers: API });
      assert.equal(res.status, 308);
      assert.equal(res.headers.location, `https://127.0.0.1:${gw.securePort}${SITE}/values/requireLogin`);
    });
  });

  describe("writing", () => {
    it("applies maxFailedLogins at once: the account locks at the new count", async () => {
      await gw.gateway.accounts.add({ name: "cat", password: "cat-password-1", roles: ["user"] });
      for (let i = 0; i < 2; i++) assert.equal((await tryLogin(gw, "cat", "wrong")).res.status, 401);
      assert.equal((await tryLogin(gw, "cat", "cat-password-1")).res.status, 200, "locked after 2 failures while maxFailedLogins is 5");

      const res = await postJson({ maxFailedLogins: 2 });
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(res.json(), { maxFailedLogins: 2 });
      assert.equal(await valueOf("maxFailedLogins"), 2);

      for (let i = 0; i < 2; i++) assert.equal((await tryLogin(gw, "cat", "wrong")).res.status, 401);
      assert.equal((await tryLogin(gw, "cat", "cat-password-1")).res.status, 401, "not locked after 2 failures with maxFailedLogins 2");
    });

    it("shows a new uiLoginFailureMessage on the next failed login, %d filled in", async () => {
      assert.equal((await postJson({ uiLoginFailureMessage: "No entry. %d tries, then a lock.", maxFailedLogins: "4" })).status, 200);
      const json = await tryLogin(gw, "nobody", "wrong");
      assert.equal(json.res.status, 401);
      assert.equal(json.res.json<{ message: string }>().message, "No entry. 4 tries, then a lock.");
      const page = await formLogin(gw, { username: "nobody", password: "wrong" });
      assert.equal(page.res.status, 401);
      assert.match(page.res.body, /No entry\. 4 tries, then a lock\./);
      // The raw value is served back as written; the integer given as "4" is stored as a number.
      assert.equal(await valueOf("uiLoginFailureMessage"), "No entry. %d tries, then a lock.");
      assert.equal(await valueOf("maxFailedLogins"), 4);
    });

    it("shows only the allow-listed HTML of uiLoginFailureMessage on the login page, and JSON clients plain text", async () => {
      const hostile =
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">' +
        '<p>Sign-in <b>failed</b> &amp; <em>%d</em> tries lock you out.</p><script>document.location="https://evil.example/"</script>' +
        '<ul><li><a href="https://help.example.org/reset" onclick="steal()">Reset it</a></li><li><a href="javascript:alert(1)">Call</a> the <a href="/gateway/logout">desk</a></li></ul>' +
        '<img src=x onerror="alert(1)"><form action="https://evil.example/"><input name="password"></form><style>body{display:none}</style>';
      assert.equal((await postJson({ uiLoginFailureMessage: hostile, maxFailedLogins: 4 })).status, 200);
      const page = await formLogin(gw, { username: "nobody", password: "wrong" });
      assert.equal(page.res.status, 401);
      const shown = /<div class="message error" role="alert">(.*?)<\/div>/s.exec(page.res.body)?.[1] ?? "";
      assert.equal(
        shown,
        '<p>Sign-in <b>failed</b> &amp; <em>4</em> tries lock you out.</p>' +
          '<ul><li><a href="https://help.example.org/reset" rel="noopener noreferrer">Reset it</a></li><li><a>Call</a> the <a>desk</a></li></ul>',
      );
      for (const gone of [/http-equiv/i, /<script/i, /onclick|onerror/i, /javascript:/i, /evil\.example/, /<img/i]) assert.doesNotMatch(page.res.body, gone);
      assert.equal((page.res.body.match(/<form|<style/g) ?? []).length, 2, "the admin's form or style was kept");
      const json = await tryLogin(gw, "nobody", "wrong");
      assert.equal(json.res.status, 401);
      assert.equal(json.res.json<{ message: string }>().message, "Sign-in failed & 4 tries lock you out.\n- Reset it\n- Call the desk");
      // The stored value is the admin's, as written.
      assert.equal(await valueOf("uiLoginFailureMessage"), hostile);
      assert.equal((await gw.https(`${SITE}/values/uiLoginFailureMessage`, { method: "DELETE", headers: { ...API, cookie: admin.cookie, "x-csrf-token": admin.csrfToken } })).status, 200);
    });

    it("switches the router to allow mode with securityChannel any, and back with https", async () => {
      assert.equal((await gw.http("/public/page", { headers: BROWSER })).status, 308, "redirect mode before");
      assert.equal((await postJson({ securityChannel: "any" })).status, 200);
      const allowed = await gw.http("/public/page", { headers: BROWSER });
      assert.equal(allowed.status, 200, "plaintext is proxied in allow mode");
      assert.equal(allowed.headers["x-upstream"], "yes");
      // Allow mode keeps the login page (and these routes) on TLS.
      assert.equal((await gw.http("/gateway/login", { headers: BROWSER })).status, 308);
      assert.equal((await postJson({ securityChannel: "https" })).status, 200);
      assert.equal((await gw.http("/public/page", { headers: BROWSER })).status, 308, "redirect mode after");
    });

    it("writes an audit line with who changed what, from and to", async () => {
      assert.equal((await postJson({ concurrentMaxSessions: 50 })).status, 200);
      const from = gw.logs.lines.length;
      assert.equal((await postJson({ concurrentMaxSessions: 40, sessionTimeoutMessage: "Gone at TIMEOUT_TIME." })).status, 200);
      const lines = audits(gw, "site-config.changed", from);
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.user, "admin");
      assert.deepEqual(lines[0]!.changes, {
        concurrentMaxSessions: { from: 50, to: 40 },
        sessionTimeoutMessage: { from: "Session timed out at TIMEOUT_TIME.", to: "Gone at TIMEOUT_TIME." },
      });
    });

    it("answers an empty map with no change and writes no audit line", async () => {
      const from = gw.logs.lines.length;
      const res = await postJson({});
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), {});
      assert.equal(audits(gw, "site-config.changed", from).length, 0);
    });

    it("refuses several bad values with 400 listing every one, and applies none of the request", async () => {
      const before = await valueOf("concurrentMaxSessions");
      const res = await postJson({
        maxFailedLogins: -5,
        sessionTimeout: "soon",
        passwordComplexity: "([",
        aliasTokenTimeoutSchedule: "every hour",
        concurrentMaxSessions: 7,
      });
      const problems = problemsOf(res);
      assert.deepEqual(problems.map((p) => p.key).sort(), ["site.aliasTokenTimeoutSchedule", "site.maxFailedLogins", "site.passwordComplexity", "site.sessionTimeout"]);
      for (const p of problems) assert.ok(p.message.length > 0);
      assert.match(problems.find((p) => p.key === "site.sessionTimeout")!.message, /"soon"/);
      assert.equal(await valueOf("concurrentMaxSessions"), before, "the valid part of a refused request was applied");
      assert.equal(await valueOf("sessionTimeout"), "15 minutes");
    });

    it("refuses an unknown property with the nearest name, and applies nothing", async () => {
      const before = await valueOf("maxFailedLogins");
      const problems = problemsOf(await postJson({ maxFailedLogin: 9, maxFailedLogins: 9 }));
      assert.equal(problems.length, 1);
      assert.equal(problems[0]!.key, "site.maxFailedLogin");
      assert.match(problems[0]!.message, /did you mean "maxFailedLogins"/);
      assert.equal(await valueOf("maxFailedLogins"), before);
    });

    it("checks rules between properties on the merged values (a date expiry needs the date)", async () => {
      const problems = problemsOf(await postJson({ passwordExpirationType: "date" }));
      assert.deepEqual(problems.map((p) => p.key), ["site.passwordExpirationDate"]);
      const ok = await postJson({ passwordExpirationType: "date", passwordExpirationDate: "2026-01-01" });
      assert.equal(ok.status, 200, ok.body);
      // Now clearing the date alone would break the pair.
      assert.deepEqual(problemsOf(await postJson({ passwordExpirationDate: "" })).map((p) => p.key), ["site.passwordExpirationDate"]);
      assert.equal((await postJson({ passwordExpirationType: "disabled", passwordExpirationDate: "" })).status, 200);
      assert.equal(await valueOf("passwordExpirationDate"), null);
    });

    it("refuses a non-admin with 403 and an anonymous client with 401", async () => {
      assert.equal((await postJson({ maxFailedLogins: 9 }, bob)).status, 403);
      const anonymous = await gw.https(SITE, { method: "POST", headers: { ...API, "content-type": "application/json" }, body: '{"maxFailedLogins":9}' });
      assert.equal(anonymous.status, 401);
      const basicBob = await gw.https(SITE, { method: "POST", headers: { ...API, "content-type": "application/json", authorization: basic("bob", "bob-password-1") }, body: '{"maxFailedLogins":9}' });
      assert.equal(basicBob.status, 403);
      assert.notEqual(await valueOf("maxFailedLogins"), 9);
    });

    it("refuses an admin session without the CSRF token (403), takes Basic credentials without one", async () => {
      const without = await gw.https(SITE, { method: "POST", headers: { ...API, "content-type": "application/json", cookie: admin.cookie }, body: '{"maxFailedLogins":9}' });
      assert.equal(without.status, 403);
      assert.equal(without.json<{ error: string }>().error, "ERR_CSRF");
      const wrong = await post('{"maxFailedLogins":9}', admin, { "x-csrf-token": `${admin.csrfToken.slice(0, -2)}xx` });
      assert.equal(wrong.status, 403);
      assert.notEqual(await valueOf("maxFailedLogins"), 9);
      const script = await gw.https(SITE, { method: "POST", headers: { ...API, "content-type": "application/json", authorization: basic("admin", ADMIN_PASSWORD) }, body: '{"maxFailedLogins":9}' });
      assert.equal(script.status, 200, script.body);
      assert.equal(await valueOf("maxFailedLogins"), 9);
    });
  });

  describe("going back to the config's value", () => {
    const reset = (names: string, who: LoginOutcome = admin, headers: Record<string, string> = {}) =>
      gw.https(`${SITE}/values/${names}`, { method: "DELETE", headers: { ...API, cookie: who.cookie, "x-csrf-token": who.csrfToken, ...headers } });
    const overrides = async () => {
      const res = await gw.https(`${SITE}/overrides`, { headers: { ...API, cookie: admin.cookie } });
      assert.equal(res.status, 200, res.body);
      return res.json<{ name: string; value: unknown; configValue: unknown; changedBy: string; changedAt: string }[]>();
    };

    it("lists the overrides with who wrote them, when, and the config's value beside each", async () => {
      assert.equal((await postJson({ maxFailedLogins: 7, sessionTimeoutMessage: "Over at TIMEOUT_TIME." })).status, 200);
      const listed = await overrides();
      const mfl = listed.find((o) => o.name === "maxFailedLogins");
      assert.deepEqual(mfl, { name: "maxFailedLogins", value: 7, configValue: 5, changedBy: "admin", changedAt: new Date(clock.now()).toISOString() });
      assert.equal(listed.find((o) => o.name === "sessionTimeoutMessage")?.configValue, "Session timed out at TIMEOUT_TIME.");
      assert.deepEqual(listed.map((o) => o.name), [...listed.map((o) => o.name)].sort(), "listed by name");
    });

    it("removes overrides with DELETE, so the config file's value holds again, and audits it", async () => {
      const from = gw.logs.lines.length;
      const res = await reset("{maxFailedLogins,sessionTimeoutMessage,requireLogin}");
      assert.equal(res.status, 200, res.body);
      // requireLogin had no override: its value is answered, and it is no change.
      assert.deepEqual(res.json(), { maxFailedLogins: 5, sessionTimeoutMessage: "Session timed out at TIMEOUT_TIME.", requireLogin: true });
      assert.equal(await valueOf("maxFailedLogins"), 5);
      assert.equal((await overrides()).some((o) => o.name === "maxFailedLogins" || o.name === "sessionTimeoutMessage"), false);
      const lines = audits(gw, "site-config.changed", from);
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.reset, true);
      assert.deepEqual(lines[0]!.changes, {
        maxFailedLogins: { from: 7, to: 5 },
        sessionTimeoutMessage: { from: "Over at TIMEOUT_TIME.", to: "Session timed out at TIMEOUT_TIME." },
      });
      // Nothing left to remove: no change, no audit line.
      assert.equal((await reset("maxFailedLogins")).status, 200);
      assert.equal(audits(gw, "site-config.changed", from).length, 1);
    });

    it("refuses an unknown name (404, nothing removed), a non-admin (403), no CSRF token (403), plaintext (308)", async () => {
      assert.equal((await postJson({ maxFailedLogins: 6 })).status, 200);
      const unknown = await reset("{maxFailedLogins,maxFailedLogin}");
      assert.equal(unknown.status, 404);
      assert.match(unknown.body, /did you mean/);
      assert.equal((await reset("{}")).status, 404);
      assert.equal((await reset("maxFailedLogins", bob)).status, 403);
      assert.equal((await gw.https(`${SITE}/overrides`, { headers: { ...API, cookie: bob.cookie } })).status, 403);
      const noToken = await gw.https(`${SITE}/values/maxFailedLogins`, { method: "DELETE", headers: { ...API, cookie: admin.cookie } });
      assert.equal(noToken.status, 403);
      assert.equal((await gw.http(`${SITE}/values/maxFailedLogins`, { method: "DELETE", headers: API })).status, 308);
      assert.equal(await valueOf("maxFailedLogins"), 6, "a refused reset removed the override");
      assert.equal((await reset("maxFailedLogins")).status, 200);
      assert.equal(await valueOf("maxFailedLogins"), 5);
      assert.equal((await postJson({ maxFailedLogins: 9 })).status, 200, "the hostile-input tests below expect 9");
    });
  });

  describe("hostile input", () => {
    const unchanged = async () => assert.equal(await valueOf("maxFailedLogins"), 9);

    it("refuses a body that is not JSON (400) and a body not sent as JSON (415)", async () => {
      const broken = await post('{"maxFailedLogins": 3');
      assert.equal(broken.status, 400);
      assert.equal(broken.json<{ error: string }>().error, "ERR_BAD_REQUEST");
      assert.equal((await post("maxFailedLogins=3", admin, { "content-type": "application/x-www-form-urlencoded" })).status, 415);
      assert.equal((await post('{"maxFailedLogins":3}', admin, { "content-type": "text/plain" })).status, 415);
      assert.equal((await post("")).status, 400);
      await unchanged();
    });

    it("refuses JSON that is not a map: a list, a string, null", async () => {
      for (const body of ['[{"maxFailedLogins":3}]', '"maxFailedLogins"', "null", "3"]) {
        const res = await post(body);
        assert.equal(res.status, 400, body);
        assert.equal(res.json<{ error: string }>().error, "ERR_BAD_REQUEST", body);
      }
      await unchanged();
    });

    it("refuses JSON nested 5,000 deep with 400, as the map and as a value, and keeps serving", async () => {
      const deep = `${"[".repeat(5_000)}${"]".repeat(5_000)}`;
      for (const body of [deep, `{"dataPaths": ${deep}}`, `{"x": "[[[[", "dataPaths": ${deep}}`]) {
        const res = await post(body);
        assert.equal(res.status, 400, res.body.slice(0, 300));
        assert.equal(res.json<{ error: string }>().error, "ERR_BAD_REQUEST");
        assert.match(res.json<{ message: string }>().message, /nest/);
      }
      // Brackets inside strings are text, not nesting.
      const text = await postJson({ sessionTimeoutMessage: `${"[{".repeat(100)} TIMEOUT_TIME` });
      assert.equal(text.status, 200, text.body);
      await unchanged();
    });

    it("answers property names over 100 characters with 404 at once, before any did-you-mean work", async () => {
      const long = "maxFailedLogins".padEnd(15_000, "s");
      const cpu = process.cpuUsage();
      for (let i = 0; i < 10; i++) {
        const res = await read(i % 2 === 0 ? long : `{requireLogin,${long}}`);
        assert.equal(res.status, 404, res.body.slice(0, 300));
        assert.doesNotMatch(res.body, /did you mean/);
        assert.ok(res.body.length < 1_000, "the whole name was echoed");
        const written = await postJson({ [long]: 3 });
        assert.equal(written.status, 400);
      }
      // An edit distance against every property name cost about 80 ms of CPU per request at this length.
      const { user, system } = process.cpuUsage(cpu);
      assert.ok((user + system) / 1_000 < 600, `20 requests took ${Math.round((user + system) / 1_000)} ms of CPU`);
      assert.match((await read("maxFailedLogin")).json<{ message: string }>().message, /did you mean "maxFailedLogins"/, "short names still get a hint");
      await unchanged();
    });

    it("refuses a huge body with 413", async () => {
      const res = await postJson({ uiLoginFailureMessage: "x".repeat(64 * 1024) });
      assert.equal(res.status, 413);
      await unchanged();
      assert.doesNotMatch(String(await valueOf("uiLoginFailureMessage")), /xxxx/);
    });

    it("reports each value of the wrong type by its key", async () => {
      const problems = problemsOf(await postJson({ maxFailedLogins: "many", requireLogin: "maybe", dataPaths: { a: 1 }, sessionTimeout: true, sessionTimeoutMessage: ["a"], concurrentMaxSessions: 1.5 }));
      assert.deepEqual(problems.map((p) => p.key).sort(), [
        "site.concurrentMaxSessions",
        "site.dataPaths",
        "site.maxFailedLogins",
        "site.requireLogin",
        "site.sessionTimeout",
        "site.sessionTimeoutMessage",
      ]);
      await unchanged();
      assert.equal(await valueOf("requireLogin"), true);
    });

    it("treats __proto__ and constructor as unknown names and pollutes nothing", async () => {
      const problems = problemsOf(await post('{"__proto__": {"polluted": true, "maxFailedLogins": 1}, "constructor": {"prototype": {"polluted": true}}, "maxFailedLogins": 3}'));
      assert.deepEqual(problems.map((p) => p.key).sort(), ["site.__proto__", "site.constructor"]);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      await unchanged();
      assert.equal((await gw.gateway.store.listRecords<SiteOverride>(SITE_CONFIG_KIND)).some((r) => r.name === "__proto__" || r.name === "constructor"), false);
    });
  });
});

describe("site-config overrides across a restart on the same store", () => {
  let pki: TestPki;
  let dataDir: string;
  before(() => {
    pki = makePki();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-site-config-"));
  });
  after(() => {
    pki.cleanup();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("keeps a REST change over the config file's value after the gateway restarts", async () => {
    const settings = { store: { dataDir }, site: { maxFailedLogins: 5, sessionTimeout: "20 minutes" } };
    const first = await startTestGateway(settings, { pki });
    try {
      const admin = await login(first, "admin", ADMIN_PASSWORD);
      const res = await first.https(SITE, { method: "POST", headers: { ...API, "content-type": "application/json", cookie: admin.cookie, "x-csrf-token": admin.csrfToken }, body: '{"maxFailedLogins": 7}' });
      assert.equal(res.status, 200, res.body);
    } finally {
      await first.close();
    }
    const second = await startTestGateway(settings, { pki, adminPassword: false });
    try {
      const res = await second.https(`${SITE}/values/{maxFailedLogins,sessionTimeout}`, { headers: { ...API, authorization: basic("admin", ADMIN_PASSWORD) } });
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(res.json(), { maxFailedLogins: 7, sessionTimeout: "20 minutes" });
    } finally {
      await second.close();
    }
  });
});

describe("LiveSite against a store that fails, races or loses messages", () => {
  const base = validate({ site: { maxFailedLogins: 5 } }).site;
  const { destination } = memoryLog();
  const log = createLogger({ level: "silent", destination });
  const clock = new ManualClock();
  const override = (name: string, value: unknown): SiteOverride => ({ name, value, changedBy: "admin", changedAt: clock.now() });

  it("starts from the config's values when the store is down, and takes the overrides once it answers", async () => {
    const { store, control } = scriptedStore(await createEmbeddedStore({ dataDir: null }));
    await store.putRecord(SITE_CONFIG_KIND, "maxFailedLogins", override("maxFailedLogins", 3));
    control.failListing = true;
    const live = new LiveSite({ store, base, clock, log, retryMs: 20 });
    try {
      await live.load();
      assert.equal(live.current().maxFailedLogins, 5);
      await assert.rejects(live.apply({ maxFailedLogins: 4 }, "admin"), StoreUnavailableError);
      control.failListing = false;
      await eventually(() => live.current().maxFailedLogins === 3, 2_000, "the stored override is taken after the store recovers");
    } finally {
      live.close();
      await store.close();
    }
  });

  it("writes several properties as one store change, and changes nothing when that write fails", async () => {
    const { store, control } = scriptedStore(await createEmbeddedStore({ dataDir: null }));
    const live = new LiveSite({ store, base, clock, log });
    try {
      await live.load();
      control.failWrites = true;
      await assert.rejects(live.apply({ maxFailedLogins: 3, sessionTimeout: "20 minutes", requireLogin: false }, "admin"), StoreUnavailableError);
      assert.equal(control.writes, 1, "the three properties were not written as one change");
      assert.deepEqual(await store.listRecords(SITE_CONFIG_KIND), []);
      assert.equal(live.current().maxFailedLogins, 5, "a value the store refused was put in force");
      control.failWrites = false;
      await live.apply({ maxFailedLogins: 3, sessionTimeout: "20 minutes" }, "admin");
      control.failWrites = true;
      await assert.rejects(live.reset(["maxFailedLogins", "sessionTimeout"], "admin"), StoreUnavailableError);
      assert.equal((await store.listRecords(SITE_CONFIG_KIND)).length, 2);
      assert.equal(live.current().maxFailedLogins, 3, "a reset the store refused was put in force");
    } finally {
      live.close();
      await store.close();
    }
  });

  it("refuses to reset an unknown name and removes nothing", async () => {
    const store = await createEmbeddedStore({ dataDir: null });
    const live = new LiveSite({ store, base, clock, log });
    try {
      await live.load();
      await live.apply({ maxFailedLogins: 3 }, "admin");
      await assert.rejects(live.reset(["maxFailedLogins", "nope"], "admin"), (err: Error) => err.name === "SiteConfigError" && /site\.nope/.test(err.message));
      assert.equal(live.current().maxFailedLogins, 3);
    } finally {
      live.close();
      await store.close();
    }
  });

  it("keeps both of two writes of different properties made at the same moment on two processes", async () => {
    const { store, barrier } = scriptedStore(await createEmbeddedStore({ dataDir: null }));
    const [a, b] = [new LiveSite({ store, base, clock, log }), new LiveSite({ store, base, clock, log })];
    try {
      await Promise.all([a.load(), b.load()]);
      // Both writers have read the overrides before either has written: a read-modify-write of one
      // shared record would lose one of the two changes here.
      barrier(2);
      await Promise.all([a.apply({ maxFailedLogins: 3 }, "ann"), b.apply({ sessionTimeout: "20 minutes" }, "ben")]);
      const fresh = new LiveSite({ store, base, clock, log });
      await fresh.load();
      assert.equal(fresh.current().maxFailedLogins, 3);
      assert.equal(fresh.current().sessionTimeoutMs, 20 * MINUTE);
      fresh.close();
      for (const live of [a, b]) {
        await eventually(() => live.current().maxFailedLogins === 3 && live.current().sessionTimeoutMs === 20 * MINUTE, 1_000, "each process holds both changes");
      }
    } finally {
      a.close();
      b.close();
      await store.close();
    }
  });

  it("re-reads the overrides when the subscription is re-established (announcements were lost meanwhile)", async () => {
    const { store, control } = scriptedStore(await createEmbeddedStore({ dataDir: null }));
    const live = new LiveSite({ store, base, clock, log });
    const writer = new LiveSite({ store, base, clock, log });
    try {
      await Promise.all([live.load(), writer.load()]);
      control.dropMessages = true;
      await writer.apply({ maxFailedLogins: 8 }, "admin");
      // Give a lost announcement every chance to have arrived; it must not have.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(live.current().maxFailedLogins, 5, "the change arrived although its announcement was dropped");
      control.epoch = 1;
      live.current();
      await eventually(() => live.current().maxFailedLogins === 8, 1_000, "a new subscription epoch makes the process read again");
    } finally {
      live.close();
      writer.close();
      await store.close();
    }
  });

  it("announces a write on the site-config channel", async () => {
    const store = await createEmbeddedStore({ dataDir: null });
    const live = new LiveSite({ store, base, clock, log });
    const heard: string[] = [];
    const unsubscribe = await store.subscribe(SITE_CONFIG_CHANGED, (m) => heard.push(m));
    try {
      await live.load();
      await live.apply({ requireLogin: false }, "admin");
      await eventually(() => heard.length === 1, 1_000, "the announcement");
      assert.deepEqual(JSON.parse(heard[0]!), ["requireLogin"]);
    } finally {
      unsubscribe();
      live.close();
      await store.close();
    }
  });
});

describe("the guest principal (requireLogin false, refreshGuestFrequency)", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let inner: Store;
  let control: ReturnType<typeof scriptedStore>["control"];
  const clock = new ManualClock();
  let dataDir: string;

  before(async () => {
    upstream = await startTestUpstream();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-guest-"));
    inner = await createEmbeddedStore({ dataDir });
    const scripted = scriptedStore(inner);
    control = scripted.control;
    gw = await startTestGateway(
      {
        upstream: { url: upstream.url },
        access: {
          defaultPolicy: "authenticated",
          rules: [
            { paths: ["/editors/**"], groups: ["editor"], policy: "authenticated" },
            { paths: ["/admins/**"], groups: ["admin"], policy: "authenticated" },
          ],
        },
        site: { requireLogin: false, refreshGuestFrequency: "1 hour" },
      },
      { clock, store: scripted.store },
    );
  });
  after(async () => {
    await gw.close();
    await inner.close();
    await upstream.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const groups = async (p = "/data/x") => {
    const res = await gw.https(p, { headers: SCRIPT });
    return res.status === 200 ? res.json<Echo>().headers["x-remote-groups"] : `status ${res.status}`;
  };

  it("is the plain guest while no account named guest exists", async () => {
    assert.equal(await groups(), "guest");
    assert.equal(await groups("/editors/x"), "status 403");
  });

  it("takes the guest account's roles, but only after refreshGuestFrequency has passed", async () => {
    await gw.gateway.accounts.add({ name: "guest", password: "guest-password-1", roles: ["viewer"] });
    assert.equal(await groups(), "guest", "the cached guest was re-read before refreshGuestFrequency");
    clock.advance(HOUR);
    assert.equal(await groups(), "guest,viewer");

    await gw.gateway.accounts.update("guest", (u) => (u.roles = ["viewer", "editor"]));
    clock.advance(HOUR - 1_000);
    assert.equal(await groups(), "guest,viewer", "new roles before refreshGuestFrequency passed");
    assert.equal(await groups("/editors/x"), "status 403");
    clock.advance(1_000);
    assert.equal(await groups(), "guest,viewer,editor");
    assert.equal(await groups("/editors/x"), "guest,viewer,editor");
  });

  it("follows a live change of refreshGuestFrequency", async () => {
    const res = await gw.https(SITE, { method: "POST", headers: { ...API, "content-type": "application/json", authorization: basic("admin", ADMIN_PASSWORD) }, body: '{"refreshGuestFrequency": "1 minute"}' });
    assert.equal(res.status, 200, res.body);
    await gw.gateway.accounts.update("guest", (u) => (u.roles = ["viewer"]));
    clock.advance(MINUTE);
    assert.equal(await groups(), "guest,viewer");
  });

  it("keeps the guest's roles when the store fails while re-reading, and logs it", async () => {
    await gw.gateway.accounts.update("guest", (u) => (u.roles = ["viewer", "editor"]));
    control.failGuest = true;
    const from = gw.logs.lines.length;
    clock.advance(MINUTE);
    assert.equal(await groups(), "guest,viewer", "a failed read changed the guest");
    assert.ok(gw.logs.lines.slice(from).some((l) => l.level === "warn" && /guest account/.test(String(l.msg))), "the failure was not logged");
    control.failGuest = false;
    clock.advance(MINUTE);
    assert.equal(await groups(), "guest,viewer,editor");
  });

  it("falls back to the plain guest when the account is disabled, and never lends the admin role", async () => {
    await gw.gateway.accounts.setEnabled("guest", false);
    clock.advance(MINUTE);
    assert.equal(await groups(), "guest");
    await gw.gateway.accounts.setEnabled("guest", true);
    await gw.gateway.accounts.update("guest", (u) => (u.roles = ["admin", "viewer"]));
    clock.advance(MINUTE);
    assert.equal(await groups(), "guest,viewer");
    assert.equal(await groups("/admins/x"), "status 403");
  });
});

describe("site-config on two gateway processes sharing one Redis", { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let pki: TestPki;
  let A: ProcessGateway | undefined;
  let B: ProcessGateway | undefined;
  const asAdmin = { authorization: basic("admin", ADMIN_PASSWORD), accept: "application/json" };

  before(async () => {
    redis = await startTestRedis();
    pki = makePki();
    const settings = { store: { redis: redis.url }, site: { maxFailedLogins: 5 } };
    A = await startProcessGateway({ name: "A", pki, settings, adminPassword: ADMIN_PASSWORD });
    B = await startProcessGateway({ name: "B", pki, settings, adminPassword: "another-password" });
  });
  after(async () => {
    const stops = await Promise.all([A?.stop(), B?.stop()]);
    await redis?.cleanup();
    pki?.cleanup();
    for (const s of stops) if (s) assert.equal(s.killed, false, "a gateway ignored SIGTERM");
  });

  const write = (gw: ProcessGateway, changes: Record<string, unknown>, headers: Record<string, string> = asAdmin): Promise<HttpsAnswer> =>
    gw.https(SITE, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(changes) });
  const failureMessage = async (gw: ProcessGateway) =>
    (await gw.https("/gateway/login", { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: '{"username":"nobody","password":"x"}' })).json<{ message: string }>().message;

  it("puts a change made on one process in force on the other within a second", async () => {
    const session = await A!.https("/gateway/login", { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify({ username: "admin", password: ADMIN_PASSWORD }) });
    assert.equal(session.status, 200, session.body);
    const cookie = ([] as string[]).concat(session.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]!).find((c) => c.startsWith("portcullis_session="))!;
    const res = await write(A!, { uiLoginFailureMessage: "Refused on every process (%d).", maxFailedLogins: 3 }, { cookie, "x-csrf-token": session.json<{ csrfToken: string }>().csrfToken, accept: "application/json" });
    assert.equal(res.status, 200, res.body);
    const took = await eventually(async () => (await failureMessage(B!)) === "Refused on every process (3).", 1_000, "B shows A's new failure message");
    assert.ok(took <= 1_000);
    const onB = await B!.https(`${SITE}/values/maxFailedLogins`, { headers: asAdmin });
    assert.equal(onB.json<number>(), 3);
    const audited = await A!.waitForLog((l) => l.audit === true && l.event === "site-config.changed" && l.user === "admin");
    assert.deepEqual((audited?.changes as Record<string, unknown>)?.maxFailedLogins, { from: 5, to: 3 });
  });

  it("keeps both of two changes to different properties written on the two processes at once", async () => {
    const [ra, rb] = await Promise.all([write(A!, { concurrentMaxSessions: 11 }), write(B!, { sessionTimeoutMessage: "Both kept at TIMEOUT_TIME." })]);
    assert.equal(ra.status, 200, ra.body);
    assert.equal(rb.status, 200, rb.body);
    for (const gw of [A!, B!]) {
      await eventually(async () => {
        const res = await gw.https(`${SITE}/values/{concurrentMaxSessions,sessionTimeoutMessage}`, { headers: asAdmin });
        const v = res.json<{ concurrentMaxSessions: number; sessionTimeoutMessage: string }>();
        return v.concurrentMaxSessions === 11 && v.sessionTimeoutMessage === "Both kept at TIMEOUT_TIME.";
      }, 1_000, `process ${gw.name} holds both changes`);
    }
  });

  it("puts a reset made on one process in force on the other", async () => {
    assert.equal((await write(A!, { refreshGuestFrequency: "2 hours" })).status, 200);
    const removed = await B!.https(`${SITE}/values/refreshGuestFrequency`, { method: "DELETE", headers: asAdmin });
    assert.equal(removed.status, 200, removed.body);
    await eventually(async () => (await A!.https(`${SITE}/values/refreshGuestFrequency`, { headers: asAdmin })).json<string>() === "1 day", 1_000, "A drops the override B removed");
  });

  it("refuses a bad write on either process without changing the other", async () => {
    const res = await write(B!, { maxFailedLogins: "lots", concurrentMaxSessions: 99 });
    assert.equal(res.status, 400);
    assert.deepEqual(res.json<Problems>().problems.map((p) => p.key), ["site.maxFailedLogins"]);
    const onA = await A!.https(`${SITE}/values/{maxFailedLogins,concurrentMaxSessions}`, { headers: asAdmin });
    assert.deepEqual(onA.json(), { maxFailedLogins: 3, concurrentMaxSessions: 11 });
  });
});

describe("portcullis config overrides|reset against the gateways' Redis", { timeout: 60_000 }, () => {
  let redis: TestRedis;
  let store: Store;
  let live: LiveSite;
  let cli: (args: string[]) => ReturnType<typeof runCli>;
  const base = validate({ site: { maxFailedLogins: 5 } }).site;
  const log = createLogger({ level: "silent", destination: memoryLog().destination });

  before(async () => {
    redis = await startTestRedis();
    const dir = tempDir("portcullis-site-cli-");
    const config = path.join(dir, "portcullis.yaml");
    fs.writeFileSync(config, `store: { redis: ${JSON.stringify(redis.url)} }\nsite: { maxFailedLogins: 5 }\n`);
    cli = (args) => runCli([...args, "-c", config], { cwd: dir });
    store = await createRedisStore({ target: { kind: "url", url: redis.url } });
    // Stands for a running gateway: it must see the CLI's reset.
    live = new LiveSite({ store, base, clock: new ManualClock(), log });
    await live.load();
  });
  after(async () => {
    live?.close();
    await store?.close();
    await redis?.cleanup();
  });

  it("lists no override on a fresh store", () => {
    const r = cli(["config", "overrides"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /no site\.\* value is overridden/);
  });

  it("lists an override written over REST with the file's value, who and when", async () => {
    await live.apply({ maxFailedLogins: 2 }, "ann");
    const r = cli(["config", "overrides"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^site\.maxFailedLogins = 2 \(file: 5; by ann at \d{4}-\d\d-\d\dT[\d:.]+Z\)$/m);
  });

  it("refuses an unknown key with a hint and resets nothing", () => {
    const r = cli(["config", "reset", "site.maxFailedLogins", "site.maxFailedLogin"]);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /site\.maxFailedLogin: is not a site-config property; did you mean "maxFailedLogins"/);
    assert.match(r.stderr, /nothing was reset/);
    assert.equal(live.current().maxFailedLogins, 2);
  });

  it("resets an override: the store forgets it and a running gateway goes back to the file's value", async () => {
    const r = cli(["config", "reset", "site.maxFailedLogins", "sessionTimeout"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /site\.maxFailedLogins: 2 -> 5 \(the file's value\)/);
    assert.match(r.stdout, /site\.sessionTimeout: not overridden; nothing to reset/);
    assert.deepEqual(await store.listRecords(SITE_CONFIG_KIND), []);
    await eventually(() => live.current().maxFailedLogins === 5, 2_000, "the running LiveSite takes the reset");
  });
});
