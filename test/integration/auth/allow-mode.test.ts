/**
 * OMERO's allow mode (SPEC §5): login only over TLS, then a session usable in plaintext unless it is
 * locked ("encrypt everything" or router.forceEncryption); a locked session's cookie seen in plaintext
 * is revoked. In redirect mode any session cookie seen in plaintext is revoked.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, BROWSER, audits, basic, cookieAttributes, formLogin, login } from "../../helpers/auth.js";

interface Echo {
  headers: Record<string, string>;
}

describe("router.insecure allow", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, router: { insecure: "allow" } }, { clock: new ManualClock() });
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("redirects GET /gateway/login on the plaintext port to the TLS port with 308", async () => {
    const res = await gw.http("/gateway/login?returnTo=%2Fapp", { headers: BROWSER });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, `https://127.0.0.1:${gw.securePort}/gateway/login?returnTo=%2Fapp`);
  });

  it("answers POST /gateway/login on the plaintext port with 303 to the TLS login page (the password is not sent again) and creates no session", async () => {
    const res = await gw.http("/gateway/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...BROWSER },
      body: "username=bob&password=bob-password-1",
    });
    assert.equal(res.status, 303);
    assert.equal(res.headers.location, `https://127.0.0.1:${gw.securePort}/gateway/login`);
    assert.equal(res.headers["set-cookie"], undefined);
  });

  it("redirects the password and admin routes on the plaintext port to TLS", async () => {
    assert.equal((await gw.http("/gateway/password", { headers: BROWSER })).status, 308);
    assert.equal((await gw.http("/gateway/admin/sessions", { headers: API })).status, 308);
  });

  it("offers the encrypt-everything box on the login page", async () => {
    const res = await gw.https("/gateway/login", { headers: BROWSER });
    assert.match(res.body, /<input[^>]*type="checkbox"[^>]*name="encrypted"/);
  });

  it("sets a cookie without Secure for a login without encrypted, usable on the plaintext port", async () => {
    const out = await login(gw, "bob", "bob-password-1");
    assert.equal(cookieAttributes(out.setCookie).has("secure"), false, out.setCookie);
    assert.ok(cookieAttributes(out.setCookie).has("httponly"));
    const res = await gw.http("/app/page", { headers: { ...BROWSER, cookie: out.cookie } });
    assert.equal(res.status, 200);
    assert.equal(res.json<Echo>().headers["x-remote-user"], "bob");
    const session = await gw.http("/gateway/session", { headers: { ...API, cookie: out.cookie } });
    assert.equal(session.status, 200);
    assert.equal(session.json<{ encrypted: boolean }>().encrypted, false);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 200);
  });

  it("clears the cookie without Secure when an unlocked session signs out over plaintext, so the browser takes the clearing", async () => {
    const out = await login(gw, "bob", "bob-password-1");
    const res = await gw.http("/gateway/logout", { method: "POST", headers: { ...API, cookie: out.cookie, "x-csrf-token": out.csrfToken } });
    assert.equal(res.status, 200, res.body);
    const cleared = (res.headers["set-cookie"] ?? []).find((l) => l.startsWith("portcullis_session="))!;
    assert.ok(cleared, "no cookie was cleared");
    const attributes = cookieAttributes(cleared);
    assert.equal(attributes.get("max-age"), "0");
    assert.equal(attributes.has("secure"), false, `${cleared}: a browser ignores a Secure cookie set over http`);
    assert.equal((await gw.http("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 401);
  });

  it("sets a Secure cookie for a login with encrypted=true, and revokes the session when that cookie arrives in plaintext", async () => {
    const out = await login(gw, "bob", "bob-password-1", { encrypted: true });
    assert.ok(cookieAttributes(out.setCookie).has("secure"), out.setCookie);
    assert.equal(out.res.json<{ encrypted: boolean }>().encrypted, true);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 200);
    const before = upstream.received.length;
    const from = gw.logs.lines.length;
    const plain = await gw.http("/data/x", { headers: { ...API, cookie: out.cookie } });
    assert.notEqual(plain.status, 200);
    assert.equal(upstream.received.length, before, "a locked session was used over plaintext");
    assert.equal(audits(gw, "credential.exposed", from).length, 1);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 401, "the exposed session still works over TLS");
  });

  it("locks a form login whose encrypt box is ticked", async () => {
    const out = await formLogin(gw, { username: "bob", password: "bob-password-1", encrypted: "true" });
    assert.equal(out.res.status, 303);
    assert.ok(cookieAttributes(out.setCookie).has("secure"), out.setCookie);
  });

  it("refuses Basic credentials on the plaintext port and audits the exposure", async () => {
    const before = upstream.received.length;
    const from = gw.logs.lines.length;
    const res = await gw.http("/data/x", { headers: { authorization: basic("bob", "bob-password-1"), "user-agent": "curl/8" } });
    assert.equal(res.status, 403);
    assert.equal(upstream.received.length, before);
    assert.equal(audits(gw, "credential.exposed", from).length, 1);
  });
});

describe("router.forceEncryption", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, router: { insecure: "allow", forceEncryption: true } },
      { clock: new ManualClock() },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("locks every session whatever the user chose: Secure cookie, encrypted, refused in plaintext", async () => {
    const out = await login(gw, "admin", "admin-password-1", { encrypted: false });
    assert.ok(cookieAttributes(out.setCookie).has("secure"), out.setCookie);
    assert.equal(out.res.json<{ encrypted: boolean }>().encrypted, true);
    const before = upstream.received.length;
    assert.notEqual((await gw.http("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 200);
    assert.equal(upstream.received.length, before);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 401);
  });

  it("does not offer the encrypt-everything box on the login page", async () => {
    const res = await gw.https("/gateway/login", { headers: BROWSER });
    assert.equal(res.status, 200);
    assert.doesNotMatch(res.body, /name="encrypted"/);
  });
});

describe("redirect mode and session cookies in plaintext", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" } }, { clock: new ManualClock() });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("revokes a session whose cookie is sent over plaintext, then redirects to TLS", async () => {
    const out = await login(gw, "admin", "admin-password-1");
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 200);
    const from = gw.logs.lines.length;
    const plain = await gw.http("/data/x", { headers: { ...API, cookie: out.cookie } });
    assert.equal(plain.status, 308);
    assert.equal(audits(gw, "credential.exposed", from).length, 1);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 401);
  });

  it("sets a Secure cookie on login", async () => {
    const out = await login(gw, "admin", "admin-password-1", { encrypted: false });
    assert.ok(cookieAttributes(out.setCookie).has("secure"), out.setCookie);
  });
});
