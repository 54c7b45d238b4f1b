/**
 * The contract every Store implementation meets; run once per implementation by the *.test.ts files
 * beside it (embedded and Redis), so both behave the same to the code above them.
 */
import assert from "node:assert/strict";
import { after, afterEach, beforeEach, describe, it } from "node:test";
import { recordKind, type SessionRecord, type Store, sessionTag } from "../../src/store/store.js";

export interface StoreFactory {
  /** A fresh, empty store (a new key prefix or a new directory). */
  create(): Promise<Store>;
  /** A second store sharing the first one's data (another process, for Redis), when there is one. */
  twin?(store: Store): Promise<Store>;
  cleanup?(): Promise<void>;
}

const T0 = Date.UTC(2026, 0, 1, 12);
const MIN = 60_000;
let counter = 0;

export function session(user: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  counter++;
  return {
    id: `id-${counter}-${Math.random().toString(36).slice(2)}`,
    tag: sessionTag(user),
    user,
    provider: "local",
    roles: [],
    createdAt: T0 + counter,
    lastSeenAt: T0 + counter,
    expiresAt: T0 + counter + 15 * MIN,
    absoluteExpiresAt: T0 + counter + 720 * MIN,
    encrypted: false,
    csrfToken: "csrf",
    ...overrides,
  };
}

