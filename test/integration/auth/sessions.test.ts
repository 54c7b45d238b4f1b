/**
 * Sessions (SPEC §6.1, §6.2, §7): the cookie on proxied requests, identity headers, X-Session-Expires,
 * idle and absolute timeouts on a moved clock, /gateway/session and renew, logout, logout/all, and
 * the concurrent-session cap with both limit policies.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, BROWSER, MINUTE, HOUR, audits, failureReasons, formLogin, login, tryLogin } from "../../helpers/auth.js";

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
}

const TIMEOUT_MESSAGE = "Your session ended at TIMEOUT_TIME; please sign in again.";

describe("a session cookie on proxied requests", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, site: { sessionTimeout: "15 minutes", sessionTimeoutMessage: TIMEOUT_MESSAGE } },
      { clock },
    );
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user", "scientists"], email: "bob@example.org" });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("gives access to a protected upstream path", async () => {
    const { cookie } = await login(gw, "bob", "bob-password-1");
    const res = await gw.https("/data/projects", { headers: { ...API, cookie } });
    assert.equal(res.status, 200);
    assert.equal(res.headers["x-upstream"], "yes");
    assert.equal(res.json<Echo>().url, "/data/projects");
  });

  it("passes X-Remote-User, -Groups, -Email and -Provider upstream and replaces the ones the client sent", async () => {
    const { cookie } = await login(gw, "bob", "bob-password-1");
    const res = await gw.https("/app/page", {
      headers: { ...BROWSER, cookie, "x-remote-user": "admin", "x-remote-groups": "admin", "x-remote-email": "evil@example.org", "x-remote-provider": "ldap" },
    });
    assert.equal(res.status, 200);
    const h = res.json<Echo>().headers;
    assert.equal(h["x-remote-user"], "bob");
    assert.deepEqual(h["x-remote-groups"]!.split(",").map((g) => g.trim()).sort(), ["scientists", "user"]);
    assert.equal(h["x-remote-email"], "bob@example.org");
    assert.equal(h["x-remote-provider"], "local");
    assert.equal(h.cookie?.includes("portcullis_session") ?? false, false, "the gateway's session secret is not passed upstream");
  });

  it("removes client-sent identity headers even when the session user has no email", async () => {
    await gw.gateway.accounts.add({ name: "noemail", password: "noemail-password-1", roles: ["user"] });
    const { cookie } = await login(gw, "noemail", "noemail-password-1");
    const res = await gw.https("/app/page", { headers: { ...BROWSER, cookie, "x-remote-email": "forged@example.org" } });
    assert.equal(res.status, 200);
    const h = res.json<Echo>().headers;
    assert.equal(h["x-remote-user"], "noemail");
    assert.notEqual(h["x-remote-email"], "forged@example.org");
  });

  it("adds X-Session-Expires (ISO time of the idle expiry) to proxied responses", async () => {
    const { cookie } = await login(gw, "bob", "bob-password-1");
    clock.advance(5_000);
    const res = await gw.https("/app/page", { headers: { ...BROWSER, cookie } });
    assert.equal(res.status, 200);
    assert.equal(res.headers["x-session-expires"], new Date(clock.now() + 15 * MINUTE).toISOString());
  });

  it("redirects a browser whose session idled out to the login page with the timeout, which shows sessionTimeoutMessage", async () => {
    const { cookie } = await login(gw, "bob", "bob-password-1");
    const expiry = clock.now() + 15 * MINUTE;
    clock.advance(16 * MINUTE);
    const res = await gw.https("/app/page?q=1", { headers: { ...BROWSER, cookie } });
    assert.equal(res.status, 302);
    const location = new URL(res.headers.location ?? "", "https://gateway.test");
    assert.equal(location.pathname, "/gateway/login");
    assert.equal(location.searchParams.get("returnTo"), "/app/page?q=1");
    assert.ok(location.searchParams.has("timeout"), `no timeout parameter in ${res.headers.location}`);
    const page = await gw.https(location.pathname + location.search, { headers: BROWSER });
    assert.equal(page.status, 200);
    assert.ok(page.body.includes("Your session ended at "), page.body);
    assert.ok(!page.body.includes("TIMEOUT_TIME"), "TIMEOUT_TIME was not replaced");
    const when = new Date(expiry);
    const shown = [when.toUTCString(), when.toISOString(), when.toISOString().slice(11, 16)];
    assert.ok(shown.some((s) => page.body.includes(s)), `the page does not show the expiry time ${when.toISOString()}`);
  });

  it("answers 401 to an API request whose session idled out", async () => {
    const { cookie } = await login(gw, "bob", "bob-password-1");
    clock.advance(16 * MINUTE);
    const res = await gw.https("/app/page", { headers: { ...API, cookie } });
    assert.equal(res.status, 401);
    assert.equal(upstream.received.filter((r) => r.headers.cookie === cookie).length, 0);
  });

  it("slides the idle timeout with activity: a request every 10 minutes for an hour keeps the session", async () => {
    const { cookie } = await login(gw, "bob", "bob-password-1");
    for (let i = 0; i < 7; i++) {
      clock.advance(10 * MINUTE);
      const res = await gw.https("/data/x", { headers: { ...API, cookie } });
      assert.equal(res.status, 200, `request ${i + 1} at ${(i + 1) * 10} minutes`);
    }
    clock.advance(16 * MINUTE);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie } })).status, 401);
  });

  it("returns the current session at GET /gateway/session", async () => {
    const { cookie, csrfToken } = await login(gw, "bob", "bob-password-1");
    const res = await gw.https("/gateway/session", { headers: { ...API, cookie } });
    assert.equal(res.status, 200);
    const s = res.json<{ user: string; roles: string[]; provider: string; expiresAt: string; encrypted: boolean; csrfToken: string }>();
    assert.equal(s.user, "bob");
    assert.deepEqual([...s.roles].sort(), ["scientists", "user"]);
    assert.equal(s.provider, "local");
    assert.equal(s.expiresAt, new Date(clock.now() + 15 * MINUTE).toISOString());
    assert.equal(typeof s.encrypted, "boolean");
    assert.equal(s.csrfToken, csrfToken);
  });

  it("answers GET /gateway/session without a session with 401", async () => {
    const res = await gw.https("/gateway/session", { headers: API });
    assert.equal(res.status, 401);
  });

  it("slides the timeout at POST /gateway/session/renew, which needs X-CSRF-Token", async () => {
    const { cookie, csrfToken } = await login(gw, "bob", "bob-password-1");
    clock.advance(10 * MINUTE);
    const refused = await gw.https("/gateway/session/renew", { method: "POST", headers: { ...API, cookie } });
    assert.equal(refused.status, 403);
    clock.advance(2_000);
    const res = await gw.https("/gateway/session/renew", { method: "POST", headers: { ...API, cookie, "x-csrf-token": csrfToken } });
    assert.equal(res.status, 200);
    const expected = new Date(clock.now() + 15 * MINUTE).toISOString();
    assert.equal(res.json<{ expiresAt: string }>().expiresAt, expected);
    clock.advance(14 * MINUTE);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie } })).status, 200);
  });

  it("ends the session at POST /gateway/logout: the cookie stops working at once", async () => {
    const { cookie, csrfToken } = await login(gw, "bob", "bob-password-1");
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie } })).status, 200);
    const res = await gw.https("/gateway/logout", { method: "POST", headers: { ...API, cookie, "x-csrf-token": csrfToken } });
    assert.equal(res.status, 200);
    const cleared = (res.headers["set-cookie"] ?? []).find((c) => c.startsWith("portcullis_session="));
    assert.ok(cleared && /Max-Age=0/i.test(cleared), `the cookie was not cleared: ${cleared}`);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie } })).status, 401);
  });

  it("stops honouring the sessions of an account once it is disabled", async () => {
    await gw.gateway.accounts.add({ name: "dora", password: "dora-password-1", roles: ["user"] });
    const { cookie } = await login(gw, "dora", "dora-password-1");
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie } })).status, 200);
    await gw.gateway.accounts.setEnabled("dora", false);
    clock.advance(2_000);
    const res = await gw.https("/data/x", { headers: { ...API, cookie } });
    assert.equal(res.status, 401, "a disabled account's session still reaches the upstream");
  });

  it("ends every session of the user at POST /gateway/logout/all", async () => {
    const first = await login(gw, "bob", "bob-password-1");
    const second = await login(gw, "bob", "bob-password-1");
    const other = await login(gw, "noemail", "noemail-password-1");
    for (const c of [first.cookie, second.cookie]) assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: c } })).status, 200);
    const res = await gw.https("/gateway/logout/all", { method: "POST", headers: { ...API, cookie: first.cookie, "x-csrf-token": first.csrfToken } });
    assert.equal(res.status, 200);
    assert.ok(res.json<{ sessionsEnded: number }>().sessionsEnded >= 2);
    for (const c of [first.cookie, second.cookie]) assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: c } })).status, 401);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: other.cookie } })).status, 200, "another user's session ended too");
  });
});

describe("what keeps a session alive", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated", rules: [{ paths: ["/public/**"], policy: "bypass" }] }, site: { sessionTimeout: "15 minutes" } },
      { clock },
    );
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  /** Requests `path` with the cookie once a minute for `minutes` minutes; returns the last answer. */
  async function poll(cookie: string, path: string, minutes: number) {
    let res;
    for (let i = 0; i < minutes; i++) {
      clock.advance(MINUTE);
      res = await gw.https(path, { headers: { ...API, cookie } });
      assert.equal(res.status, 200, `${path} at minute ${i + 1}`);
    }
    return res!;
  }

  it("does not slide the idle timeout for a bypass path: polling one every minute for 20 minutes, the session ends at 15", async () => {
    const { cookie } = await login(gw, "bob", "bob-password-1");
    const expiry = clock.now() + 15 * MINUTE;
    const first = await poll(cookie, "/public/status", 1);
    // A bypass request still carries the identity, and the expiry it reports has not moved.
    assert.equal(first.json<Echo>().headers["x-remote-user"], "bob");
    assert.equal(first.headers["x-session-expires"], new Date(expiry).toISOString());
    await poll(cookie, "/public/status", 19);
    const res = await gw.https("/data/x", { headers: { ...API, cookie } });
    assert.equal(res.status, 401, "the polled public page kept the session alive");
    assert.equal((await gw.https("/gateway/session", { headers: { ...API, cookie } })).status, 401);
  });

  it("slides it for an authenticated path: polling one every minute for 20 minutes keeps the session", async () => {
    const { cookie } = await login(gw, "bob", "bob-password-1");
    const last = await poll(cookie, "/data/status", 20);
    assert.equal(last.headers["x-session-expires"], new Date(clock.now() + 15 * MINUTE).toISOString());
    clock.advance(14 * MINUTE);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie } })).status, 200);
  });

  it("ends the session a browser had when it signs in again (form or JSON), and audits it", async () => {
    const first = await login(gw, "bob", "bob-password-1");
    let from = gw.logs.lines.length;
    const again = await tryLogin(gw, "bob", "bob-password-1", {}, { cookie: first.cookie });
    assert.equal(again.res.status, 200, again.res.body);
    assert.notEqual(again.cookie, first.cookie);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: first.cookie } })).status, 401, "the earlier session still works");
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: again.cookie } })).status, 200);
    const ended = audits(gw, "session.ended", from);
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.user, "bob");
    assert.equal(ended[0]!.reason, "login");

    from = gw.logs.lines.length;
    const form = await formLogin(gw, { username: "bob", password: "bob-password-1" }, { cookie: again.cookie });
    assert.equal(form.res.status, 303, form.res.body);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: again.cookie } })).status, 401);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: form.cookie } })).status, 200);
    assert.deepEqual(audits(gw, "session.ended", from).map((l) => [l.user, l.reason]), [["bob", "login"]]);
  });

  it("keeps the session when a login from the same browser fails", async () => {
    const { cookie } = await login(gw, "bob", "bob-password-1");
    assert.equal((await tryLogin(gw, "bob", "wrong-password", {}, { cookie })).res.status, 401);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie } })).status, 200);
  });
});

