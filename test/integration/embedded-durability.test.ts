/**
 * The embedded store keeps what the gateway confirmed (issue #15, item 14): a gateway PROCESS with the
 * embedded store is killed with SIGKILL right after it answers, then started again on the same data
 * directory. Whatever it answered must still hold: a changed password, a lock. And a store.json that
 * cannot be read stops `serve` with an error naming the file instead of starting empty.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { waitForExit } from "../helpers/cli.js";
import { makePki, type TestPki } from "../helpers/certs.js";
import { type HttpsAnswer, type ProcessGateway, runCliCommand, startProcessGateway, writeProcessConfig } from "../helpers/process-gateway.js";

const OLD_PASSWORD = "admin-password-1";
const NEW_PASSWORD = "a-new-Passw0rd-for-admin";

function login(gw: ProcessGateway, username: string, password: string): Promise<HttpsAnswer> {
  return gw.https("/gateway/login", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ username, password }),
  });
}

/** SIGKILL, at once: no shutdown hook, no final write. */
async function killNow(gw: ProcessGateway): Promise<void> {
  gw.child.kill("SIGKILL");
  const end = await waitForExit(gw.child, 5_000);
  assert.equal(end.signal, "SIGKILL");
}

describe("the embedded store across a kill -9", { timeout: 120_000 }, () => {
  let pki: TestPki;
  const dirs: string[] = [];
  const running: ProcessGateway[] = [];
  before(() => {
    pki = makePki();
  });
  after(async () => {
    for (const gw of running) await gw.stop(2_000);
    for (const gw of running) fs.rmSync(gw.dir, { recursive: true, force: true });
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    pki.cleanup();
  });

  function dataDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-durable-"));
    dirs.push(dir);
    return path.join(dir, "data");
  }

  async function start(name: string, data: string, settings: Record<string, unknown> = {}, firstRun = false): Promise<ProcessGateway> {
    const gw = await startProcessGateway({ name, pki, settings: { ...settings, store: { dataDir: data } }, adminPassword: firstRun ? OLD_PASSWORD : false });
    running.push(gw);
    return gw;
  }

  it("keeps a password change answered just before the process was killed", async () => {
    const data = dataDir();
    const first = await start("first", data, {}, true);
    const before = await login(first, "admin", OLD_PASSWORD);
    assert.equal(before.status, 200, before.body);
    const cookie = String(before.headers["set-cookie"]).split(";")[0]!;

    const change = await first.https("/gateway/password", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ username: "admin", password: OLD_PASSWORD, newPassword: NEW_PASSWORD }),
    });
    assert.equal(change.status, 200, change.body);
    assert.deepEqual(change.json(), { changed: true });
    await killNow(first);

    const second = await start("second", data);
    assert.equal((await login(second, "admin", OLD_PASSWORD)).status, 401, "the old password works again after the restart");
    assert.equal((await login(second, "admin", NEW_PASSWORD)).status, 200, "the new password does not work after the restart");
    const old = await second.https("/gateway/session", { headers: { cookie, accept: "application/json" } });
    assert.equal(old.status, 401, "the session the password change ended is back");
  });

  it("keeps a lockout reached just before the process was killed", async () => {
    const data = dataDir();
    const settings = { site: { maxFailedLogins: 3 } };
    const first = await start("lock-first", data, settings, true);
    for (let i = 0; i < 3; i++) assert.equal((await login(first, "admin", `wrong-password-${i}`)).status, 401);
    await killNow(first);

    const second = await start("lock-second", data, settings);
    assert.equal((await login(second, "admin", OLD_PASSWORD)).status, 401, "the lock was lost: the right password let the account in");
    const audited = await second.waitForLog((l) => l.event === "login.failed" && l.user === "admin" && l.reason === "locked");
    assert.ok(audited, "the refusal was not audited as a lock");
  });
});

describe("a store.json that cannot be read", { timeout: 60_000 }, () => {
  let pki: TestPki;
  before(() => {
    pki = makePki();
  });
  after(() => pki.cleanup());

  it("stops serve with an error naming the file, and leaves the file as it was", async () => {
    const { dir, configFile } = await writeProcessConfig(pki, {}, "corrupt");
    try {
      const data = path.join(dir, "data");
      fs.mkdirSync(data, { recursive: true });
      const file = path.join(data, "store.json");
      const corrupt = '{"version":1,"sessions":[],"failures":{},"records":{"user":{"admin":{"name":"adm';
      fs.writeFileSync(file, corrupt);
      const run = await runCliCommand(["serve", "--config", configFile], { cwd: dir, env: { PORTCULLIS_ADMIN_PASSWORD: OLD_PASSWORD }, timeoutMs: 20_000 });
      assert.notEqual(run.code, 0, `serve started on a corrupt store:\n${run.stdout}\n${run.stderr}`);
      assert.ok(run.stderr.includes(file), `the error does not name ${file}:\n${run.stderr}`);
      assert.match(run.stderr, /is not valid JSON/);
      assert.doesNotMatch(run.stderr, /^\s+at /m, "a stack trace instead of a message");
      assert.equal(fs.readFileSync(file, "utf8"), corrupt, "the corrupt file was overwritten");
      assert.equal(fs.existsSync(`${file}.lock`), false, "the lock was left behind");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
