/**
 * The sweeps (SPEC §4, §6.4) driven by a ManualClock and scheduler.runDue: the inactivity lockout
 * disables accounts with no login for inactivityBeforeLockout; resetFailedLogins clears the counters
 * of locks that have ended.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { HOUR, audits, failureReasons, login, tryLogin } from "../../helpers/auth.js";

describe("the inactivity lockout sweep", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const start = Date.UTC(2026, 0, 1, 12, 0, 0);
  const clock = new ManualClock(start);
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, site: { inactivityBeforeLockout: "30 days" } }, { clock });
    await gw.gateway.accounts.add({ name: "active", password: "active-password-1", roles: ["user"] });
    await gw.gateway.accounts.add({ name: "idle", password: "idle-password-1", roles: ["user"] });
    await gw.gateway.accounts.add({ name: "lapsed", password: "lapsed-password-1", roles: ["user"] });
    await login(gw, "lapsed", "lapsed-password-1");
    await gw.gateway.scheduler.runDue(clock.now());
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("does not disable anyone before inactivityBeforeLockout has passed", async () => {
    clock.set(Date.UTC(2026, 0, 20, 1, 0, 0)); // a 1 AM tick, 19 days in
    await gw.gateway.scheduler.runDue(clock.now());
    for (const name of ["active", "idle", "lapsed"]) assert.equal((await gw.gateway.accounts.get(name))!.enabled, true, name);
    await login(gw, "active", "active-password-1");
  });

  it("disables accounts with no login for inactivityBeforeLockout at the next tick, audits account.disabled, and spares recent users", async () => {
    const from = gw.logs.lines.length;
    clock.set(Date.UTC(2026, 1, 2, 1, 0, 0)); // the 1 AM tick 32 days after creation
    const ran = await gw.gateway.scheduler.runDue(clock.now());
    assert.ok(ran.includes("inactivityLockout"), `jobs run: ${ran.join(", ")}`);
    assert.equal((await gw.gateway.accounts.get("idle"))!.enabled, false, "an account that never logged in stayed enabled");
    assert.equal((await gw.gateway.accounts.get("lapsed"))!.enabled, false, "an account whose last login is 32 days old stayed enabled");
    assert.equal((await gw.gateway.accounts.get("active"))!.enabled, true, "an account that logged in 13 days ago was disabled");
    const disabled = audits(gw, "account.disabled", from).map((l) => l.user).sort();
    assert.ok(disabled.includes("idle") && disabled.includes("lapsed"), JSON.stringify(disabled));
    assert.ok(!disabled.includes("active"));
  });

  it("refuses logins of a disabled account until an admin re-enables it", async () => {
    const from = gw.logs.lines.length;
    assert.equal((await tryLogin(gw, "idle", "idle-password-1")).res.status, 401);
    assert.deepEqual(failureReasons(gw, "idle", from), ["disabled"]);
    await gw.gateway.accounts.setEnabled("admin", true);
    const admin = await login(gw, "admin", "admin-password-1");
    const res = await gw.https("/gateway/admin/users/idle/enable", { method: "POST", headers: { accept: "application/json", cookie: admin.cookie, "x-csrf-token": admin.csrfToken } });
    assert.equal(res.status, 200);
    await login(gw, "idle", "idle-password-1");
  });

  it("runs a tick only once even when runDue is called again", async () => {
    const from = gw.logs.lines.length;
    await gw.gateway.accounts.setEnabled("lapsed", true);
    const again = await gw.gateway.scheduler.runDue(clock.now());
    assert.equal(again.includes("inactivityLockout"), false);
    assert.equal(audits(gw, "account.disabled", from).length, 0);
  });
});

describe("the resetFailedLogins sweep", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 0, 10, 0));
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, site: { maxFailedLogins: 3, maxFailedLoginsLockoutDuration: "1 hour" } },
      { clock },
    );
    await gw.gateway.accounts.add({ name: "early", password: "early-password-1", roles: ["user"] });
    await gw.gateway.accounts.add({ name: "late", password: "late-password-1", roles: ["user"] });
    await gw.gateway.scheduler.runDue(clock.now());
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("clears the counters of locks that have ended and keeps those still running", async () => {
    for (let i = 0; i < 3; i++) await tryLogin(gw, "early", `wrong-${i}`);
    assert.notEqual((await gw.gateway.store.getLoginFailures("early")).lockedAt, null);
    clock.set(Date.UTC(2026, 0, 1, 1, 30, 0));
    for (let i = 0; i < 3; i++) await tryLogin(gw, "late", `wrong-${i}`);
    clock.set(Date.UTC(2026, 0, 1, 2, 0, 0)); // hourly tick: early's lock (00:10) has ended, late's (01:30) has not
    const ran = await gw.gateway.scheduler.runDue(clock.now());
    assert.ok(ran.includes("resetFailedLogins"), `jobs run: ${ran.join(", ")}`);
    assert.deepEqual(await gw.gateway.store.getLoginFailures("early"), { failures: 0, lockedAt: null });
    const late = await gw.gateway.store.getLoginFailures("late");
    assert.equal(late.failures, 3);
    assert.notEqual(late.lockedAt, null);
    assert.equal((await tryLogin(gw, "late", "late-password-1")).res.status, 401);
    await login(gw, "early", "early-password-1");
    clock.advance(HOUR);
    await login(gw, "late", "late-password-1");
  });
});
