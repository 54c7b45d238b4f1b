/**
 * Every account change made from the command line is audited (issue #15 item 12): each of
 * `users add|passwd|disable|enable|unlock|import` and `db password --apply` leaves exactly one audit
 * line with `by: "cli"` and the operating-system user, in the log of a gateway running on the same
 * Redis and in the command's own output (the only record on the embedded store).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type CliResult, runCli, tempDir } from "../helpers/cli.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestRedis, type TestRedis } from "../helpers/redis.js";

const show = (r: CliResult) => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
const OS_USER = os.userInfo().username;

/** The audit lines a command wrote on standard error. */
function cliAudits(r: CliResult): Record<string, unknown>[] {
  return r.stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.audit === true);
}

/** One command, the event it must leave, and the fields that line must carry. */
interface Case {
  what: string;
  args: string[];
  input?: string;
  event: string;
  fields: Record<string, unknown>;
}

function cases(dir: string): Case[] {
  const file = path.join(dir, "import.json");
  fs.writeFileSync(file, JSON.stringify([{ name: "dave", password: "dave-password-1", roles: ["user"] }]));
  return [
    { what: "users add", args: ["users", "add", "carol", "--roles", "user,scientists"], input: "carol-password-1\ncarol-password-1\n", event: "account.created", fields: { user: "carol", roles: ["user", "scientists"] } },
    { what: "users passwd", args: ["users", "passwd", "carol"], input: "carol-password-2\ncarol-password-2\n", event: "password.changed", fields: { user: "carol" } },
    { what: "users disable", args: ["users", "disable", "carol"], event: "account.disabled", fields: { user: "carol", reason: "admin" } },
    { what: "users enable", args: ["users", "enable", "carol"], event: "account.enabled", fields: { user: "carol" } },
    { what: "users unlock", args: ["users", "unlock", "carol"], event: "account.unlocked", fields: { user: "carol" } },
    { what: "users import", args: ["users", "import", file], event: "account.created", fields: { user: "dave", reason: "import", hash: "argon2id" } },
    { what: "db password --apply (a new account)", args: ["db", "password", "--user", "root", "--apply"], input: "root-password-1\nroot-password-1\n", event: "account.created", fields: { user: "root", roles: ["admin"], via: "db password" } },
    { what: "db password --apply (an existing account)", args: ["db", "password", "--user", "root", "--apply"], input: "root-password-2\nroot-password-2\n", event: "password.changed", fields: { user: "root", via: "db password" } },
  ];
}

function assertLine(line: Record<string, unknown>, c: Case): void {
  assert.equal(line.audit, true);
  assert.equal(line.event, c.event);
  assert.equal(line.by, "cli");
  assert.equal(line.osUser, OS_USER);
  assert.equal(line.host, os.hostname());
  assert.match(String(line.auditId), /^[0-9a-f-]{36}$/);
  for (const [k, v] of Object.entries(c.fields)) assert.deepEqual(line[k], v, `${c.what}: ${k}`);
}

