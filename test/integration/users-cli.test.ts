/**
 * `portcullis users add|passwd|list|disable|enable|unlock|import` and `portcullis db password`
 * (SPEC §6.3, §9), run as child processes the way an operator runs them: each group in its own temp
 * directory with its own config file, passwords piped on standard input, against the embedded store
 * (data/store.json) and against a real Redis.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { schemeOf, verifyPassword } from "../../src/auth/passwords/hash.js";
import { createRedisStore } from "../../src/store/redis/redis-store.js";
import { sessionTag, type Store } from "../../src/store/store.js";
import { type CliResult, runCli, tempDir } from "../helpers/cli.js";
import { startTestRedis, type TestRedis } from "../helpers/redis.js";

interface StoredUser {
  name: string;
  roles: string[];
  email?: string;
  enabled: boolean;
  passwordHash: string;
  passwordChangedAt: number;
  disabledReason?: string;
  history: { hash: string; changedAt: number }[];
}

interface Snapshot {
  version: 1;
  sessions: unknown[];
  failures: Record<string, { failures: number; lockedAt: number | null }>;
  records: { user?: Record<string, StoredUser> } & Record<string, Record<string, unknown>>;
}

const show = (r: CliResult) => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** The rows of a `console.table` print, as objects keyed by the header's column names (quotes removed). */
function tableRows(stdout: string): Record<string, string>[] {
  const lines = stdout.split("\n").filter((l) => l.includes("│"));
  const cells = (l: string) =>
    l
      .split("│")
      .slice(1, -1)
      .map((c) => c.trim().replace(/^'(.*)'$/, "$1"));
  const [header, ...rows] = lines.map(cells);
  assert.ok(header, `no table in:\n${stdout}`);
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ""])));
}

function listedUser(r: CliResult, name: string): Record<string, string> {
  assert.equal(r.status, 0, show(r));
  const row = tableRows(r.stdout).find((x) => x.name === name);
  assert.ok(row, `${name} is not in the list:\n${show(r)}`);
  return row;
}

