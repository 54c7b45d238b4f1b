/**
 * CSRF (SPEC §6.5): cookie-authenticated state changes must be same-origin — proxied application
 * requests included — and the gateway's own routes also need the session's CSRF token. Basic
 * credentials are exempt unless a browser marks the request cross-site; enableCsrfToken false turns it
 * all off.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, audits, basic, login, ownOrigin, type LoginOutcome } from "../../helpers/auth.js";

const FORM = { "content-type": "application/x-www-form-urlencoded", "user-agent": "Mozilla/5.0" };

describe("CSRF protection", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let bob: LoginOutcome;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" } }, { clock: new ManualClock() });
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"] });
    bob = await login(gw, "bob", "bob-password-1");
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const post = (path: string, headers: Record<string, string>, method = "POST") => gw.https(path, { method, headers: { ...FORM, "content-length": "10", cookie: bob.cookie, ...headers }, body: "name=value" });

  it("refuses a cross-site POST to a proxied path (Origin https://evil.example) with 403, audits csrf.refused and sends nothing upstream", async () => {
    const before = upstream.received.length;
    const from = gw.logs.lines.length;
    const res = await post("/app/transfer", { origin: "https://evil.example" });
    assert.equal(res.status, 403);
    assert.equal(upstream.received.length, before);
    const refused = audits(gw, "csrf.refused", from);
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.user, "bob");
  });

  it("refuses a POST marked Sec-Fetch-Site: cross-site with 403", async () => {
    const before = upstream.received.length;
    const res = await post("/app/transfer", { "sec-fetch-site": "cross-site" });
    assert.equal(res.status, 403);
    assert.equal(upstream.received.length, before);
  });

  it("refuses a same-site (other subdomain) POST with 403", async () => {
    const res = await post("/app/transfer", { "sec-fetch-site": "same-site" });
    assert.equal(res.status, 403);
  });

  for (const method of ["PUT", "PATCH", "DELETE"]) {
    it(`refuses a cross-site ${method} to a proxied path with 403`, async () => {
      const res = await post("/data/thing", { origin: "https://evil.example" }, method);
      assert.equal(res.status, 403);
    });
  }

  it("refuses an Origin that differs only in scheme or port", async () => {
    assert.equal((await post("/app/transfer", { origin: `http://127.0.0.1:${gw.securePort}` })).status, 403);
    assert.equal((await post("/app/transfer", { origin: `https://127.0.0.1:${gw.securePort + 1}` })).status, 403);
    assert.equal((await post("/app/transfer", { origin: "null" })).status, 403);
  });

  it("lets a cross-site GET through (only state changes are checked)", async () => {
    const res = await gw.https("/app/page", { headers: { cookie: bob.cookie, "user-agent": "Mozilla/5.0", "sec-fetch-site": "cross-site", origin: "https://evil.example" } });
    assert.equal(res.status, 200);
  });

  it("passes a same-origin POST marked Sec-Fetch-Site: same-origin to the upstream", async () => {
    const res = await post("/app/transfer", { "sec-fetch-site": "same-origin", origin: ownOrigin(gw) });
    assert.equal(res.status, 200);
    assert.equal(res.json<{ body: string }>().body, "name=value");
  });

  it("passes a POST whose Origin equals https://<Host> to the upstream", async () => {
    const res = await post("/app/transfer", { origin: ownOrigin(gw) });
    assert.equal(res.status, 200);
  });

  it("refuses POST /gateway/logout/all without X-CSRF-Token and keeps the session", async () => {
    const res = await gw.https("/gateway/logout/all", { method: "POST", headers: { ...API, cookie: bob.cookie, "sec-fetch-site": "same-origin" } });
    assert.equal(res.status, 403);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: bob.cookie } })).status, 200);
  });

  it("refuses POST /gateway/logout/all with a wrong X-CSRF-Token", async () => {
    const res = await gw.https("/gateway/logout/all", { method: "POST", headers: { ...API, cookie: bob.cookie, "x-csrf-token": `${bob.csrfToken.slice(0, -1)}A` } });
    assert.equal(res.status, 403);
  });

  it("refuses POST /gateway/session/renew without X-CSRF-Token", async () => {
    const res = await gw.https("/gateway/session/renew", { method: "POST", headers: { ...API, cookie: bob.cookie } });
    assert.equal(res.status, 403);
  });

  it("refuses POST /gateway/logout without X-CSRF-Token and keeps the session", async () => {
    const res = await gw.https("/gateway/logout", { method: "POST", headers: { ...API, cookie: bob.cookie } });
    assert.equal(res.status, 403);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: bob.cookie } })).status, 200);
  });

  it("accepts the CSRF token as a csrfToken form field", async () => {
    const res = await gw.https("/gateway/session/renew", { method: "POST", headers: { ...FORM, accept: "application/json", cookie: bob.cookie }, body: `csrfToken=${encodeURIComponent(bob.csrfToken)}` });
    assert.equal(res.status, 200);
  });

  it("refuses admin routes without X-CSRF-Token", async () => {
    const admin = await login(gw, "admin", "admin-password-1");
    const headers = { ...API, cookie: admin.cookie };
    assert.equal((await gw.https("/gateway/admin/users/bob/unlock", { method: "POST", headers })).status, 403);
    assert.equal((await gw.https("/gateway/admin/users/bob/enable", { method: "POST", headers })).status, 403);
    assert.equal((await gw.https("/gateway/admin/users/bob/sessions", { method: "DELETE", headers })).status, 403);
    const listed = await gw.https("/gateway/admin/sessions?user=bob", { headers });
    const id = listed.json<{ sessions: { id: string }[] }>().sessions[0]!.id;
    assert.equal((await gw.https(`/gateway/admin/sessions/${id}`, { method: "DELETE", headers })).status, 403);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: bob.cookie } })).status, 200, "bob's session ended without a token");
  });

  it("exempts Basic-authenticated POSTs from scripts (no Fetch Metadata), whatever Origin they name", async () => {
    const res = await gw.https("/data/upload", {
      method: "POST",
      headers: { ...FORM, authorization: basic("bob", "bob-password-1"), origin: "https://evil.example" },
      body: "a=1",
    });
    assert.equal(res.status, 200);
  });

  // Issue #15: a browser replays cached Basic credentials, so Fetch Metadata saying another site sent
  // the request is enough to refuse it (more cases in basic-browser.test.ts).
  it("refuses a Basic-authenticated POST that a browser marks Sec-Fetch-Site: cross-site, and audits it", async () => {
    const before = upstream.received.length;
    const from = gw.logs.lines.length;
    const res = await gw.https("/data/upload", {
      method: "POST",
      headers: { ...FORM, authorization: basic("bob", "bob-password-1"), origin: "https://evil.example", "sec-fetch-site": "cross-site" },
      body: "a=1",
    });
    assert.equal(res.status, 403);
    assert.equal(upstream.received.length, before);
    assert.equal(audits(gw, "csrf.refused", from).length, 1);
  });
});

describe("enableCsrfToken false", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, site: { enableCsrfToken: false } }, { clock: new ManualClock() });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("lets a cross-site POST reach the upstream", async () => {
    const { cookie } = await login(gw, "admin", "admin-password-1");
    const res = await gw.https("/app/transfer", { method: "POST", headers: { ...FORM, cookie, origin: "https://evil.example", "sec-fetch-site": "cross-site" }, body: "x=1" });
    assert.equal(res.status, 200);
    assert.equal(audits(gw, "csrf.refused").length, 0);
  });

  it("accepts gateway routes without X-CSRF-Token", async () => {
    const { cookie } = await login(gw, "admin", "admin-password-1");
    assert.equal((await gw.https("/gateway/session/renew", { method: "POST", headers: { ...API, cookie } })).status, 200);
    assert.equal((await gw.https("/gateway/logout/all", { method: "POST", headers: { ...API, cookie } })).status, 200);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie } })).status, 401);
  });
});
