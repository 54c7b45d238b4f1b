/**
 * Login regulation (SPEC §6.4, src/regulation/): the lock rule as a table, then Regulation over the
 * embedded store with a moved clock — failures counted per account and per client address, the lock
 * judged against the settings in force now, unlocks and the sweep audited or not as they should be,
 * and the turns (one check per user, case-insensitively, and at most four per address).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { validate } from "../../src/config/load.js";
import { compileSite, type Site } from "../../src/config/site.js";
import { lockEnded, lockRuleOf, lockState } from "../../src/regulation/lock-rule.js";
import { Regulation } from "../../src/regulation/regulation.js";
import { createEmbeddedStore } from "../../src/store/embedded/embedded-store.js";
import type { RegulationStore, Store } from "../../src/store/store.js";

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const T0 = Date.UTC(2026, 0, 1);

const siteOf = (site: Record<string, unknown>): Site => compileSite(validate({ site }).site);

describe("lockRuleOf", () => {
  it("reads maxFailedLogins and maxFailedLoginsLockoutDuration from the site", () => {
    assert.deepEqual(lockRuleOf(siteOf({ maxFailedLogins: 3, maxFailedLoginsLockoutDuration: "30 minutes" })), { maxFailures: 3, lockMs: 30 * MINUTE });
    assert.deepEqual(lockRuleOf(siteOf({})), { maxFailures: 5, lockMs: 60 * MINUTE });
    assert.deepEqual(lockRuleOf(siteOf({ maxFailedLogins: -1 })), { maxFailures: -1, lockMs: 60 * MINUTE });
  });
});

describe("lockState", () => {
  const rule = { maxFailures: 3, lockMs: 30 * MINUTE };
  const cases: { name: string; state: { failures: number; lockedAt: number | null }; rule: { maxFailures: number; lockMs: number }; now: number; want: { failures: number; locked: boolean; lockEndsAt: number | null } }[] = [
    { name: "no failures", state: { failures: 0, lockedAt: null }, rule, now: T0, want: { failures: 0, locked: false, lockEndsAt: null } },
    { name: "under the limit", state: { failures: 2, lockedAt: null }, rule, now: T0, want: { failures: 2, locked: false, lockEndsAt: null } },
    { name: "at the limit, as the lock starts", state: { failures: 3, lockedAt: T0 }, rule, now: T0, want: { failures: 3, locked: true, lockEndsAt: T0 + 30 * MINUTE } },
    { name: "at the limit, within the duration", state: { failures: 3, lockedAt: T0 }, rule, now: T0 + 10 * MINUTE, want: { failures: 3, locked: true, lockEndsAt: T0 + 30 * MINUTE } },
    { name: "at the limit, 1 ms before the end", state: { failures: 3, lockedAt: T0 }, rule, now: T0 + 30 * MINUTE - 1, want: { failures: 3, locked: true, lockEndsAt: T0 + 30 * MINUTE } },
    { name: "failures counted during a lock keep it", state: { failures: 7, lockedAt: T0 }, rule, now: T0 + MINUTE, want: { failures: 7, locked: true, lockEndsAt: T0 + 30 * MINUTE } },
    { name: "exactly at the end of the duration", state: { failures: 3, lockedAt: T0 }, rule, now: T0 + 30 * MINUTE, want: { failures: 3, locked: false, lockEndsAt: null } },
    { name: "after the duration", state: { failures: 3, lockedAt: T0 }, rule, now: T0 + 2 * 60 * MINUTE, want: { failures: 3, locked: false, lockEndsAt: null } },
    { name: "maxFailedLogins 0 never locks", state: { failures: 9, lockedAt: T0 }, rule: { maxFailures: 0, lockMs: 30 * MINUTE }, now: T0 + MINUTE, want: { failures: 9, locked: false, lockEndsAt: null } },
    { name: "maxFailedLogins -1 never locks", state: { failures: 9, lockedAt: T0 }, rule: { maxFailures: -1, lockMs: 30 * MINUTE }, now: T0 + MINUTE, want: { failures: 9, locked: false, lockEndsAt: null } },
    { name: "a shortened duration ends a lock at once", state: { failures: 3, lockedAt: T0 }, rule: { maxFailures: 3, lockMs: 5 * MINUTE }, now: T0 + 10 * MINUTE, want: { failures: 3, locked: false, lockEndsAt: null } },
    { name: "a shortened duration not yet run out moves the end", state: { failures: 3, lockedAt: T0 }, rule: { maxFailures: 3, lockMs: 15 * MINUTE }, now: T0 + 10 * MINUTE, want: { failures: 3, locked: true, lockEndsAt: T0 + 15 * MINUTE } },
    { name: "a lengthened duration extends a lock", state: { failures: 3, lockedAt: T0 }, rule: { maxFailures: 3, lockMs: 60 * MINUTE }, now: T0 + 45 * MINUTE, want: { failures: 3, locked: true, lockEndsAt: T0 + 60 * MINUTE } },
    { name: "a count at the limit without a lock start is not a lock", state: { failures: 3, lockedAt: null }, rule, now: T0, want: { failures: 3, locked: false, lockEndsAt: null } },
    { name: "a raised maxFailedLogins above the count lifts the lock", state: { failures: 3, lockedAt: T0 }, rule: { maxFailures: 5, lockMs: 30 * MINUTE }, now: T0 + MINUTE, want: { failures: 3, locked: false, lockEndsAt: null } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(lockState(c.state, c.rule, c.now), c.want);
    });
  }
});

describe("lockEnded", () => {
  const rule = { maxFailures: 3, lockMs: 30 * MINUTE };
  it("is true from the end of the duration on, false before and without a lock", () => {
    assert.equal(lockEnded({ failures: 3, lockedAt: T0 }, rule, T0 + 30 * MINUTE - 1), false);
    assert.equal(lockEnded({ failures: 3, lockedAt: T0 }, rule, T0 + 30 * MINUTE), true);
    assert.equal(lockEnded({ failures: 3, lockedAt: T0 }, rule, T0 + 90 * MINUTE), true);
    assert.equal(lockEnded({ failures: 2, lockedAt: null }, rule, T0 + 90 * MINUTE), false);
    assert.equal(lockEnded({ failures: 0, lockedAt: null }, rule, T0), false);
  });
  it("is judged against the duration in force", () => {
    assert.equal(lockEnded({ failures: 3, lockedAt: T0 }, { maxFailures: 3, lockMs: 5 * MINUTE }, T0 + 5 * MINUTE), true);
    assert.equal(lockEnded({ failures: 3, lockedAt: T0 }, { maxFailures: 3, lockMs: 60 * MINUTE }, T0 + 45 * MINUTE), false);
  });
});

interface AuditLine {
  event: string;
  fields: Record<string, unknown>;
}

/** A Regulation over an embedded store in a temp dir, on a clock that moves only when told. */
async function harness(site: Record<string, unknown>, ipRate = "3 per 10 minutes") {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-regulation-"));
  const inner: Store = await createEmbeddedStore({ dataDir });
  const calls: string[] = [];
  // The RegulationStore Regulation sees: every call is recorded, then passed to the embedded store.
  const store: RegulationStore = {
    recordLoginFailure: (user, now, rule) => (calls.push(`recordLoginFailure ${user}`), inner.recordLoginFailure(user, now, rule)),
    getLoginFailures: (user) => (calls.push(`getLoginFailures ${user}`), inner.getLoginFailures(user)),
    clearLoginFailures: (user) => (calls.push(`clearLoginFailures ${user}`), inner.clearLoginFailures(user)),
    countIpFailure: (ip, now, windowMs) => (calls.push(`countIpFailure ${ip}`), inner.countIpFailure(ip, now, windowMs)),
    getIpFailures: (ip, now, windowMs) => (calls.push(`getIpFailures ${ip}`), inner.getIpFailures(ip, now, windowMs)),
  };
  const clock = new ManualClock(T0);
  let current = siteOf(site);
  const audits: AuditLine[] = [];
  const ipLimit = validate({ regulation: { maxFailuresPerIp: ipRate } }).regulation.maxFailuresPerIp;
  const regulation = new Regulation({
    store,
    clock,
    site: () => current,
    ipLimit,
    audit: (event, fields) => {
      audits.push({ event, fields });
    },
  });
  return {
    regulation,
    store: inner,
    calls,
    clock,
    audits,
    ipLimit,
    setSite(next: Record<string, unknown>) {
      current = siteOf(next);
    },
    async close() {
      await inner.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

type Harness = Awaited<ReturnType<typeof harness>>;

describe("Regulation over the embedded store", () => {
  const open: Harness[] = [];
  const make = async (site: Record<string, unknown>, ipRate?: string) => {
    const h = await harness(site, ipRate);
    open.push(h);
    return h;
  };
  after(async () => {
    for (const h of open) await h.close();
  });

  const LOCKING = { maxFailedLogins: 3, maxFailedLoginsLockoutDuration: "30 minutes" };

  it("reads its ipLimit from regulation.maxFailuresPerIp", async () => {
    const h = await make(LOCKING);
    assert.deepEqual(h.ipLimit, { count: 3, windowMs: 10 * MINUTE });
  });

  it("countFailure up to maxFailedLogins locks the account and audits account.locked exactly once, with until", async () => {
    const h = await make(LOCKING, "100 per 10 minutes");
    const { regulation, clock, audits } = h;
    await regulation.countFailure("alice", "10.0.0.1");
    clock.advance(SECOND);
    await regulation.countFailure("alice", "10.0.0.1");
    assert.deepEqual(await regulation.state("alice"), { failures: 2, locked: false, lockEndsAt: null });
    assert.equal(await regulation.isLocked("alice"), false);
    assert.equal(audits.length, 0);

    clock.advance(SECOND);
    const lockedAt = clock.now();
    await regulation.countFailure("alice", "10.0.0.2");
    assert.deepEqual(audits, [{ event: "account.locked", fields: { user: "alice", failures: 3, until: new Date(lockedAt + 30 * MINUTE).toISOString(), ip: "10.0.0.2" } }]);
    assert.equal(h.audits[0]!.fields.until, "2026-01-01T00:30:02.000Z");
    assert.deepEqual(await regulation.state("alice"), { failures: 3, locked: true, lockEndsAt: lockedAt + 30 * MINUTE });
    assert.equal(await regulation.isLocked("alice"), true);
    assert.deepEqual(await h.store.getLoginFailures("alice"), { failures: 3, lockedAt });

    // Failures during the lock are counted, do not move its end and are not audited again, even
    // in the same millisecond the lock started.
    await regulation.countFailure("alice", "10.0.0.2");
    assert.equal(audits.length, 1);
    assert.deepEqual(await h.store.getLoginFailures("alice"), { failures: 4, lockedAt });
    clock.advance(MINUTE);
    await regulation.countFailure("alice", "10.0.0.1");
    await regulation.countFailure("alice", "10.0.0.1");
    assert.deepEqual(await regulation.state("alice"), { failures: 6, locked: true, lockEndsAt: lockedAt + 30 * MINUTE });
    assert.equal(audits.length, 1);

    // Other accounts are untouched.
    assert.deepEqual(await regulation.state("bob"), { failures: 0, locked: false, lockEndsAt: null });
    assert.equal(await regulation.isLocked("bob"), false);
  });

  it("isLocked follows the clock: locked until exactly the end of the duration", async () => {
    const h = await make(LOCKING, "100 per 10 minutes");
    const { regulation, clock } = h;
    for (let i = 0; i < 3; i++) await regulation.countFailure("carol", "10.0.0.1");
    const lockedAt = clock.now();
    assert.equal(await regulation.isLocked("carol"), true);
    clock.advance(30 * MINUTE - 1);
    assert.equal(await regulation.isLocked("carol"), true);
    assert.deepEqual(await regulation.state("carol"), { failures: 3, locked: true, lockEndsAt: lockedAt + 30 * MINUTE });
    clock.advance(1);
    assert.equal(await regulation.isLocked("carol"), false);
    assert.deepEqual(await regulation.state("carol"), { failures: 3, locked: false, lockEndsAt: null });

    // A failure after the lock has ended starts a new count: no lock, no audit.
    await regulation.countFailure("carol", "10.0.0.1");
    assert.deepEqual(await regulation.state("carol"), { failures: 1, locked: false, lockEndsAt: null });
    assert.equal(h.audits.length, 1);
    // And reaching the limit again locks and audits again.
    await regulation.countFailure("carol", "10.0.0.1");
    clock.advance(SECOND);
    await regulation.countFailure("carol", "10.0.0.1");
    assert.equal(await regulation.isLocked("carol"), true);
    assert.deepEqual(
      h.audits.map((a) => [a.event, a.fields.until]),
      [
        ["account.locked", new Date(lockedAt + 30 * MINUTE).toISOString()],
        ["account.locked", new Date(clock.now() + 30 * MINUTE).toISOString()],
      ],
    );
  });

  it("judges the lock against the settings in force now", async () => {
    const h = await make(LOCKING, "100 per 10 minutes");
    const { regulation, clock } = h;
    for (let i = 0; i < 3; i++) await regulation.countFailure("dave", "10.0.0.1");
    const lockedAt = clock.now();
    clock.advance(10 * MINUTE);
    assert.equal(await regulation.isLocked("dave"), true);
    h.setSite({ maxFailedLogins: 3, maxFailedLoginsLockoutDuration: "5 minutes" });
    assert.equal(await regulation.isLocked("dave"), false, "a shortened duration ends the lock at once");
    h.setSite({ maxFailedLogins: 3, maxFailedLoginsLockoutDuration: "1 hour" });
    assert.deepEqual(await regulation.state("dave"), { failures: 3, locked: true, lockEndsAt: lockedAt + 60 * MINUTE });
    h.setSite({ maxFailedLogins: -1, maxFailedLoginsLockoutDuration: "1 hour" });
    assert.equal(await regulation.isLocked("dave"), false, "-1 never locks");
    h.setSite({ maxFailedLogins: 0, maxFailedLoginsLockoutDuration: "1 hour" });
    assert.equal(await regulation.isLocked("dave"), false, "0 never locks");
  });

  it("with maxFailedLogins -1 counts failures but never locks nor audits", async () => {
    const h = await make({ maxFailedLogins: -1, maxFailedLoginsLockoutDuration: "30 minutes" }, "100 per 10 minutes");
    for (let i = 0; i < 8; i++) await h.regulation.countFailure("erin", "10.0.0.1");
    assert.deepEqual(await h.regulation.state("erin"), { failures: 8, locked: false, lockEndsAt: null });
    assert.equal(await h.regulation.isLocked("erin"), false);
    assert.deepEqual(await h.store.getLoginFailures("erin"), { failures: 8, lockedAt: null });
    assert.deepEqual(h.audits, []);
  });

  it("with maxFailedLogins 0 never locks nor audits", async () => {
    const h = await make({ maxFailedLogins: 0, maxFailedLoginsLockoutDuration: "30 minutes" }, "100 per 10 minutes");
    for (let i = 0; i < 4; i++) await h.regulation.countFailure("erin", "10.0.0.1");
    assert.equal(await h.regulation.isLocked("erin"), false);
    assert.deepEqual(await h.store.getLoginFailures("erin"), { failures: 4, lockedAt: null });
    assert.deepEqual(h.audits, []);
  });

  it("ipLimited after the configured count of failures in the window, and not once the window has passed", async () => {
    const h = await make(LOCKING);
    const { regulation, clock } = h;
    assert.equal(await regulation.ipLimited("192.0.2.1"), false);
    await regulation.countIpFailure("192.0.2.1");
    clock.advance(MINUTE);
    await regulation.countIpFailure("192.0.2.1");
    assert.equal(await regulation.ipLimited("192.0.2.1"), false, "2 of 3");
    clock.advance(MINUTE);
    await regulation.countIpFailure("192.0.2.1");
    assert.equal(await regulation.ipLimited("192.0.2.1"), true, "3 of 3");
    assert.equal(await regulation.ipLimited("192.0.2.2"), false, "another address");
    // The window is fixed (10 minutes from T0, a window boundary): still limited at its last ms.
    clock.set(T0 + 10 * MINUTE - 1);
    assert.equal(await regulation.ipLimited("192.0.2.1"), true);
    clock.set(T0 + 10 * MINUTE);
    assert.equal(await regulation.ipLimited("192.0.2.1"), false, "the window has passed");
    await regulation.countIpFailure("192.0.2.1");
    assert.equal(await regulation.ipLimited("192.0.2.1"), false, "a new window counts from 1");
    assert.equal(await h.store.getIpFailures("192.0.2.1", clock.now(), 10 * MINUTE), 1);
  });

  it("countFailure counts against the address too", async () => {
    const h = await make({ maxFailedLogins: 10, maxFailedLoginsLockoutDuration: "30 minutes" });
    const { regulation, clock } = h;
    await regulation.countFailure("u1", "198.51.100.7");
    await regulation.countFailure("u2", "198.51.100.7");
    assert.equal(await regulation.ipLimited("198.51.100.7"), false);
    await regulation.countFailure("u3", "198.51.100.7");
    assert.equal(await regulation.ipLimited("198.51.100.7"), true);
    assert.equal(await h.store.getIpFailures("198.51.100.7", clock.now(), 10 * MINUTE), 3);
    assert.deepEqual(await regulation.state("u1"), { failures: 1, locked: false, lockEndsAt: null });
  });

  it("countIpFailure counts only the address: no account's count moves, nothing is audited", async () => {
    const h = await make(LOCKING);
    const { regulation, clock } = h;
    h.calls.length = 0;
    for (let i = 0; i < 5; i++) await regulation.countIpFailure("203.0.113.9");
    assert.deepEqual(h.calls, Array(5).fill("countIpFailure 203.0.113.9"));
    assert.equal(await h.store.getIpFailures("203.0.113.9", clock.now(), 10 * MINUTE), 5);
    assert.equal(await regulation.ipLimited("203.0.113.9"), true);
    assert.deepEqual(h.audits, []);
    assert.equal(await regulation.isLocked("203.0.113.9"), false, "the address is no account name");
    assert.deepEqual(await h.store.getLoginFailures("203.0.113.9"), { failures: 0, lockedAt: null });
  });

  it("succeeded clears the count: the next failures start again from 1", async () => {
    const h = await make(LOCKING, "100 per 10 minutes");
    const { regulation } = h;
    await regulation.countFailure("frank", "10.0.0.1");
    await regulation.countFailure("frank", "10.0.0.1");
    await regulation.succeeded("frank");
    assert.deepEqual(await regulation.state("frank"), { failures: 0, locked: false, lockEndsAt: null });
    assert.deepEqual(await h.store.getLoginFailures("frank"), { failures: 0, lockedAt: null });
    await regulation.countFailure("frank", "10.0.0.1");
    await regulation.countFailure("frank", "10.0.0.1");
    assert.deepEqual(await regulation.state("frank"), { failures: 2, locked: false, lockEndsAt: null });
    assert.deepEqual(h.audits, []);
  });

  it("unlock 'always' clears count and lock and audits account.unlocked with user and context", async () => {
    const h = await make(LOCKING, "100 per 10 minutes");
    const { regulation } = h;
    for (let i = 0; i < 3; i++) await regulation.countFailure("gina", "10.0.0.1");
    assert.equal(await regulation.isLocked("gina"), true);
    h.audits.length = 0;
    assert.equal(await regulation.unlock("gina", { by: "admin", requestId: "req-1", ip: "10.9.9.9" }), true);
    assert.equal(await regulation.isLocked("gina"), false);
    assert.deepEqual(await h.store.getLoginFailures("gina"), { failures: 0, lockedAt: null });
    assert.deepEqual(h.audits, [{ event: "account.unlocked", fields: { user: "gina", by: "admin", requestId: "req-1", ip: "10.9.9.9" } }]);
  });

  it("unlock 'always' (the default) audits even with nothing counted", async () => {
    const h = await make(LOCKING);
    assert.equal(await h.regulation.unlock("hank", { by: "cli" }), true);
    assert.deepEqual(h.audits, [{ event: "account.unlocked", fields: { user: "hank", by: "cli" } }]);
    assert.equal(await h.regulation.unlock("hank", { by: "cli" }, "always"), true);
    assert.equal(h.audits.length, 2);
  });

  it("unlock 'if-counted' returns false, clears nothing and audits nothing for an account without failures", async () => {
    const h = await make(LOCKING);
    h.calls.length = 0;
    assert.equal(await h.regulation.unlock("ivy", { by: "password-reset", ip: "10.0.0.5" }, "if-counted"), false);
    assert.deepEqual(h.audits, []);
    assert.deepEqual(h.calls, ["getLoginFailures ivy"]);
  });

  it("unlock 'if-counted' returns true, clears and audits for an account with failures", async () => {
    const h = await make(LOCKING, "100 per 10 minutes");
    await h.regulation.countFailure("jack", "10.0.0.1");
    assert.equal(await h.regulation.unlock("jack", { by: "password-reset", ip: "10.0.0.5" }, "if-counted"), true);
    assert.deepEqual(await h.store.getLoginFailures("jack"), { failures: 0, lockedAt: null });
    assert.deepEqual(h.audits, [{ event: "account.unlocked", fields: { user: "jack", by: "password-reset", ip: "10.0.0.5" } }]);
    // Now there is nothing left: a second reset says nothing.
    assert.equal(await h.regulation.unlock("jack", { by: "password-reset", ip: "10.0.0.5" }, "if-counted"), false);
    assert.equal(h.audits.length, 1);
  });

  it("unlock 'if-counted' clears a lock", async () => {
    const h = await make(LOCKING, "100 per 10 minutes");
    for (let i = 0; i < 3; i++) await h.regulation.countFailure("kate", "10.0.0.1");
    assert.equal(await h.regulation.isLocked("kate"), true);
    assert.equal(await h.regulation.unlock("kate", { by: "password-reset" }, "if-counted"), true);
    assert.equal(await h.regulation.isLocked("kate"), false);
    assert.deepEqual(
      h.audits.map((a) => a.event),
      ["account.locked", "account.unlocked"],
    );
    assert.deepEqual(h.audits[1]!.fields, { user: "kate", by: "password-reset" });
  });

  it("clearEndedLocks clears only locks that have ended (at the given time) and returns how many", async () => {
    const h = await make(LOCKING, "100 per 10 minutes");
    const { regulation, clock } = h;
    const lockOut = async (user: string) => {
      for (let i = 0; i < 3; i++) await regulation.countFailure(user, "10.0.0.1");
    };
    await lockOut("old1"); // locked at T0
    await lockOut("old2"); // locked at T0
    clock.advance(20 * MINUTE);
    await lockOut("recent"); // locked at T0 + 20 min
    await regulation.countFailure("counting", "10.0.0.1");
    await regulation.countFailure("counting", "10.0.0.1");
    const auditsBefore = h.audits.length;

    // 1 ms before the old locks end: nothing has ended.
    assert.equal(await regulation.clearEndedLocks(["old1", "old2", "recent", "counting", "nobody"], T0 + 30 * MINUTE - 1), 0);
    assert.deepEqual(await h.store.getLoginFailures("old1"), { failures: 3, lockedAt: T0 });

    // `now` is the argument, not the clock (still at T0 + 20 min).
    assert.equal(await regulation.clearEndedLocks(["old1", "old2", "recent", "counting", "nobody"], T0 + 30 * MINUTE), 2);
    assert.deepEqual(await h.store.getLoginFailures("old1"), { failures: 0, lockedAt: null });
    assert.deepEqual(await h.store.getLoginFailures("old2"), { failures: 0, lockedAt: null });
    assert.deepEqual(await h.store.getLoginFailures("recent"), { failures: 3, lockedAt: T0 + 20 * MINUTE });
    assert.deepEqual(await h.store.getLoginFailures("counting"), { failures: 2, lockedAt: null });
    assert.equal(await regulation.isLocked("recent"), true);
    assert.equal(h.audits.length, auditsBefore, "the sweep is not audited per account");

    // Only the users named are swept.
    clock.set(T0 + 2 * 60 * MINUTE);
    assert.equal(await regulation.clearEndedLocks(["counting", "nobody"], clock.now()), 0);
    assert.deepEqual(await h.store.getLoginFailures("recent"), { failures: 3, lockedAt: T0 + 20 * MINUTE });
    assert.equal(await regulation.clearEndedLocks(["recent"], clock.now()), 1);
    assert.deepEqual(await h.store.getLoginFailures("recent"), { failures: 0, lockedAt: null });
  });

  it("clearEndedLocks judges against the duration in force", async () => {
    const h = await make(LOCKING, "100 per 10 minutes");
    for (let i = 0; i < 3; i++) await h.regulation.countFailure("lena", "10.0.0.1");
    assert.equal(await h.regulation.clearEndedLocks(["lena"], T0 + 10 * MINUTE), 0);
    h.setSite({ maxFailedLogins: 3, maxFailedLoginsLockoutDuration: "5 minutes" });
    assert.equal(await h.regulation.clearEndedLocks(["lena"], T0 + 10 * MINUTE), 1);
    assert.deepEqual(await h.store.getLoginFailures("lena"), { failures: 0, lockedAt: null });
  });

  it("keeps counts on disk: a reopened store still has the lock", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-regulation-"));
    try {
      const clock = new ManualClock(T0);
      const site = siteOf(LOCKING);
      const ipLimit = { count: 100, windowMs: 10 * MINUTE };
      const first = await createEmbeddedStore({ dataDir });
      const r1 = new Regulation({ store: first, clock, site: () => site, ipLimit, audit: () => undefined });
      for (let i = 0; i < 3; i++) await r1.countFailure("mona", "10.0.0.1");
      await first.close();
      const second = await createEmbeddedStore({ dataDir });
      try {
        const r2 = new Regulation({ store: second, clock, site: () => site, ipLimit, audit: () => undefined });
        clock.advance(MINUTE);
        assert.deepEqual(await r2.state("mona"), { failures: 3, locked: true, lockEndsAt: T0 + 30 * MINUTE });
      } finally {
        await second.close();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("audits a lock that starts after maxFailedLogins was lowered below the count", async () => {
    const h = await make({ maxFailedLogins: 5, maxFailedLoginsLockoutDuration: "30 minutes" }, "100 per 10 minutes");
    for (let i = 0; i < 4; i++) await h.regulation.countFailure("nina", "10.0.0.1");
    h.setSite({ maxFailedLogins: 3, maxFailedLoginsLockoutDuration: "30 minutes" });
    await h.regulation.countFailure("nina", "10.0.0.1");
    assert.equal(await h.regulation.isLocked("nina"), true);
    assert.deepEqual(
      h.audits.map((a) => [a.event, a.fields.user, a.fields.failures]),
      [["account.locked", "nina", 5]],
    );
  });
});

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}
async function flush(): Promise<void> {
  for (let i = 0; i < 50; i++) await Promise.resolve();
}

describe("Regulation.inTurn", () => {
  const make = () => new Regulation({ store: undefined as unknown as RegulationStore, clock: new ManualClock(T0), site: () => siteOf({}), ipLimit: { count: 50, windowMs: 10 * MINUTE }, audit: () => undefined });

  /** Checks that record their start and end when the test resolves them. */
  function checks() {
    const started: string[] = [];
    const gates = new Map<string, Deferred<string>>();
    let current = 0;
    let most = 0;
    const check = (name: string) => () => {
      started.push(name);
      current++;
      most = Math.max(most, current);
      const gate = deferred<string>();
      gates.set(name, gate);
      return gate.promise.then((v) => {
        current--;
        return v;
      });
    };
    const finish = (name: string) => gates.get(name)!.resolve(`${name} ok`);
    return {
      started,
      check,
      finish,
      get most() {
        return most;
      },
    };
  }

  it("runs one check per user at a time, whatever the address, and returns its value", async () => {
    const regulation = make();
    const c = checks();
    const first = regulation.inTurn("bob", "10.0.0.1", c.check("bob#1"));
    const second = regulation.inTurn("bob", "10.0.0.2", c.check("bob#2"));
    const other = regulation.inTurn("alice", "10.0.0.1", c.check("alice"));
    await flush();
    assert.deepEqual(c.started, ["bob#1", "alice"]);
    c.finish("bob#1");
    assert.equal(await first, "bob#1 ok");
    await flush();
    assert.deepEqual(c.started, ["bob#1", "alice", "bob#2"]);
    c.finish("bob#2");
    c.finish("alice");
    assert.deepEqual(await Promise.all([second, other]), ["bob#2 ok", "alice ok"]);
  });

  it("shares a turn between spellings of one name: Bob and bob wait for each other", async () => {
    const regulation = make();
    const c = checks();
    const upper = regulation.inTurn("Bob", "10.0.0.1", c.check("Bob"));
    const lower = regulation.inTurn("bob", "10.0.0.2", c.check("bob"));
    const shout = regulation.inTurn("BOB", "10.0.0.3", c.check("BOB"));
    await flush();
    assert.deepEqual(c.started, ["Bob"]);
    c.finish("Bob");
    await flush();
    assert.deepEqual(c.started, ["Bob", "bob"]);
    c.finish("bob");
    await flush();
    assert.deepEqual(c.started, ["Bob", "bob", "BOB"]);
    c.finish("BOB");
    assert.deepEqual(await Promise.all([upper, lower, shout]), ["Bob ok", "bob ok", "BOB ok"]);
    assert.equal(c.most, 1);
  });

  it("runs at most 4 checks per address at once, other addresses unaffected", async () => {
    const regulation = make();
    const c = checks();
    const users = ["u1", "u2", "u3", "u4", "u5", "u6"];
    const all = users.map((u) => regulation.inTurn(u, "10.0.0.1", c.check(u)));
    const elsewhere = regulation.inTurn("u7", "10.0.0.2", c.check("u7"));
    await flush();
    assert.deepEqual(c.started, ["u1", "u2", "u3", "u4", "u7"]);
    c.finish("u2");
    await flush();
    assert.deepEqual(c.started, ["u1", "u2", "u3", "u4", "u7", "u5"]);
    c.finish("u7");
    await flush();
    assert.deepEqual(c.started, ["u1", "u2", "u3", "u4", "u7", "u5"], "another address's slot is not this one's");
    c.finish("u1");
    await flush();
    assert.deepEqual(c.started, ["u1", "u2", "u3", "u4", "u7", "u5", "u6"]);
    for (const u of ["u3", "u4", "u5", "u6"]) c.finish(u);
    assert.deepEqual(await Promise.all([...all, elsewhere]), [...users.map((u) => `${u} ok`), "u7 ok"]);
    assert.equal(c.most, 5);
  });

  it("a check that rejects passes the error on and frees the user's turn", async () => {
    const regulation = make();
    const boom = new Error("boom");
    const failing = regulation.inTurn("carl", "10.0.0.1", () => Promise.reject(boom));
    const c = checks();
    const next = regulation.inTurn("Carl", "10.0.0.1", c.check("Carl"));
    await assert.rejects(failing, (e) => e === boom);
    await flush();
    assert.deepEqual(c.started, ["Carl"]);
    c.finish("Carl");
    assert.equal(await next, "Carl ok");
  });
});