/** A group of commands on the embedded store of a fresh temp directory. */
function embeddedGroup(prefix: string, site = "") {
  const dir = tempDir(prefix);
  const data = path.join(dir, "data");
  const config = path.join(dir, "portcullis.yaml");
  fs.writeFileSync(config, `store: { dataDir: ${JSON.stringify(data)} }\n${site}`);
  const storeFile = path.join(data, "store.json");
  return {
    dir,
    data,
    storeFile,
    lockFile: `${storeFile}.lock`,
    cli: (args: string[], input = "") => runCli([...args, "-c", config], { cwd: dir, input }),
    snapshot: (): Snapshot => JSON.parse(fs.readFileSync(storeFile, "utf8")) as Snapshot,
    user(name: string): StoredUser | undefined {
      if (!fs.existsSync(storeFile)) return undefined;
      return this.snapshot().records.user?.[name];
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

const ALICE_PW = "alice-password-one";
const ALICE_PW2 = "alice-password-two";

describe("users add/passwd/list/disable/enable/unlock on the embedded store", () => {
  const g = embeddedGroup(
    "portcullis-users-",
    `site: { passwordComplexity: "^.{12,}$", passwordComplexityMessage: "Use twelve characters or more.", passwordReuseRestriction: historical }\n`,
  );
  after(() => g.cleanup());

  it("adds alice with roles and email, stores an argon2id hash and never the password, and releases the store", async () => {
    const r = g.cli(["users", "add", "alice", "--roles", "admin,scientists", "--email", "a@x.org"], `${ALICE_PW}\n${ALICE_PW}\n`);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /created alice/);
    const alice = g.user("alice");
    assert.ok(alice, "alice is not in store.json");
    assert.match(alice.passwordHash, /^\$argon2id\$/);
    assert.equal(await verifyPassword(alice.passwordHash, ALICE_PW), true, "the stored hash does not verify the password");
    assert.deepEqual(alice.roles, ["admin", "scientists"]);
    assert.equal(alice.email, "a@x.org");
    assert.equal(alice.enabled, true);
    assert.deepEqual(alice.history, []);
    assert.ok(!fs.readFileSync(g.storeFile, "utf8").includes(ALICE_PW), "the password itself is in store.json");
    assert.equal(fs.existsSync(g.lockFile), false, "the store lock is still there after the command ended");
  });

  it("lists alice with her roles, enabled, an argon2id hash and no login yet", () => {
    const row = listedUser(g.cli(["users", "list"]), "alice");
    assert.equal(row.roles, "admin,scientists");
    assert.equal(row.enabled, "yes");
    assert.equal(row.hash, "argon2id");
    assert.equal(row.failures, "0");
    assert.equal(row.lastLogin, "never");
  });

  it("refuses to add alice a second time and leaves her account as it was", () => {
    const before = g.user("alice")!;
    const r = g.cli(["users", "add", "alice", "--roles", "user"], "another-password-1\nanother-password-1\n");
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /already exists/);
    assert.deepEqual(g.user("alice"), before);
  });

  it("a refused command still releases the store lock", () => {
    // A duplicate add is refused after the store was opened; the lock must not outlive the command.
    const r = g.cli(["users", "add", "alice"], "another-password-1\nanother-password-1\n");
    assert.notEqual(r.status, 0, show(r));
    assert.equal(fs.existsSync(g.lockFile), false, `store.json.lock left behind by the refused command: ${fs.existsSync(g.lockFile) ? fs.readFileSync(g.lockFile, "utf8") : ""}`);
  });

  it("refuses two different passwords and creates nothing", () => {
    const r = g.cli(["users", "add", "bob"], "bob-password-aaaa\nbob-password-bbbb\n");
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /differ/);
    assert.equal(g.user("bob"), undefined);
  });

  it("refuses an empty password and creates nothing", () => {
    const r = g.cli(["users", "add", "bob"], "\n\n");
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /empty/);
    assert.equal(g.user("bob"), undefined);
  });

  it("refuses a password against site.passwordComplexity with site.passwordComplexityMessage", () => {
    const r = g.cli(["users", "add", "bob"], "short-pw\nshort-pw\n");
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /Use twelve characters or more\./);
    assert.equal(g.user("bob"), undefined);
  });

  for (const bad of ["bad name", "../x"]) {
    it(`refuses the user name ${JSON.stringify(bad)}`, () => {
      const r = g.cli(["users", "add", bad], "valid-password-1\nvalid-password-1\n");
      assert.notEqual(r.status, 0, show(r));
      assert.match(r.stderr, /not a valid user name/);
      assert.deepEqual(Object.keys(g.snapshot().records.user ?? {}), ["alice"]);
      assert.equal(fs.existsSync(path.join(g.dir, "x")), false);
    });
  }

  it("passwd gives alice a new hash and moves the old one to her history", async () => {
    const before = g.user("alice")!;
    const r = g.cli(["users", "passwd", "alice"], `${ALICE_PW2}\n${ALICE_PW2}\n`);
    assert.equal(r.status, 0, show(r));
    const now = g.user("alice")!;
    assert.match(now.passwordHash, /^\$argon2id\$/);
    assert.notEqual(now.passwordHash, before.passwordHash);
    assert.equal(await verifyPassword(now.passwordHash, ALICE_PW2), true);
    assert.equal(now.history[0]?.hash, before.passwordHash);
    assert.ok(now.passwordChangedAt >= before.passwordChangedAt);
    assert.deepEqual(now.roles, before.roles);
  });

  it("passwd refuses a password in the history (passwordReuseRestriction: historical), a weak one, and an unknown user", () => {
    const before = g.user("alice")!;
    const reused = g.cli(["users", "passwd", "alice"], `${ALICE_PW}\n${ALICE_PW}\n`);
    assert.notEqual(reused.status, 0, show(reused));
    assert.match(reused.stderr, /used recently/);
    const weak = g.cli(["users", "passwd", "alice"], "short-pw\nshort-pw\n");
    assert.notEqual(weak.status, 0, show(weak));
    assert.match(weak.stderr, /Use twelve characters or more\./);
    assert.deepEqual(g.user("alice"), before);
    const unknown = g.cli(["users", "passwd", "nobody"], "valid-password-1\nvalid-password-1\n");
    assert.notEqual(unknown.status, 0, show(unknown));
    assert.match(unknown.stderr, /no user nobody/);
  });

  it("disable and enable flip enabled, in the store and in the list", () => {
    const d = g.cli(["users", "disable", "alice"]);
    assert.equal(d.status, 0, show(d));
    assert.equal(g.user("alice")!.enabled, false);
    assert.equal(listedUser(g.cli(["users", "list"]), "alice").enabled, "no (admin)");
    const e = g.cli(["users", "enable", "alice"]);
    assert.equal(e.status, 0, show(e));
    assert.equal(g.user("alice")!.enabled, true);
    assert.equal(g.user("alice")!.disabledReason, undefined);
    assert.equal(listedUser(g.cli(["users", "list"]), "alice").enabled, "yes");
  });

  it("disable of an unknown user fails", () => {
    const r = g.cli(["users", "disable", "nobody"]);
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /no user nobody/);
  });

  it("unlock clears alice's failed logins and lock; unlock of an unknown user fails", () => {
    // Seed a lock the way a gateway would have persisted it (no process holds the store now).
    const lockedAt = Date.UTC(2030, 0, 2, 3, 4, 5);
    const snap = g.snapshot();
    snap.failures.alice = { failures: 5, lockedAt };
    fs.writeFileSync(g.storeFile, JSON.stringify(snap));
    const locked = listedUser(g.cli(["users", "list"]), "alice");
    assert.equal(locked.failures, "5");
    assert.equal(locked.lockedSince, new Date(lockedAt).toISOString());

    const r = g.cli(["users", "unlock", "alice"]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /alice unlocked/);
    assert.equal(g.snapshot().failures.alice, undefined);
    const unlocked = listedUser(g.cli(["users", "list"]), "alice");
    assert.equal(unlocked.failures, "0");
    assert.equal(unlocked.lockedSince, "");

    const unknown = g.cli(["users", "unlock", "nobody"]);
    assert.notEqual(unknown.status, 0, show(unknown));
    assert.match(unknown.stderr, /no user nobody/);
  });
});

