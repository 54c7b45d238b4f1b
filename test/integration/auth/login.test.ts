/**
 * Logging in (SPEC §6.1): the login page, form and JSON logins, returnTo, fresh session ids, the
 * single failure message whatever the reason, audit reasons, and no password in any log line.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, BROWSER, COOKIE, audits, basic, cookieAttributes, failureReasons, formLogin, login, tryLogin } from "../../helpers/auth.js";

const FAILURE = "Login failed. After %d failed attempts your account is locked.";
const FAILURE_SHOWN = "Login failed. After 3 failed attempts your account is locked.";

describe("the login page and successful logins", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" } }, { clock });
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"], email: "bob@example.org" });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("serves an HTML form with username and password fields that needs no JavaScript", async () => {
    const res = await gw.https("/gateway/login", { headers: BROWSER });
    assert.equal(res.status, 200);
    assert.match(res.headers["content-type"] ?? "", /^text\/html/);
    assert.match(res.body, /<form[^>]*method="post"[^>]*action="\/gateway\/login"/);
    assert.match(res.body, /<input[^>]*name="username"/);
    assert.match(res.body, /<input[^>]*type="password"[^>]*name="password"/);
    assert.doesNotMatch(res.body, /<script/i);
  });

  it("redirects a successful form login to returnTo with 303 and a HttpOnly, SameSite=Lax, Secure cookie on Path=/", async () => {
    const out = await formLogin(gw, { username: "bob", password: "bob-password-1", returnTo: "/app/page?x=1" });
    assert.equal(out.res.status, 303);
    assert.equal(out.res.headers.location, "/app/page?x=1");
    assert.match(out.setCookie, new RegExp(`^${COOKIE}=[A-Za-z0-9_-]{12}\\.[A-Za-z0-9_-]{43};`));
    const attrs = cookieAttributes(out.setCookie);
    assert.equal(attrs.get("path"), "/");
    assert.ok(attrs.has("httponly"), out.setCookie);
    assert.equal(attrs.get("samesite"), "Lax");
    assert.ok(attrs.has("secure"), out.setCookie);
    const page = await gw.https("/app/page", { headers: { ...BROWSER, cookie: out.cookie } });
    assert.equal(page.status, 200);
    assert.equal(page.json<{ headers: Record<string, string> }>().headers["x-remote-user"], "bob");
  });

  it("answers a successful JSON login with 200 {user, roles, expiresAt, csrfToken}", async () => {
    const out = await login(gw, "bob", "bob-password-1");
    const body = out.res.json<{ user: string; roles: string[]; expiresAt: string; csrfToken: string }>();
    assert.equal(body.user, "bob");
    assert.deepEqual(body.roles, ["user"]);
    assert.equal(body.expiresAt, new Date(clock.now() + 15 * 60_000).toISOString());
    assert.equal(typeof body.csrfToken, "string");
    assert.ok(body.csrfToken.length >= 16);
    assert.ok(out.cookie.startsWith(`${COOKIE}=`));
  });

  for (const evil of ["https://evil.example/", "//evil.example", "/\\evil", "/\\\\evil.example/", "javascript:alert(1)", "%2F%2Fevil", "http:/evil.example", " //evil.example", "/\t/evil.example"]) {
    it(`sends a login with returnTo ${JSON.stringify(evil)} to a same-origin path only`, async () => {
      const out = await formLogin(gw, { username: "bob", password: "bob-password-1", returnTo: evil });
      assert.equal(out.res.status, 303);
      const location = out.res.headers.location ?? "";
      assert.ok(location.startsWith("/"), `Location ${location} is not a path`);
      assert.ok(!location.startsWith("//") && !location.startsWith("/\\"), `Location ${location} leaves the origin`);
      assert.equal(new URL(location, "https://gateway.test").origin, "https://gateway.test");
      assert.doesNotMatch(location, /evil/);
    });
  }

  it("creates a new session id on every login and never adopts the one the client sent", async () => {
    const madeUp = `${"A".repeat(12)}.${"b".repeat(43)}`;
    const first = await formLogin(gw, { username: "bob", password: "bob-password-1" }, { cookie: `${COOKIE}=${madeUp}` });
    assert.equal(first.res.status, 303);
    assert.notEqual(first.cookie, `${COOKIE}=${madeUp}`);
    const second = await formLogin(gw, { username: "bob", password: "bob-password-1" }, { cookie: first.cookie });
    assert.equal(second.res.status, 303);
    assert.notEqual(second.cookie, first.cookie);
    // The made-up value never works.
    const res = await gw.https("/data/app", { headers: { ...API, cookie: `${COOKIE}=${madeUp}` } });
    assert.equal(res.status, 401);
  });

  it("logs in with provider/username when the provider is local", async () => {
    const out = await tryLogin(gw, "local/admin", "admin-password-1");
    assert.equal(out.res.status, 200);
    assert.equal(out.res.json<{ user: string }>().user, "admin");
  });

  it("refuses a login that names an unknown provider", async () => {
    const out = await tryLogin(gw, "nosuch/admin", "admin-password-1");
    assert.equal(out.res.status, 401);
    assert.equal(out.cookie, "");
  });
});

describe("failed logins", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      {
        upstream: { url: upstream.url },
        access: { defaultPolicy: "authenticated" },
        site: { uiLoginFailureMessage: FAILURE, maxFailedLogins: 3, concurrentMaxSessions: 1 },
      },
      { clock },
    );
    await gw.gateway.accounts.add({ name: "wrongpw", password: "Right-Password-77", roles: ["user"] });
    await gw.gateway.accounts.add({ name: "locky", password: "Locky-Password-77", roles: ["user"] });
    await gw.gateway.accounts.add({ name: "offline", password: "Offline-Password-77", roles: ["user"] });
    await gw.gateway.accounts.add({ name: "capped", password: "Capped-Password-77", roles: ["user"] });
    await gw.gateway.accounts.setEnabled("offline", false);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  /** Asserts a JSON and a form failure look exactly alike and carry uiLoginFailureMessage with %d filled in. */
  async function assertUniformFailure(username: string, password: string): Promise<void> {
    const json = await tryLogin(gw, username, password);
    assert.equal(json.res.status, 401, json.res.body);
    assert.equal(json.cookie, "");
    assert.equal(json.res.json<{ message: string }>().message, FAILURE_SHOWN);
  }

  it("answers an unknown user with 401 and the failure message, and audits unknown-user", async () => {
    const from = gw.logs.lines.length;
    await assertUniformFailure("nobody-here", "Whatever-Password-77");
    assert.deepEqual(failureReasons(gw, "nobody-here", from), ["unknown-user"]);
  });

  it("answers a wrong password with 401 and the failure message, and audits bad-password", async () => {
    const from = gw.logs.lines.length;
    await assertUniformFailure("wrongpw", "Wrong-Password-77");
    assert.deepEqual(failureReasons(gw, "wrongpw", from), ["bad-password"]);
  });

  it("answers a form login failure with 401 and the same message on the login page", async () => {
    const out = await formLogin(gw, { username: "wrongpw", password: "Wrong-Password-78" });
    assert.equal(out.res.status, 401);
    assert.equal(out.setCookie, "");
    assert.ok(out.res.body.includes(FAILURE_SHOWN), out.res.body);
    assert.match(out.res.body, /<input[^>]*name="password"/);
    await login(gw, "wrongpw", "Right-Password-77"); // resets its count for the tests below
  });

  it("answers a locked account with 401 and the same message, and audits locked", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await tryLogin(gw, "locky", `Wrong-${i}-Password`)).res.status, 401);
    const from = gw.logs.lines.length;
    await assertUniformFailure("locky", "Locky-Password-77");
    assert.deepEqual(failureReasons(gw, "locky", from), ["locked"]);
  });

  it("answers a disabled account with 401 and the same message, and audits disabled", async () => {
    const from = gw.logs.lines.length;
    await assertUniformFailure("offline", "Offline-Password-77");
    assert.deepEqual(failureReasons(gw, "offline", from), ["disabled"]);
  });

  it("answers a login over the session cap with 401 and the same message, and audits session-limit", async () => {
    await login(gw, "capped", "Capped-Password-77");
    const from = gw.logs.lines.length;
    await assertUniformFailure("capped", "Capped-Password-77");
    assert.deepEqual(failureReasons(gw, "capped", from), ["session-limit"]);
  });

  it("never writes a password into any log line", async () => {
    const secret = "Never-Logged-Secret-9431";
    await gw.gateway.accounts.add({ name: "quiet", password: secret, roles: ["user"] });
    await tryLogin(gw, "quiet", secret);
    await tryLogin(gw, "quiet", `${secret}-wrong`);
    await tryLogin(gw, "nobody-at-all", secret);
    await formLogin(gw, { username: "quiet", password: `${secret}-form` });
    await gw.https("/data/x", { headers: { authorization: basic("quiet", secret), "user-agent": "curl/8" } });
    await gw.https("/data/x", { headers: { authorization: basic("quiet", `${secret}-basic`), "user-agent": "curl/8" } });
    await gw.https("/gateway/password", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ username: "quiet", password: `${secret}-old`, newPassword: `${secret}-new` }),
    });
    await new Promise((r) => setTimeout(r, 250)); // the access log is written in batches
    const all = gw.logs.lines.map((l) => JSON.stringify(l)).join("\n");
    assert.ok(audits(gw, "login.failed").length > 0);
    assert.equal(all.includes(secret), false, "a password appeared in the logs");
    assert.equal(all.includes(Buffer.from(`quiet:${secret}`).toString("base64")), false, "Basic credentials appeared in the logs");
  });
});