export function runStoreContract(name: string, factory: StoreFactory): void {
  describe(`the ${name} store`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await factory.create();
    });
    afterEach(async () => {
      await store.close();
    });
    after(async () => {
      await factory.cleanup?.();
    });

    describe("sessions", () => {
      it("stores a session and returns it by tag and id, roles and all", async () => {
        const s = session("alice", { roles: ["admin", "scientists"], email: "a@example.org" });
        assert.deepEqual(await store.createSession(s, { maxSessions: 5, policy: "refuse", now: T0 }), { created: true, evicted: [] });
        assert.deepEqual(await store.getSession(s.tag, s.id), s);
      });

      it("keeps an empty roles list a list", async () => {
        const s = session("empty-roles");
        await store.createSession(s, { maxSessions: 5, policy: "refuse", now: T0 });
        await store.touchSession(s.tag, s.id, T0 + MIN, T0 + 16 * MIN);
        assert.deepEqual((await store.getSession(s.tag, s.id))?.roles, []);
      });

      it("returns null for an unknown id or a wrong tag", async () => {
        const s = session("bob");
        await store.createSession(s, { maxSessions: 5, policy: "refuse", now: T0 });
        assert.equal(await store.getSession(s.tag, "nope"), null);
        assert.equal(await store.getSession(sessionTag("mallory"), s.id), null);
      });

      it("refuses a login at maxSessions live sessions under the refuse policy", async () => {
        for (let i = 0; i < 3; i++) assert.equal((await store.createSession(session("carol"), { maxSessions: 3, policy: "refuse", now: T0 })).created, true);
        assert.deepEqual(await store.createSession(session("carol"), { maxSessions: 3, policy: "refuse", now: T0 }), { created: false, reason: "limit" });
        assert.equal((await store.listSessions("carol", T0)).length, 3);
      });

      it("ends the oldest sessions instead under evictOldest", async () => {
        const first = session("dave");
        const second = session("dave");
        await store.createSession(first, { maxSessions: 2, policy: "evictOldest", now: T0 });
        await store.createSession(second, { maxSessions: 2, policy: "evictOldest", now: T0 });
        const third = session("dave");
        assert.deepEqual(await store.createSession(third, { maxSessions: 2, policy: "evictOldest", now: T0 }), { created: true, evicted: [first.id] });
        assert.equal(await store.getSession(first.tag, first.id), null);
        assert.deepEqual((await store.listSessions("dave", T0)).map((s) => s.id), [second.id, third.id]);
      });

      it("does not count expired sessions against the cap", async () => {
        await store.createSession(session("erin", { expiresAt: T0 + MIN }), { maxSessions: 1, policy: "refuse", now: T0 });
        // Two minutes later the first session has idled out: a new login is allowed.
        assert.equal((await store.createSession(session("erin"), { maxSessions: 1, policy: "refuse", now: T0 + 2 * MIN })).created, true);
        assert.equal((await store.listSessions("erin", T0 + 2 * MIN)).length, 1);
      });

      it("counts sessions per user, not across users", async () => {
        await store.createSession(session("frank"), { maxSessions: 1, policy: "refuse", now: T0 });
        assert.equal((await store.createSession(session("grace"), { maxSessions: 1, policy: "refuse", now: T0 })).created, true);
      });

      it("enforces the cap when many logins race", async () => {
        const results = await Promise.all(
          Array.from({ length: 20 }, () => store.createSession(session("racer"), { maxSessions: 5, policy: "refuse", now: T0 })),
        );
        assert.equal(results.filter((r) => r.created).length, 5);
        assert.equal((await store.listSessions("racer", T0)).length, 5);
      });

      it("slides the idle expiry forward, never backward and never past the absolute limit", async () => {
        const s = session("heidi", { absoluteExpiresAt: T0 + 30 * MIN });
        await store.createSession(s, { maxSessions: 5, policy: "refuse", now: T0 });
        await store.touchSession(s.tag, s.id, T0 + 10 * MIN, T0 + 25 * MIN);
        let got = await store.getSession(s.tag, s.id);
        assert.equal(got?.lastSeenAt, T0 + 10 * MIN);
        assert.equal(got?.expiresAt, T0 + 25 * MIN);
        await store.touchSession(s.tag, s.id, T0 + 5 * MIN, T0 + 20 * MIN);
        got = await store.getSession(s.tag, s.id);
        assert.equal(got?.expiresAt, T0 + 25 * MIN);
        await store.touchSession(s.tag, s.id, T0 + 20 * MIN, T0 + 35 * MIN);
        assert.equal((await store.getSession(s.tag, s.id))?.expiresAt, T0 + 30 * MIN);
      });

      it("does not bring back a session by touching it after it ended", async () => {
        const s = session("ivan");
        await store.createSession(s, { maxSessions: 5, policy: "refuse", now: T0 });
        assert.equal(await store.deleteSession(s.tag, s.id), true);
        await store.touchSession(s.tag, s.id, T0 + MIN, T0 + 16 * MIN);
        assert.equal(await store.getSession(s.tag, s.id), null);
        assert.equal(await store.deleteSession(s.tag, s.id), false);
      });

      it("lists a user's live sessions oldest first and ends them all at once", async () => {
        const a = session("judy");
        const b = session("judy");
        await store.createSession(b, { maxSessions: 5, policy: "refuse", now: T0 });
        await store.createSession(a, { maxSessions: 5, policy: "refuse", now: T0 });
        assert.deepEqual((await store.listSessions("judy", T0)).map((s) => s.id), [a.id, b.id]);
        assert.deepEqual((await store.deleteUserSessions("judy")).sort(), [a.id, b.id].sort());
        assert.deepEqual(await store.listSessions("judy", T0), []);
        assert.equal(await store.getSession(a.tag, a.id), null);
      });

      it("lists every user's live sessions oldest first, directory users' and odd names included", async () => {
        const local = session("lena");
        const ldap = session("uid*[x]?", { provider: "ldap" });
        const gone = session("mona", { expiresAt: T0 + MIN });
        for (const s of [ldap, local, gone]) await store.createSession(s, { maxSessions: 5, policy: "refuse", now: T0 });
        const listed = await store.listAllSessions(T0 + 2 * MIN);
        assert.deepEqual(listed.map((s) => s.id), [local.id, ldap.id]);
        assert.equal(listed[1]!.user, "uid*[x]?");
        await store.deleteUserSessions("lena");
        assert.deepEqual((await store.listAllSessions(T0 + 2 * MIN)).map((s) => s.id), [ldap.id]);
      });

      it("prunes expired sessions", async () => {
        const s = session("ken", { expiresAt: T0 + MIN });
        await store.createSession(s, { maxSessions: 5, policy: "refuse", now: T0 });
        await store.prune(T0 + 2 * MIN);
        assert.deepEqual(await store.listSessions("ken", T0 + 2 * MIN), []);
      });
    });

    describe("failed logins", () => {
      const rule = { maxFailures: 3, lockMs: 60 * MIN };

      it("locks at exactly maxFailures consecutive failures", async () => {
        assert.deepEqual(await store.recordLoginFailure("u1", T0, rule), { failures: 1, lockedAt: null });
        assert.deepEqual(await store.recordLoginFailure("u1", T0 + 1, rule), { failures: 2, lockedAt: null });
        assert.deepEqual(await store.recordLoginFailure("u1", T0 + 2, rule), { failures: 3, lockedAt: T0 + 2 });
        assert.deepEqual(await store.getLoginFailures("u1"), { failures: 3, lockedAt: T0 + 2 });
      });

      it("counts failures during a lock without moving its start", async () => {
        for (let i = 0; i < 3; i++) await store.recordLoginFailure("u2", T0, rule);
        assert.deepEqual(await store.recordLoginFailure("u2", T0 + 30 * MIN, rule), { failures: 4, lockedAt: T0 });
      });

      it("starts a new count after the lock has ended", async () => {
        for (let i = 0; i < 3; i++) await store.recordLoginFailure("u3", T0, rule);
        assert.deepEqual(await store.recordLoginFailure("u3", T0 + 60 * MIN, rule), { failures: 1, lockedAt: null });
      });

      it("never locks when maxFailures is -1", async () => {
        for (let i = 0; i < 10; i++) await store.recordLoginFailure("u4", T0, { maxFailures: -1, lockMs: MIN });
        assert.deepEqual(await store.getLoginFailures("u4"), { failures: 10, lockedAt: null });
      });

      it("clears the count and the lock on success or unlock", async () => {
        for (let i = 0; i < 3; i++) await store.recordLoginFailure("u5", T0, rule);
        await store.clearLoginFailures("u5");
        assert.deepEqual(await store.getLoginFailures("u5"), { failures: 0, lockedAt: null });
      });

      it("counts racing failures exactly", async () => {
        await Promise.all(Array.from({ length: 25 }, () => store.recordLoginFailure("u6", T0, { maxFailures: 10, lockMs: MIN })));
        const state = await store.getLoginFailures("u6");
        assert.equal(state.failures, 25);
        assert.equal(state.lockedAt, T0);
      });

      it("counts failures per client IP in a window", async () => {
        assert.equal(await store.countIpFailure("192.0.2.1", T0, 10 * MIN), 1);
        assert.equal(await store.countIpFailure("192.0.2.1", T0 + MIN, 10 * MIN), 2);
        assert.equal(await store.getIpFailures("192.0.2.1", T0 + MIN, 10 * MIN), 2);
        assert.equal(await store.getIpFailures("192.0.2.2", T0 + MIN, 10 * MIN), 0);
        // The next window starts from zero.
        const next = (Math.floor(T0 / (10 * MIN)) + 1) * 10 * MIN;
        assert.equal(await store.getIpFailures("192.0.2.1", next, 10 * MIN), 0);
      });
    });

    describe("records", () => {
      interface Person {
        name?: string;
        roles: string[];
      }
      const PEOPLE = recordKind<Person>("user");
      const OTHERS = recordKind<{ n: number }>("other");
      const SETTINGS = recordKind<{ v: number }>("setting");

      it("stores, lists and deletes records by kind", async () => {
        await store.putRecord(PEOPLE, "alice", { name: "alice", roles: ["admin"] });
        await store.putRecord(PEOPLE, "bob", { name: "bob", roles: [] });
        await store.putRecord(OTHERS, "x", { n: 1 });
        assert.deepEqual(await store.getRecord(PEOPLE, "alice"), { name: "alice", roles: ["admin"] });
        assert.deepEqual(
          (await store.listRecords(PEOPLE)).map((u) => u.name).sort(),
          ["alice", "bob"],
        );
        assert.equal(await store.deleteRecord(PEOPLE, "alice"), true);
        assert.equal(await store.deleteRecord(PEOPLE, "alice"), false);
        assert.equal(await store.getRecord(PEOPLE, "alice"), null);
        assert.equal((await store.listRecords(PEOPLE)).length, 1);
      });

      it("puts and deletes several records of a kind in one write", async () => {
        await store.putRecord(SETTINGS, "a", { v: 1 });
        await store.putRecord(SETTINGS, "b", { v: 2 });
        await store.writeRecords(SETTINGS, [["b", { v: 20 }], ["c", { v: 3 }]], ["a", "never-there"]);
        assert.equal(await store.getRecord(SETTINGS, "a"), null);
        assert.deepEqual(await store.getRecord(SETTINGS, "b"), { v: 20 });
        assert.deepEqual((await store.listRecords(SETTINGS)).map((r) => r.v).sort((x, y) => x - y), [3, 20]);
        // Deletes alone, and an empty write, are writes too.
        await store.writeRecords(SETTINGS, [], ["b", "c"]);
        await store.writeRecords(SETTINGS, []);
        assert.deepEqual(await store.listRecords(SETTINGS), []);
      });

      it("returns a copy, so callers cannot change stored state by accident", async () => {
        await store.putRecord(PEOPLE, "carol", { roles: ["a"] });
        const got = await store.getRecord(PEOPLE, "carol");
        got!.roles.push("admin");
        assert.deepEqual(await store.getRecord(PEOPLE, "carol"), { roles: ["a"] });
      });

      it("stores a kind under its name, so records written before kinds were typed still read", async () => {
        await store.putRecord("setting", "old", { v: 7 });
        assert.deepEqual(await store.getRecord(SETTINGS, "old"), { v: 7 });
        await store.putRecord(SETTINGS, "new", { v: 8 });
        assert.deepEqual(await store.getRecord("setting", "new"), { v: 8 });
      });

      it("reads a kind as the type it was declared with, and as no other", async () => {
        await store.putRecord(SETTINGS, "a", { v: 1 });
        const got = await store.getRecord(SETTINGS, "a");
        assert.equal(got?.v, 1);
        // Checked by the compiler (npx tsc), never run: each line must be refused.
        const misuses = () => [
          // @ts-expect-error a setting read as a person
          store.getRecord<Person>(SETTINGS, "a"),
          // @ts-expect-error a person written under a setting's kind
          store.putRecord(SETTINGS, "a", { roles: [] }),
          // @ts-expect-error a setting listed as something wider
          store.listRecords<{ v?: number }>(SETTINGS),
          // @ts-expect-error a compare-and-set whose new value is another type
          store.replaceRecord(SETTINGS, "a", { v: 1 }, { n: 1 }),
        ];
        assert.equal(typeof misuses, "function");
      });
    });

    describe("coordination", () => {
      it("gives a named lock to one owner until it expires", async () => {
        assert.equal(await store.tryLock("sweep", "p1", 60_000, T0), true);
        assert.equal(await store.tryLock("sweep", "p2", 60_000, T0), false);
      });

      it("delivers published messages to subscribers", async () => {
        const got: string[] = [];
        const unsubscribe = await store.subscribe("events", (m) => got.push(m));
        await store.publish("events", "hello");
        for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
        assert.deepEqual(got, ["hello"]);
        unsubscribe();
      });

      it("answers ping", async () => {
        await store.ping();
      });
    });

    // Only stores that several processes can share have this part of the contract.
    if (factory.twin) describe("shared by two processes", () => {
      it("sees sessions and failures written by the other", async () => {
        const other = await factory.twin!(store);
        try {
          const s = session("shared");
          await store.createSession(s, { maxSessions: 1, policy: "refuse", now: T0 });
          assert.equal((await other.getSession(s.tag, s.id))?.user, "shared");
          assert.equal((await other.createSession(session("shared"), { maxSessions: 1, policy: "refuse", now: T0 })).created, false);
          await other.recordLoginFailure("shared", T0, { maxFailures: 2, lockMs: MIN });
          assert.deepEqual(await store.recordLoginFailure("shared", T0, { maxFailures: 2, lockMs: MIN }), { failures: 2, lockedAt: T0 });
          await other.deleteSession(s.tag, s.id);
          assert.equal(await store.getSession(s.tag, s.id), null);
        } finally {
          await other.close();
        }
      });
    });
  });
}