describe("users import", () => {
  const g = embeddedGroup("portcullis-users-import-");
  after(() => g.cleanup());

  const omeroPw = "omero-secret";
  const omero = createHash("md5").update(omeroPw, "utf8").digest("base64");
  const xnatPw = "xnat-secret";
  const xnat = createHash("sha256").update(xnatPw, "utf8").digest("hex");
  const saltedPw = "xnat-salted-secret";
  const salt = "s4lt";
  const xnatSalted = `${createHash("sha256").update(`${saltedPw}{${salt}}`, "utf8").digest("hex")}{${salt}}`;

  it("imports OMERO and XNAT hashes from CSV wrapped in argon2id, never bare, and skips, naming them, rows with an unknown hash or no password", async () => {
    const file = path.join(g.dir, "users.csv");
    fs.writeFileSync(
      file,
      [
        "name,passwordHash,roles,email",
        `omero1,${omero},user;scientists,o@x.org`,
        `xnat1,${xnat},user,`,
        `xnat2,${xnatSalted},,`,
        "weird,zzz-not-a-hash,user,",
        "nopass,,user,",
        "",
      ].join("\n"),
    );
    const r = g.cli(["users", "import", file]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /imported 3 of 5 accounts/);
    assert.match(r.stderr, /row 4 \(weird\)/);
    assert.match(r.stderr, /row 5 \(nopass\)/);
    assert.doesNotMatch(r.stderr, /row [123] /);

    const o = g.user("omero1")!;
    assert.equal(schemeOf(o.passwordHash), "argon2id-omero-md5", o.passwordHash);
    const storeText = fs.readFileSync(g.storeFile, "utf8");
    for (const digest of [omero, xnat, xnatSalted.slice(0, 64)]) assert.ok(!storeText.includes(digest), `the bare digest ${digest} is in store.json`);
    assert.deepEqual(o.roles, ["user", "scientists"]);
    assert.equal(o.email, "o@x.org");
    assert.equal(await verifyPassword(o.passwordHash, omeroPw), true);
    const x = g.user("xnat1")!;
    assert.equal(schemeOf(x.passwordHash), "argon2id-xnat-sha256", x.passwordHash);
    assert.equal(schemeOf(g.user("xnat2")!.passwordHash), "argon2id-xnat-sha256-salted");
    assert.deepEqual(x.roles, ["user"]);
    assert.equal(await verifyPassword(x.passwordHash, xnatPw), true);
    assert.equal(await verifyPassword(g.user("xnat2")!.passwordHash, saltedPw), true);
    assert.equal(g.user("weird"), undefined);
    assert.equal(g.user("nopass"), undefined);
  });

  it("imports from JSON: a plain password is stored as argon2id, legacy hashes wrapped in argon2id; bad rows are skipped by number", async () => {
    const file = path.join(g.dir, "users.json");
    const plainPw = "plain-import-password";
    fs.writeFileSync(
      file,
      JSON.stringify([
        { name: "plain1", password: plainPw, roles: ["admin"], email: "p@x.org" },
        { name: "omero2", passwordHash: `omero-md5:${omero}`, roles: "user;omero" },
        { name: "xnat3", passwordHash: `xnat-sha256:${xnat}` },
        { name: "weird2", passwordHash: "{SSHA}abcdef" },
        { name: "nopass2", roles: ["user"] },
        { name: "omero1", passwordHash: omero },
      ]),
    );
    const r = g.cli(["users", "import", file]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /imported 3 of 6 accounts/);
    assert.match(r.stderr, /row 4 \(weird2\)/);
    assert.match(r.stderr, /row 5 \(nopass2\)/);
    assert.match(r.stderr, /row 6 \(omero1\).*already exists/);

    const p = g.user("plain1")!;
    assert.match(p.passwordHash, /^\$argon2id\$/);
    assert.equal(await verifyPassword(p.passwordHash, plainPw), true);
    assert.deepEqual(p.roles, ["admin"]);
    assert.ok(!fs.readFileSync(g.storeFile, "utf8").includes(plainPw), "the imported plain password is in store.json");
    assert.deepEqual(g.user("omero2")!.roles, ["user", "omero"]);
    assert.equal(await verifyPassword(g.user("omero2")!.passwordHash, omeroPw), true);
    assert.equal(await verifyPassword(g.user("xnat3")!.passwordHash, xnatPw), true);
    assert.equal(g.user("weird2"), undefined);
    assert.equal(g.user("nopass2"), undefined);
  });

  it("trims the roles of a CSV row written with spaces after the semicolons", () => {
    const file = path.join(g.dir, "spaced.csv");
    fs.writeFileSync(file, `name,passwordHash,roles,email\nspaced1,${omero},user; scientists ;admin,\n`);
    const r = g.cli(["users", "import", file]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /imported 1 of 1 accounts/);
    assert.deepEqual(g.user("spaced1")!.roles, ["user", "scientists", "admin"]);
  });

  it("refuses a JSON file that does not parse or is not a list, naming the file, and imports nothing", () => {
    const broken = path.join(g.dir, "broken.json");
    fs.writeFileSync(broken, '[{"name": "half1",');
    const a = g.cli(["users", "import", broken]);
    assert.equal(a.status, 1, show(a));
    assert.match(a.stderr, /broken\.json is not valid JSON/);
    const single = path.join(g.dir, "single.json");
    fs.writeFileSync(single, JSON.stringify({ name: "single1", password: "a-long-password-1" }));
    const b = g.cli(["users", "import", single]);
    assert.equal(b.status, 1, show(b));
    assert.match(b.stderr, /single\.json must hold a JSON list of accounts/);
    assert.equal(g.user("half1"), undefined);
    assert.equal(g.user("single1"), undefined);
  });

  it("skips JSON rows of the wrong shape or types, by their number, and imports the others", () => {
    const file = path.join(g.dir, "mixed.json");
    const rows = [
      "not-an-account",
      { name: "typed1", passwordHash: 123 },
      { name: 42, password: "a-long-password-1" },
      { name: "typed2", password: "a-long-password-1", roles: [1] },
      { name: "mixed1", passwordHash: omero },
      // An empty hash beside a password: the password is used.
      { name: "mixed2", passwordHash: "", password: "a-long-password-2" },
    ];
    fs.writeFileSync(file, JSON.stringify(rows));
    const r = g.cli(["users", "import", file]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stderr, /row 1: name must be a non-empty string; skipped/);
    assert.match(r.stderr, /row 2 \(typed1\): passwordHash must be a string; skipped/);
    assert.match(r.stderr, /row 3: name must be a non-empty string; skipped/);
    assert.match(r.stderr, /row 4 \(typed2\): roles must be a list of strings; skipped/);
    assert.match(r.stdout, /imported 2 of 6 accounts/);
    assert.ok(g.user("mixed1"));
    assert.equal(g.user("typed1"), undefined);
    assert.match(g.user("mixed2")!.passwordHash, /^\$argon2id\$/);
  });

  it("lists the imported accounts with the scheme of their hash", () => {
    const r = g.cli(["users", "list"]);
    assert.equal(listedUser(r, "omero1").hash, "argon2id-omero-md5");
    assert.equal(listedUser(r, "xnat1").hash, "argon2id-xnat-sha256");
    assert.equal(listedUser(r, "xnat2").hash, "argon2id-xnat-sha256-salted");
    assert.equal(listedUser(r, "plain1").hash, "argon2id");
    assert.equal(tableRows(r.stdout).length, 9);
  });
});

