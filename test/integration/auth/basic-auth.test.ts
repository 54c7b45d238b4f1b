/**
 * `Authorization: Basic user:password` on proxied requests (SPEC §7): identity upstream without the
 * header, failures counted toward the lockout, and a remembered verification that still gives way at
 * once to a disable, a lock or logout/all.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { BROWSER, SCRIPT, basic, failureReasons, login, tryLogin } from "../../helpers/auth.js";

interface Echo {
  url: string;
  headers: Record<string, string>;
}

describe("Basic credentials", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, site: { maxFailedLogins: 3 } }, { clock });
    for (const name of ["carol", "dave", "erin", "frank", "gina"]) {
      await gw.gateway.accounts.add({ name, password: `${name}-password-1`, roles: ["user"], email: `${name}@example.org` });
    }
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const get = (user: string, password: string, path = "/data/x") => gw.https(path, { headers: { ...SCRIPT, authorization: basic(user, password) } });

  it("proxies a data request with correct user:password, with X-Remote-User and no Authorization upstream", async () => {
    const res = await get("carol", "carol-password-1", "/data/projects?format=json");
    assert.equal(res.status, 200);
    const echo = res.json<Echo>();
    assert.equal(echo.url, "/data/projects?format=json");
    assert.equal(echo.headers["x-remote-user"], "carol");
    assert.equal(echo.headers["x-remote-email"], "carol@example.org");
    assert.equal(echo.headers.authorization, undefined);
    assert.equal(res.headers["set-cookie"], undefined, "a Basic login must not create a session");
  });

  it("never forwards the session cookie, even when the request is judged by its Basic credential", async () => {
    const session = await login(gw, "gina", "gina-password-1");
    const res = await gw.https("/data/x", { headers: { ...SCRIPT, authorization: basic("carol", "carol-password-1"), cookie: `theme=dark; ${session.cookie}; lang=en` } });
    assert.equal(res.status, 200);
    const echo = res.json<Echo>();
    assert.equal(echo.headers["x-remote-user"], "carol");
    assert.equal(echo.headers.cookie, "theme=dark; lang=en");
  });

  it("answers a wrong password with 401 and WWW-Authenticate and counts it toward the lockout", async () => {
    const from = gw.logs.lines.length;
    const res = await get("dave", "not-daves-password");
    assert.equal(res.status, 401);
    assert.match(String(res.headers["www-authenticate"]), /^Basic realm="portcullis"/);
    assert.deepEqual(failureReasons(gw, "dave", from), ["bad-password"]);
    assert.equal((await gw.gateway.store.getLoginFailures("dave")).failures, 1);
    await get("dave", "not-daves-password-2");
    await get("dave", "not-daves-password-3");
    // Three Basic failures lock the account for form/JSON logins too.
    assert.equal((await tryLogin(gw, "dave", "dave-password-1")).res.status, 401);
    assert.equal((await get("dave", "dave-password-1")).status, 401);
  });

  it("answers wrong Basic credentials from a browser on a page path with 401 too (no redirect)", async () => {
    const res = await gw.https("/app/page", { headers: { ...BROWSER, authorization: basic("nobody", "whatever-pw") } });
    assert.equal(res.status, 401);
  });

  it("remembers a successful verification for a while (the account is not re-verified on each request)", async () => {
    assert.equal((await get("erin", "erin-password-1")).status, 200);
    const first = (await gw.gateway.accounts.get("erin"))!.lastLoginAt;
    clock.advance(5_000);
    assert.equal((await get("erin", "erin-password-1")).status, 200);
    assert.equal((await gw.gateway.accounts.get("erin"))!.lastLoginAt, first);
  });

  it("fails the next request at once after the account is disabled, although its verification is cached", async () => {
    assert.equal((await get("frank", "frank-password-1")).status, 200);
    assert.equal((await get("frank", "frank-password-1")).status, 200);
    await gw.gateway.accounts.setEnabled("frank", false);
    const res = await get("frank", "frank-password-1");
    assert.equal(res.status, 401);
    await gw.gateway.accounts.setEnabled("frank", true);
    assert.equal((await get("frank", "frank-password-1")).status, 200);
  });

  it("fails the next request at once after the account is locked, although its verification is cached", async () => {
    assert.equal((await get("gina", "gina-password-1")).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await tryLogin(gw, "gina", `wrong-${i}`)).res.status, 401);
    const from = gw.logs.lines.length;
    assert.equal((await get("gina", "gina-password-1")).status, 401);
    assert.deepEqual(failureReasons(gw, "gina", from), ["locked"]);
  });

  it("stops honouring a cached Basic verification after logout/all (the password is verified again)", async () => {
    assert.equal((await get("erin", "erin-password-1")).status, 200);
    clock.advance(2_000);
    assert.equal((await get("erin", "erin-password-1")).status, 200);
    const cachedAt = (await gw.gateway.accounts.get("erin"))!.lastLoginAt;
    const session = await login(gw, "erin", "erin-password-1");
    const out = await gw.https("/gateway/logout/all", { method: "POST", headers: { accept: "application/json", cookie: session.cookie, "x-csrf-token": session.csrfToken } });
    assert.equal(out.status, 200);
    clock.advance(2_000);
    assert.equal((await get("erin", "erin-password-1")).status, 200);
    const after = (await gw.gateway.accounts.get("erin"))!.lastLoginAt;
    assert.ok(after !== null && cachedAt !== null && after > cachedAt, "the cached verification was still used after logout/all");
  });

  it("does not cache failures: each wrong password is counted", async () => {
    await gw.gateway.accounts.add({ name: "hank", password: "hank-password-1", roles: ["user"] });
    await get("hank", "bad-one");
    await get("hank", "bad-one");
    assert.equal((await gw.gateway.store.getLoginFailures("hank")).failures, 2);
  });
});
