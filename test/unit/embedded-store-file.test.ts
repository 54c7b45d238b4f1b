/** The embedded store's file: what is on disk when a call resolves, and a file that cannot be read. */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { createEmbeddedStore, StoreFileError } from "../../src/store/embedded/embedded-store.js";
import type { SessionRecord } from "../../src/store/store.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-embedded-"));
  dirs.push(dir);
  return dir;
}

/** What store.json holds right now, read the way a restarted process would. */
function onDisk(dir: string): { sessions: SessionRecord[]; failures: Record<string, unknown>; records: Record<string, Record<string, unknown>> } {
  const file = path.join(dir, "store.json");
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : { sessions: [], failures: {}, records: {} };
}

const T0 = Date.UTC(2026, 0, 1);
const session = (id: string): SessionRecord => ({
  id,
  tag: "t",
  user: "ann",
  provider: "local",
  roles: [],
  createdAt: T0,
  lastSeenAt: T0,
  expiresAt: T0 + 60_000,
  absoluteExpiresAt: T0 + 3_600_000,
  encrypted: false,
  csrfToken: "c",
});

describe("what the embedded store has on disk when a call resolves", () => {
  // A long batching delay: anything found on disk at once was written by the call itself.
  const open = (dir: string) => createEmbeddedStore({ dataDir: dir, flushDelayMs: 60_000 });

  it("has a changed record (a password) on disk before putRecord resolves", async () => {
    const dir = dataDir();
    const store = await open(dir);
    await store.putRecord("user", "ann", { name: "ann", passwordHash: "new-hash" });
    assert.deepEqual(onDisk(dir).records.user?.ann, { name: "ann", passwordHash: "new-hash" });
    await store.close();
  });

  it("has a failed-login count and its lock on disk before recordLoginFailure resolves", async () => {
    const dir = dataDir();
    const store = await open(dir);
    await store.recordLoginFailure("ann", T0, { maxFailures: 1, lockMs: 60_000 });
    assert.deepEqual(onDisk(dir).failures.ann, { failures: 1, lockedAt: T0 });
    await store.clearLoginFailures("ann");
    assert.equal(onDisk(dir).failures.ann, undefined);
    await store.close();
  });

  it("has a session's end on disk before deleteSession and deleteUserSessions resolve", async () => {
    const dir = dataDir();
    const store = await open(dir);
    for (const id of ["s1", "s2", "s3"]) await store.createSession(session(id), { maxSessions: 5, policy: "refuse", now: T0 });
    assert.deepEqual(onDisk(dir).sessions.map((s) => s.id), ["s1", "s2", "s3"]);
    await store.deleteSession("t", "s1");
    assert.deepEqual(onDisk(dir).sessions.map((s) => s.id), ["s2", "s3"]);
    await store.deleteUserSessions("ann");
    assert.deepEqual(onDisk(dir).sessions, []);
    await store.close();
  });

  it("has site-config overrides written together on disk before writeRecords resolves", async () => {
    const dir = dataDir();
    const store = await open(dir);
    await store.writeRecords("site-config", [["maxFailedLogins", { value: 3 }], ["sessionTimeout", { value: "5 minutes" }]]);
    assert.deepEqual(Object.keys(onDisk(dir).records["site-config"] ?? {}).sort(), ["maxFailedLogins", "sessionTimeout"]);
    await store.close();
  });

  it("batches idle-slide touches: written within flushDelayMs, not by the call", async () => {
    const dir = dataDir();
    const store = await createEmbeddedStore({ dataDir: dir, flushDelayMs: 100 });
    await store.createSession(session("s1"), { maxSessions: 5, policy: "refuse", now: T0 });
    await store.touchSession("t", "s1", T0 + 1_000, T0 + 61_000);
    assert.equal(onDisk(dir).sessions[0]!.lastSeenAt, T0, "the touch was written at once");
    const deadline = Date.now() + 3_000;
    while (onDisk(dir).sessions[0]!.lastSeenAt !== T0 + 1_000) {
      assert.ok(Date.now() < deadline, "the touch was never written");
      await new Promise((r) => setTimeout(r, 20));
    }
    await store.close();
  });

  it("gives racing calls their own answers and keeps all of them", async () => {
    const dir = dataDir();
    const store = await open(dir);
    const states = await Promise.all(Array.from({ length: 20 }, () => store.recordLoginFailure("bob", T0, { maxFailures: 50, lockMs: 60_000 })));
    assert.deepEqual(states.map((s) => s.failures).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.deepEqual(onDisk(dir).failures.bob, { failures: 20, lockedAt: null });
    await store.close();
  });

  it("removes temporary files a killed writer left, and keeps the store", async () => {
    const dir = dataDir();
    const first = await open(dir);
    await first.putRecord("user", "ann", { name: "ann" });
    await first.close();
    fs.writeFileSync(path.join(dir, "store.json.4242.tmp"), "half a wri");
    const second = await open(dir);
    assert.deepEqual(await second.getRecord("user", "ann"), { name: "ann" });
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.endsWith(".tmp")), []);
    await second.close();
  });
});

describe("a store.json that cannot be used", () => {
  for (const [what, text, problem] of [
    ["cut off in the middle", '{"version":1,"sessions":[],"failures":{},"rec', /is not valid JSON/],
    ["empty", "", /is empty/],
    ["JSON but not a store", '{"hello":"world"}', /does not hold a portcullis store/],
    ["a store of another version", '{"version":2,"sessions":[],"failures":{},"records":{}}', /does not hold a portcullis store/],
    ["JSON null", "null", /does not hold a portcullis store/],
  ] as const) {
    it(`refuses to open one that is ${what}, naming the file (ERR_STORE_FILE)`, async () => {
      const dir = dataDir();
      const file = path.join(dir, "store.json");
      fs.writeFileSync(file, text);
      await assert.rejects(createEmbeddedStore({ dataDir: dir }), (err: unknown) => {
        assert.ok(err instanceof StoreFileError);
        assert.equal(err.code, "ERR_STORE_FILE");
        assert.equal(err.file, file);
        assert.ok(err.message.includes(file));
        assert.match(err.message, problem);
        return true;
      });
      assert.equal(fs.readFileSync(file, "utf8"), text, "the file was changed");
    });
  }

  it("leaves no lock behind, so the store opens once the file is restored", async () => {
    const dir = dataDir();
    const file = path.join(dir, "store.json");
    fs.writeFileSync(file, "{not json");
    await assert.rejects(createEmbeddedStore({ dataDir: dir }), { code: "ERR_STORE_FILE" });
    assert.equal(fs.existsSync(`${file}.lock`), false);
    fs.writeFileSync(file, JSON.stringify({ version: 1, sessions: [], failures: {}, records: { user: { ann: { name: "ann" } } } }));
    const store = await createEmbeddedStore({ dataDir: dir });
    assert.deepEqual(await store.getRecord("user", "ann"), { name: "ann" });
    await store.close();
  });
});