describe("db password", () => {
  const g = embeddedGroup("portcullis-dbpw-");
  after(() => g.cleanup());
  const ROOT_PW = "root-password-one";

  it("without --apply prints an argon2id hash of the password and how to set it, and writes nothing", async () => {
    const r = g.cli(["db", "password", "--user", "root"], `${ROOT_PW}\n${ROOT_PW}\n`);
    assert.equal(r.status, 0, show(r));
    const hash = /new hash: (\$argon2id\$\S+)/.exec(r.stdout)?.[1];
    assert.ok(hash, show(r));
    assert.equal(await verifyPassword(hash, ROOT_PW), true);
    assert.ok(r.stdout.includes("portcullis db password --user root --apply"), show(r));
    assert.ok(r.stdout.includes("pc:{r:user}:root"), show(r));
    assert.ok(!r.stdout.includes(ROOT_PW) && !r.stderr.includes(ROOT_PW), "the password is echoed");
    assert.equal(fs.existsSync(g.data), false, "db password without --apply touched the data directory");
  });

  it("refuses two different passwords, with or without --apply, and writes nothing", () => {
    for (const args of [["db", "password", "--user", "root"], ["db", "password", "--user", "root", "--apply"]]) {
      const r = g.cli(args, "root-password-aaa\nroot-password-bbb\n");
      assert.notEqual(r.status, 0, show(r));
      assert.match(r.stderr, /differ/);
      assert.doesNotMatch(r.stdout, /\$argon2id\$/);
    }
    assert.equal(g.user("root"), undefined);
  });

  it("--apply creates root with the admin role when it is missing", async () => {
    const r = g.cli(["db", "password", "--user", "root", "--apply"], `${ROOT_PW}\n${ROOT_PW}\n`);
    assert.equal(r.status, 0, show(r));
    const root = g.user("root")!;
    assert.ok(root, "root was not created");
    assert.deepEqual(root.roles, ["admin"]);
    assert.equal(root.enabled, true);
    assert.match(root.passwordHash, /^\$argon2id\$/);
    assert.equal(await verifyPassword(root.passwordHash, ROOT_PW), true);
    const printed = /new hash: (\S+)/.exec(r.stdout)?.[1];
    assert.equal(printed, root.passwordHash, "the printed hash is not the one written");
  });

  it("--apply replaces the hash of an existing account and keeps its roles", async () => {
    const before = g.user("root")!;
    const r = g.cli(["db", "password", "--user", "root", "--apply"], "root-password-two\nroot-password-two\n");
    assert.equal(r.status, 0, show(r));
    const root = g.user("root")!;
    assert.notEqual(root.passwordHash, before.passwordHash);
    assert.equal(await verifyPassword(root.passwordHash, "root-password-two"), true);
    assert.equal(await verifyPassword(root.passwordHash, ROOT_PW), false);
    assert.equal(root.history[0]?.hash, before.passwordHash);
    assert.deepEqual(root.roles, ["admin"]);
    assert.deepEqual(Object.keys(g.snapshot().records.user ?? {}), ["root"]);
  });
});

