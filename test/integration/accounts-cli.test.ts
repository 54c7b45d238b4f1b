/** `portcullis users …` and `db password` against the embedded store of a temp directory. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli, tempDir } from "../helpers/cli.js";

interface Stored {
  records: { user?: Record<string, { passwordHash: string; enabled: boolean; roles: string[]; history: { hash: string }[] }> };
}

describe("the account commands", () => {
  let dir: string;
  let config: string;
  const cli = (args: string[], input = "") => runCli([...args, "-c", config], { cwd: dir, input });
  const stored = (): Stored => JSON.parse(fs.readFileSync(path.join(dir, "data", "store.json"), "utf8")) as Stored;
  const user = (name: string) => stored().records.user?.[name];

  before(() => {
    dir = tempDir("portcullis-accounts-");
    config = path.join(dir, "portcullis.yaml");
    fs.writeFileSync(config, `store: { dataDir: ${path.join(dir, "data")} }\nsite: { passwordComplexity: "^.{8,}$", passwordComplexityMessage: "At least 8 characters." }\n`);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("adds an account with an argon2id hash, never the password itself", () => {
    const r = cli(["users", "add", "alice", "--roles", "admin,scientists", "--email", "a@example.org"], "alice-pass-1\nalice-pass-1\n");
    assert.equal(r.status, 0, r.stderr);
    const alice = user("alice")!;
    assert.match(alice.passwordHash, /^\$argon2id\$/);
    assert.deepEqual(alice.roles, ["admin", "scientists"]);
    assert.ok(!fs.readFileSync(path.join(dir, "data", "store.json"), "utf8").includes("alice-pass-1"));
  });

  it("refuses a second account of the same name, differing passwords, and a password against the complexity rule", () => {
    assert.notEqual(cli(["users", "add", "alice"], "another-pass-1\nanother-pass-1\n").status, 0);
    const differ = cli(["users", "add", "bob"], "bob-pass-11\nbob-pass-22\n");
    assert.notEqual(differ.status, 0);
    assert.match(differ.stderr, /differ/);
    const weak = cli(["users", "add", "bob"], "short\nshort\n");
    assert.notEqual(weak.status, 0);
    assert.match(weak.stderr, /At least 8 characters/);
    assert.equal(user("bob"), undefined);
    assert.notEqual(cli(["users", "add", "bad name"], "long-enough-1\nlong-enough-1\n").status, 0);
  });

  it("lists accounts, and disables, enables and changes passwords", () => {
    const before = user("alice")!.passwordHash;
    assert.equal(cli(["users", "passwd", "alice"], "alice-pass-2\nalice-pass-2\n").status, 0);
    assert.notEqual(user("alice")!.passwordHash, before);
    assert.equal(user("alice")!.history[0]!.hash, before);
    assert.equal(cli(["users", "disable", "alice"]).status, 0);
    assert.equal(user("alice")!.enabled, false);
    const list = cli(["users", "list"]);
    assert.match(list.stdout, /alice/);
    assert.match(list.stdout, /no \(admin\)/);
    assert.equal(cli(["users", "enable", "alice"]).status, 0);
    assert.equal(user("alice")!.enabled, true);
    assert.equal(cli(["users", "unlock", "alice"]).status, 0);
    assert.notEqual(cli(["users", "unlock", "nobody"]).status, 0);
  });

  it("imports legacy OMERO and XNAT hashes from CSV and skips rows it cannot use", () => {
    const omero = createHash("md5").update("omero-pass").digest("base64");
    const xnat = createHash("sha256").update("xnat-pass").digest("hex");
    const csv = path.join(dir, "users.csv");
    fs.writeFileSync(csv, `name,passwordHash,roles,email\nomero1,${omero},user;scientists,o@example.org\nxnat1,${xnat},user,\nweird,zzz,user,\nnopass,,user,\n`);
    const r = cli(["users", "import", csv]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /imported 2 of 4/);
    assert.match(r.stderr, /row 3 \(weird\)/);
    assert.match(r.stderr, /row 4 \(nopass\)/);
    assert.match(user("omero1")!.passwordHash, /^\$argon2id-omero-md5\$/);
    assert.ok(!fs.readFileSync(path.join(dir, "data", "store.json"), "utf8").includes(omero), "the bare MD5 digest is in the store");
    assert.deepEqual(user("omero1")!.roles, ["user", "scientists"]);
  });

  it("db password prints a new hash without writing, and --apply sets it", () => {
    const printed = cli(["db", "password", "--user", "root"], "root-pass-1\nroot-pass-1\n");
    assert.equal(printed.status, 0, printed.stderr);
    assert.match(printed.stdout, /\$argon2id\$/);
    assert.equal(user("root"), undefined);
    assert.notEqual(cli(["db", "password", "--user", "root", "--apply"], "a-pass-123\nb-pass-123\n").status, 0);
    assert.equal(cli(["db", "password", "--user", "root", "--apply"], "root-pass-1\nroot-pass-1\n").status, 0);
    assert.match(user("root")!.passwordHash, /^\$argon2id\$/);
    assert.deepEqual(user("root")!.roles, ["admin"]);
  });

  it("refuses to open the embedded store while another live process holds it, and takes over a stale lock", async () => {
    const holder = spawn("sleep", ["30"]);
    try {
      fs.writeFileSync(path.join(dir, "data", "store.json.lock"), String(holder.pid));
      const refused = cli(["users", "list"]);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, new RegExp(`in use by process ${holder.pid}`));
    } finally {
      holder.kill("SIGKILL");
      await new Promise((r) => holder.once("exit", r));
    }
    assert.equal(cli(["users", "list"]).status, 0);
  });
});