describe("the absolute session limit", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, session: { absoluteTimeout: "1 hour" } }, { clock });
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("ends a session one hour after login however active it is", async () => {
    const { cookie } = await login(gw, "bob", "bob-password-1");
    const absolute = clock.now() + HOUR;
    for (let i = 0; i < 5; i++) {
      clock.advance(10 * MINUTE);
      const res = await gw.https("/data/x", { headers: { ...API, cookie } });
      assert.equal(res.status, 200, `request at ${(i + 1) * 10} minutes`);
      assert.ok(Date.parse(res.headers["x-session-expires"] as string) <= absolute, "X-Session-Expires is past the absolute limit");
    }
    clock.advance(10 * MINUTE);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie } })).status, 401);
  });
});

describe("the concurrent-session cap", () => {
  let upstream: TestUpstream;
  let refuse: TestGateway;
  let evict: TestGateway;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    const base = { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, site: { concurrentMaxSessions: 2 } };
    refuse = await startTestGateway(base, { clock });
    evict = await startTestGateway({ ...base, session: { limitPolicy: "evictOldest" } }, { clock });
    for (const gw of [refuse, evict]) await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"] });
  });
  after(async () => {
    await refuse.close();
    await evict.close();
    await upstream.close();
  });

  it("refuses a third login at concurrentMaxSessions 2 with the failure message and audits session-limit", async () => {
    const a = await login(refuse, "bob", "bob-password-1");
    const b = await login(refuse, "bob", "bob-password-1");
    const from = refuse.logs.lines.length;
    const third = await tryLogin(refuse, "bob", "bob-password-1");
    assert.equal(third.res.status, 401);
    assert.equal(third.cookie, "");
    const wrong = await tryLogin(refuse, "bob", "not-the-password");
    assert.equal(third.res.json<{ message: string }>().message, wrong.res.json<{ message: string }>().message);
    assert.deepEqual(failureReasons(refuse, "bob", from)[0], "session-limit");
    for (const c of [a.cookie, b.cookie]) assert.equal((await refuse.https("/data/x", { headers: { ...API, cookie: c } })).status, 200);
  });

  it("counts only live sessions toward the cap: sessions that idled out do not block a new login", async () => {
    clock.advance(16 * MINUTE);
    const out = await tryLogin(refuse, "bob", "bob-password-1");
    assert.equal(out.res.status, 200, out.res.body);
  });

  it("ends the oldest session instead with session.limitPolicy evictOldest", async () => {
    const a = await login(evict, "bob", "bob-password-1");
    clock.advance(2_000);
    const b = await login(evict, "bob", "bob-password-1");
    clock.advance(2_000);
    const c = await login(evict, "bob", "bob-password-1");
    assert.equal((await evict.https("/data/x", { headers: { ...API, cookie: a.cookie } })).status, 401, "the oldest session still works");
    assert.equal((await evict.https("/data/x", { headers: { ...API, cookie: b.cookie } })).status, 200);
    assert.equal((await evict.https("/data/x", { headers: { ...API, cookie: c.cookie } })).status, 200);
  });
});
