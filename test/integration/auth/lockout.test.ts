/**
 * Lockouts (SPEC §4 maxFailedLogins*, §6.4): per account, ended on time by the clock alone, reset by a
 * success, never with -1, lifted by an admin; and per client IP (regulation.maxFailuresPerIp).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, HOUR, MINUTE, audits, failureReasons, login, tryLogin } from "../../helpers/auth.js";

describe("account lockout after maxFailedLogins", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, site: { maxFailedLogins: 3, maxFailedLoginsLockoutDuration: "30 minutes" } },
      { clock },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  /** A fresh user, and the clock moved past any per-IP window left by the previous test. */
  async function user(name: string): Promise<void> {
    clock.advance(HOUR);
    await gw.gateway.accounts.add({ name, password: `${name}-Password-1`, roles: ["user"] });
  }
  const wrong = async (name: string, n: number) => {
    for (let i = 0; i < n; i++) assert.equal((await tryLogin(gw, name, `wrong-${i}`)).res.status, 401);
  };

  it("locks the account at the 3rd wrong password: the correct password then fails", async () => {
    await user("ann");
    await wrong("ann", 2);
    assert.equal((await tryLogin(gw, "ann", "ann-Password-1")).res.status, 200, "locked before the 3rd failure");
    await wrong("ann", 3);
    const from = gw.logs.lines.length;
    const res = await tryLogin(gw, "ann", "ann-Password-1");
    assert.equal(res.res.status, 401);
    assert.deepEqual(failureReasons(gw, "ann", from), ["locked"]);
  });

  it("records the start of a lock in the audit log", async () => {
    await user("abe");
    const from = gw.logs.lines.length;
    await wrong("abe", 3);
    const lockEvents = gw.logs.lines.slice(from).filter((l) => l.audit === true && l.user === "abe" && typeof l.event === "string" && /lock/i.test(l.event) && !/unlock/i.test(l.event));
    assert.ok(lockEvents.length > 0, `no lock audit event; audit events were ${JSON.stringify(gw.logs.lines.slice(from).filter((l) => l.audit).map((l) => l.event))}`);
  });

  it("ends the lock exactly maxFailedLoginsLockoutDuration after it began, with no sweep", async () => {
    await user("amy");
    await wrong("amy", 3);
    clock.advance(30 * MINUTE - 1_000);
    assert.equal((await tryLogin(gw, "amy", "amy-Password-1")).res.status, 401, "the lock ended early");
    clock.advance(1_000);
    assert.equal((await tryLogin(gw, "amy", "amy-Password-1")).res.status, 200, "the lock did not end on time");
  });

  it("does not extend the lock when the correct password is tried during it", async () => {
    await user("ada");
    await wrong("ada", 3);
    clock.advance(20 * MINUTE);
    assert.equal((await tryLogin(gw, "ada", "ada-Password-1")).res.status, 401);
    clock.advance(10 * MINUTE);
    assert.equal((await tryLogin(gw, "ada", "ada-Password-1")).res.status, 200);
  });

  it("resets the failure count after a successful login", async () => {
    await user("ava");
    await wrong("ava", 2);
    await login(gw, "ava", "ava-Password-1");
    await wrong("ava", 2);
    await login(gw, "ava", "ava-Password-1");
    assert.equal((await gw.gateway.store.getLoginFailures("ava")).failures, 0);
  });

  it("lets an admin unlock an account with POST /gateway/admin/users/{name}/unlock and X-CSRF-Token", async () => {
    await user("amos");
    await gw.gateway.accounts.add({ name: "plain", password: "plain-Password-1", roles: ["user"] });
    await wrong("amos", 3);
    assert.equal((await tryLogin(gw, "amos", "amos-Password-1")).res.status, 401);
    const admin = await login(gw, "admin", "admin-password-1");
    const noToken = await gw.https("/gateway/admin/users/amos/unlock", { method: "POST", headers: { ...API, cookie: admin.cookie } });
    assert.equal(noToken.status, 403);
    const plain = await login(gw, "plain", "plain-Password-1");
    const notAdmin = await gw.https("/gateway/admin/users/amos/unlock", { method: "POST", headers: { ...API, cookie: plain.cookie, "x-csrf-token": plain.csrfToken } });
    assert.equal(notAdmin.status, 403);
    assert.equal((await tryLogin(gw, "amos", "amos-Password-1")).res.status, 401, "unlocked by a refused request");
    const from = gw.logs.lines.length;
    const res = await gw.https("/gateway/admin/users/amos/unlock", { method: "POST", headers: { ...API, cookie: admin.cookie, "x-csrf-token": admin.csrfToken } });
    assert.equal(res.status, 200);
    assert.equal(audits(gw, "account.unlocked", from).length, 1);
    assert.equal((await tryLogin(gw, "amos", "amos-Password-1")).res.status, 200);
  });
});

describe("maxFailedLogins -1", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, site: { maxFailedLogins: -1 } }, { clock: new ManualClock() });
    await gw.gateway.accounts.add({ name: "never", password: "never-Password-1", roles: ["user"] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("never locks an account, however many failures", async () => {
    for (let i = 0; i < 8; i++) assert.equal((await tryLogin(gw, "never", `wrong-${i}`)).res.status, 401);
    assert.equal((await tryLogin(gw, "never", "never-Password-1")).res.status, 200);
  });
});

describe("regulation.maxFailuresPerIp", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, regulation: { maxFailuresPerIp: "5 per 10 minutes" } },
      { clock },
    );
    await gw.gateway.accounts.add({ name: "victim", password: "victim-Password-1", roles: ["user"] });
    for (let i = 0; i < 5; i++) await gw.gateway.accounts.add({ name: `sprayed${i}`, password: `sprayed${i}-Password-1`, roles: ["user"] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("refuses the 6th attempt from an IP after 5 failures spread over different users, even with a correct password, until the window ends", async () => {
    for (let i = 0; i < 5; i++) {
      clock.advance(30_000);
      assert.equal((await tryLogin(gw, i % 2 === 0 ? `sprayed${i}` : `nobody${i}`, "Spring2026!")).res.status, 401);
    }
    const from = gw.logs.lines.length;
    clock.advance(30_000);
    const sixth = await tryLogin(gw, "victim", "victim-Password-1");
    assert.equal(sixth.res.status, 401);
    assert.deepEqual(failureReasons(gw, "victim", from), ["ip-limited"]);
    for (let i = 0; i < 5; i++) assert.ok((await gw.gateway.store.getLoginFailures(`sprayed${i}`)).failures <= 1);
    clock.advance(10 * MINUTE);
    assert.equal((await tryLogin(gw, "victim", "victim-Password-1")).res.status, 200);
  });
});