describe("the embedded store held by another process", () => {
  const g = embeddedGroup("portcullis-users-lock-");
  after(() => g.cleanup());

  it("refuses while a live process holds store.json.lock, naming it, and takes the lock over once it is gone", async () => {
    const added = g.cli(["users", "add", "alice"], "any-password\nany-password\n");
    assert.equal(added.status, 0, show(added));
    const holder = spawn("sleep", ["30"], { stdio: "ignore" });
    const exited = new Promise((resolve) => holder.once("exit", resolve));
    try {
      assert.ok(holder.pid, "sleep did not start");
      fs.writeFileSync(g.lockFile, String(holder.pid));
      const refused = g.cli(["users", "list"]);
      assert.notEqual(refused.status, 0, show(refused));
      assert.match(refused.stderr, new RegExp(`in use by process ${holder.pid}\\b`));
      assert.equal(fs.readFileSync(g.lockFile, "utf8").trim(), String(holder.pid), "the refused command touched the lock");
    } finally {
      holder.kill("SIGKILL");
      await exited;
    }
    const r = g.cli(["users", "list"]);
    listedUser(r, "alice");
    assert.equal(fs.existsSync(g.lockFile), false, "the taken-over lock was not released");
  });
});

describe("users on the Redis store", () => {
  let redis: TestRedis;
  let g: ReturnType<typeof embeddedGroup>;
  let client: Redis;
  let store: Store;
  let cli: (args: string[], input?: string) => CliResult;
  const getUser = async (name: string) => {
    const raw = await client.get(`pc:{r:user}:${name}`);
    return raw === null ? null : (JSON.parse(raw) as StoredUser);
  };

  before(async () => {
    redis = await startTestRedis();
    g = embeddedGroup("portcullis-users-redis-");
    const config = path.join(g.dir, "redis.yaml");
    fs.writeFileSync(config, `store: { redis: ${JSON.stringify(redis.url)} }\n`);
    cli = (args, input = "") => runCli([...args, "-c", config], { cwd: g.dir, input });
    client = new Redis(redis.url);
    store = await createRedisStore({ target: { kind: "url", url: redis.url } });
  });
  after(async () => {
    await store?.close();
    client?.disconnect();
    await redis?.cleanup();
    g?.cleanup();
  });

  it("adds alice into Redis under pc:{r:user}:alice with an argon2id hash, and lists her", async () => {
    const r = cli(["users", "add", "alice", "--roles", "admin,scientists", "--email", "a@x.org"], `${ALICE_PW}\n${ALICE_PW}\n`);
    assert.equal(r.status, 0, show(r));
    const raw = await client.get("pc:{r:user}:alice");
    assert.ok(raw, "no pc:{r:user}:alice in Redis");
    assert.ok(!raw.includes(ALICE_PW), "the password itself is in Redis");
    const alice = JSON.parse(raw) as StoredUser;
    assert.match(alice.passwordHash, /^\$argon2id\$/);
    assert.equal(await verifyPassword(alice.passwordHash, ALICE_PW), true);
    assert.deepEqual(alice.roles, ["admin", "scientists"]);
    assert.equal(fs.existsSync(g.data), false, "the Redis configuration wrote an embedded store");

    const row = listedUser(cli(["users", "list"]), "alice");
    assert.equal(row.roles, "admin,scientists");
    assert.equal(row.enabled, "yes");
    assert.equal(row.hash, "argon2id");

    const again = cli(["users", "add", "alice"], "other-password\nother-password\n");
    assert.notEqual(again.status, 0, show(again));
    assert.match(again.stderr, /already exists/);
  });

  it("unlock clears failures counted in Redis by a gateway", async () => {
    const now = Date.now();
    for (let i = 0; i < 3; i++) await store.recordLoginFailure("alice", now, { maxFailures: 3, lockMs: 3_600_000 });
    assert.equal((await store.getLoginFailures("alice")).lockedAt, now);
    const r = cli(["users", "unlock", "alice"]);
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(await store.getLoginFailures("alice"), { failures: 0, lockedAt: null });
  });

  it("disable ends alice's sessions and enable brings her back", async () => {
    const now = Date.now();
    const created = await store.createSession(
      {
        id: "users-cli-session-1",
        tag: sessionTag("alice"),
        user: "alice",
        provider: "local",
        roles: ["admin"],
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + 3_600_000,
        absoluteExpiresAt: now + 3_600_000,
        encrypted: true,
        csrfToken: "t",
      },
      { maxSessions: 10, policy: "refuse", now },
    );
    assert.equal(created.created, true);
    const d = cli(["users", "disable", "alice"]);
    assert.equal(d.status, 0, show(d));
    assert.equal((await getUser("alice"))!.enabled, false);
    assert.deepEqual(await store.listSessions("alice", Date.now()), []);
    const e = cli(["users", "enable", "alice"]);
    assert.equal(e.status, 0, show(e));
    assert.equal((await getUser("alice"))!.enabled, true);
  });

  it("db password --apply writes root to the key it names", async () => {
    const r = cli(["db", "password", "--apply"], "root-password-one\nroot-password-one\n");
    assert.equal(r.status, 0, show(r));
    const root = await getUser("root");
    assert.ok(root, "no pc:{r:user}:root in Redis");
    assert.deepEqual(root.roles, ["admin"]);
    assert.equal(await verifyPassword(root.passwordHash, "root-password-one"), true);
  });
});