describe("account changes from the CLI, with a gateway running on the same Redis", () => {
  let redis: TestRedis;
  let gw: TestGateway;
  let dir: string;
  let config: string;

  before(async () => {
    redis = await startTestRedis();
    gw = await startTestGateway({ store: { redis: redis.url } });
    dir = tempDir("portcullis-cli-audit-");
    config = path.join(dir, "portcullis.yaml");
    fs.writeFileSync(config, `store: { redis: ${JSON.stringify(redis.url)} }\n`);
  });
  after(async () => {
    await gw?.close();
    await redis?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Waits (bounded) for the gateway to log an audit line relayed from the CLI after `from`. */
  async function relayed(from: number, auditId: unknown): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + 5_000;
    const lines = () => gw.logs.lines.slice(from).filter((l) => l.audit === true && l.by === "cli");
    while (Date.now() < deadline && !lines().some((l) => l.auditId === auditId)) await new Promise((r) => setTimeout(r, 20));
    // Anything else the command announced would have arrived by now as well.
    await new Promise((r) => setTimeout(r, 200));
    return lines();
  }

  it("each command leaves exactly one audit line with by: \"cli\" in the gateway's log, the same as the command's own", { timeout: 120_000 }, async () => {
    for (const c of cases(dir)) {
      const from = gw.logs.lines.length;
      const r = runCli([...c.args, "-c", config], { cwd: dir, input: c.input ?? "" });
      assert.equal(r.status, 0, `${c.what}: ${show(r)}`);
      const own = cliAudits(r);
      assert.equal(own.length, 1, `${c.what} printed ${own.length} audit lines:\n${show(r)}`);
      assertLine(own[0]!, c);
      const seen = await relayed(from, own[0]!.auditId);
      assert.equal(seen.length, 1, `${c.what}: the gateway logged ${seen.length} relayed audit lines`);
      assertLine(seen[0]!, c);
      assert.equal(seen[0]!.auditId, own[0]!.auditId);
      assert.equal(seen[0]!.pid, process.pid, "the line was not written by the gateway");
    }
  });

  it("says how many sessions a disable ended, naming the user", { timeout: 60_000 }, async () => {
    const login = await gw.https("/gateway/login", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ username: "carol", password: "carol-password-2" }),
    });
    assert.equal(login.status, 200, login.body);
    const from = gw.logs.lines.length;
    const r = runCli(["users", "disable", "carol", "-c", config], { cwd: dir });
    assert.equal(r.status, 0, show(r));
    const [own] = cliAudits(r);
    assert.equal(own?.sessionsEnded, 1);
    assert.equal(own?.user, "carol");
    const [seen] = await relayed(from, own!.auditId);
    assert.equal(seen?.sessionsEnded, 1);
  });

  it("leaves no audit line for a refused command or for users list", () => {
    for (const args of [["users", "disable", "nobody"], ["users", "list"], ["users", "add", "carol"]]) {
      const r = runCli([...args, "-c", config], { cwd: dir, input: "x-password-1\nx-password-1\n" });
      assert.equal(cliAudits(r).length, 0, `${args.join(" ")}:\n${show(r)}`);
    }
  });

  it("logs nothing for a malformed message on the audit channel, only that one was dropped", async () => {
    const from = gw.logs.lines.length;
    await gw.gateway.store.publish("cli-audit", JSON.stringify({ event: "Not An Event", fields: { user: "x" } }));
    await gw.gateway.store.publish("cli-audit", "not json");
    await gw.gateway.store.publish("cli-audit", JSON.stringify({ event: "account.enabled", fields: { user: "x", audit: false, event: "other" } }));
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && !gw.logs.lines.slice(from).some((l) => l.event === "account.enabled")) await new Promise((r) => setTimeout(r, 20));
    const lines = gw.logs.lines.slice(from);
    assert.equal(lines.filter((l) => l.msg === "an audit message that is not the CLI's was dropped").length, 2);
    const relayedLines = lines.filter((l) => l.audit === true);
    assert.equal(relayedLines.length, 1);
    assert.equal(relayedLines[0]!.event, "account.enabled", "a relayed field replaced the event name");
    assert.equal(relayedLines[0]!.by, "cli");
  });
});

describe("account changes from the CLI on the embedded store", () => {
  let dir: string;
  let config: string;
  before(() => {
    dir = tempDir("portcullis-cli-audit-embedded-");
    config = path.join(dir, "portcullis.yaml");
    fs.writeFileSync(config, `store: { dataDir: ${JSON.stringify(path.join(dir, "data"))} }\n`);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("each command prints exactly one audit line with by: \"cli\" and the OS user, with its usual output", { timeout: 120_000 }, () => {
    for (const c of cases(dir)) {
      const r = runCli([...c.args, "-c", config], { cwd: dir, input: c.input ?? "" });
      assert.equal(r.status, 0, `${c.what}: ${show(r)}`);
      const own = cliAudits(r);
      assert.equal(own.length, 1, `${c.what} printed ${own.length} audit lines:\n${show(r)}`);
      assertLine(own[0]!, c);
      assert.doesNotMatch(r.stdout, /"audit"/, "audit lines belong on standard error, beside the command's output");
    }
  });
});
