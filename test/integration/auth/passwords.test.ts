/**
 * Local passwords (SPEC §4, §6.3): legacy OMERO/XNAT hashes migrate to argon2id at the first login,
 * requireSaltedPasswords, expiry, complexity and reuse lead to the change-password page instead of a
 * session, and POST /gateway/password applies the same rules.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { schemeOf } from "../../../src/auth/passwords/hash.js";
import { startTestGateway, type TestGateway, type TestResponse } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { DAY, audits, formLogin, login, tryLogin } from "../../helpers/auth.js";

const omeroHash = (pw: string) => createHash("md5").update(pw, "utf8").digest("base64");
const xnatHash = (pw: string) => createHash("sha256").update(pw, "utf8").digest("hex");
const xnatSalted = (pw: string, salt: string) => `${createHash("sha256").update(`${pw}{${salt}}`, "utf8").digest("hex")}{${salt}}`;

function changePassword(gw: TestGateway, username: string, password: string, newPassword: string): Promise<TestResponse> {
  return gw.https("/gateway/password", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ username, password, newPassword }),
  });
}

describe("legacy password hashes", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" } }, { clock: new ManualClock() });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const cases: [string, string, string, string][] = [
    ["an OMERO base64(md5) hash", "omero1", omeroHash("omero-secret-1"), "argon2id-omero-md5"],
    ["an OMERO hash with its omero-md5: prefix", "omero2", `omero-md5:${omeroHash("omero-secret-2")}`, "argon2id-omero-md5"],
    ["an XNAT hex sha256 hash", "xnat1", xnatHash("xnat-secret-1"), "argon2id-xnat-sha256"],
    ["an XNAT sha256 hash with its xnat-sha256: prefix", "xnat2", `xnat-sha256:${xnatHash("xnat-secret-2")}`, "argon2id-xnat-sha256"],
    ["an XNAT salted sha256 hash", "xnat3", xnatSalted("xnat-secret-3", "NaCl42"), "argon2id-xnat-sha256-salted"],
  ];
  const passwords: Record<string, string> = { omero1: "omero-secret-1", omero2: "omero-secret-2", xnat1: "xnat-secret-1", xnat2: "xnat-secret-2", xnat3: "xnat-secret-3" };

  for (const [what, name, hash, wrapped] of cases) {
    it(`stores ${what} wrapped in argon2id, logs in with it and replaces it by a plain argon2id hash after the first successful login`, async () => {
      await gw.gateway.accounts.add({ name, passwordHash: hash, roles: ["user"] });
      const stored = (await gw.gateway.accounts.get(name))!.passwordHash;
      assert.equal(schemeOf(stored), wrapped, stored);
      assert.ok(!stored.includes(hash.replace(/^[a-z0-9-]+:/, "").replace(/\{.*\}$/, "")), "the bare legacy digest is in the store");
      assert.equal((await tryLogin(gw, name, `${passwords[name]}x`)).res.status, 401, "a wrong password matched the legacy hash");
      assert.equal((await gw.gateway.accounts.get(name))!.passwordHash, stored, "a failed login replaced the hash");
      await login(gw, name, passwords[name]!);
      const replaced = (await gw.gateway.accounts.get(name))!.passwordHash;
      assert.ok(replaced.startsWith("$argon2id$"), `the hash was not replaced: ${replaced}`);
      await login(gw, name, passwords[name]!);
      assert.equal((await tryLogin(gw, name, "wrong-password")).res.status, 401);
    });
  }

  it("does not accept the hash itself as a password", async () => {
    const hash = omeroHash("omero-secret-9");
    await gw.gateway.accounts.add({ name: "omero9", passwordHash: hash, roles: ["user"] });
    assert.equal((await tryLogin(gw, "omero9", hash)).res.status, 401);
  });
});

describe("requireSaltedPasswords", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, site: { requireSaltedPasswords: true } }, { clock: new ManualClock() });
    await gw.gateway.accounts.add({ name: "md5user", passwordHash: omeroHash("md5-secret-1"), roles: ["user"] });
    await gw.gateway.accounts.add({ name: "shauser", passwordHash: xnatHash("sha-secret-1"), roles: ["user"] });
    await gw.gateway.accounts.add({ name: "saltuser", passwordHash: xnatSalted("salt-secret-1", "pepper"), roles: ["user"] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("answers a JSON login of an unsalted legacy account with 403 ERR_PASSWORD_CHANGE_REQUIRED and no session", async () => {
    for (const [name, pw] of [["md5user", "md5-secret-1"], ["shauser", "sha-secret-1"]] as const) {
      const out = await tryLogin(gw, name, pw);
      assert.equal(out.res.status, 403, out.res.body);
      assert.equal(out.res.json<{ error: string }>().error, "ERR_PASSWORD_CHANGE_REQUIRED");
      assert.equal(out.cookie, "");
    }
  });

  it("serves the change-password form instead of a session to a form login of an unsalted account", async () => {
    const out = await formLogin(gw, { username: "md5user", password: "md5-secret-1", returnTo: "/app" });
    assert.equal(out.setCookie, "");
    assert.notEqual(out.res.status, 303);
    assert.match(out.res.body, /<form[^>]*action="\/gateway\/password"/);
    assert.match(out.res.body, /name="newPassword"/);
  });

  it("logs in a salted legacy account as usual", async () => {
    await login(gw, "saltuser", "salt-secret-1");
    assert.ok((await gw.gateway.accounts.get("saltuser"))!.passwordHash.startsWith("$argon2id$"));
  });

  it("lets the unsalted account log in after choosing a new password", async () => {
    const res = await changePassword(gw, "md5user", "md5-secret-1", "md5-new-secret-2");
    assert.equal(res.status, 200, res.body);
    assert.ok((await gw.gateway.accounts.get("md5user"))!.passwordHash.startsWith("$argon2id$"));
    await login(gw, "md5user", "md5-new-secret-2");
    assert.equal((await tryLogin(gw, "md5user", "md5-secret-1")).res.status, 401);
  });
});

describe("password expiry, complexity and reuse", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  const MESSAGE = "Use at least 8 characters including a digit.";
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      {
        upstream: { url: upstream.url },
        access: { defaultPolicy: "authenticated" },
        site: {
          passwordExpirationType: "interval",
          passwordExpirationInterval: "30 days",
          passwordComplexity: "^(?=.*\\d).{8,}$",
          passwordComplexityMessage: MESSAGE,
          passwordReuseRestriction: "historical",
          passwordHistoryDuration: "1 year",
        },
      },
      { clock },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("requires a change when the password was changed 31 days ago with a 30-day interval", async () => {
    await gw.gateway.accounts.add({ name: "old", password: "old-secret-1", roles: ["user"] });
    clock.advance(29 * DAY);
    await login(gw, "old", "old-secret-1");
    clock.advance(2 * DAY);
    const from = gw.logs.lines.length;
    const out = await tryLogin(gw, "old", "old-secret-1");
    assert.equal(out.res.status, 403, out.res.body);
    assert.equal(out.res.json<{ error: string }>().error, "ERR_PASSWORD_CHANGE_REQUIRED");
    assert.equal(out.cookie, "");
    assert.equal(audits(gw, "login.password-change-required", from).length, 1);
    const form = await formLogin(gw, { username: "old", password: "old-secret-1" });
    assert.equal(form.setCookie, "");
    assert.match(form.res.body, /action="\/gateway\/password"/);
    assert.equal((await changePassword(gw, "old", "old-secret-1", "new-secret-2")).status, 200);
    await login(gw, "old", "new-secret-2");
  });

  it("requires a change when the current password no longer meets passwordComplexity", async () => {
    await gw.gateway.accounts.add({ name: "weak", password: "weakpassword", roles: ["user"] });
    const out = await tryLogin(gw, "weak", "weakpassword");
    assert.equal(out.res.status, 403, out.res.body);
    assert.equal(out.cookie, "");
    assert.equal(out.res.json<{ message: string }>().message, MESSAGE);
  });

  it("refuses a weak new password at POST /gateway/password with 400 and passwordComplexityMessage", async () => {
    await gw.gateway.accounts.add({ name: "weak2", password: "weakpassword", roles: ["user"] });
    for (const next of ["stillweak", "short1"]) {
      const res = await changePassword(gw, "weak2", "weakpassword", next);
      assert.equal(res.status, 400, res.body);
      assert.equal(res.json<{ message: string }>().message, MESSAGE);
    }
    assert.equal((await changePassword(gw, "weak2", "weakpassword", "better-pass-1")).status, 200);
    await login(gw, "weak2", "better-pass-1");
    assert.equal((await tryLogin(gw, "weak2", "weakpassword")).res.status, 401);
  });

  it("refuses the wrong current password at POST /gateway/password with 401 and counts it", async () => {
    await gw.gateway.accounts.add({ name: "guess", password: "guess-secret-1", roles: ["user"] });
    const res = await changePassword(gw, "guess", "not-the-one-1", "another-pass-2");
    assert.equal(res.status, 401);
    assert.equal((await gw.gateway.store.getLoginFailures("guess")).failures, 1);
    await login(gw, "guess", "guess-secret-1");
  });

  it("refuses the current password and a recent one as the new password (historical reuse restriction)", async () => {
    await gw.gateway.accounts.add({ name: "reuse", password: "reuse-secret-1", roles: ["user"] });
    const same = await changePassword(gw, "reuse", "reuse-secret-1", "reuse-secret-1");
    assert.equal(same.status, 400, same.body);
    assert.equal(same.json<{ error: string }>().error, "ERR_PASSWORD_REUSED");
    clock.advance(DAY);
    assert.equal((await changePassword(gw, "reuse", "reuse-secret-1", "reuse-secret-2")).status, 200);
    clock.advance(DAY);
    const back = await changePassword(gw, "reuse", "reuse-secret-2", "reuse-secret-1");
    assert.equal(back.status, 400, back.body);
    assert.equal(back.json<{ error: string }>().error, "ERR_PASSWORD_REUSED");
    await login(gw, "reuse", "reuse-secret-2");
  });

  it("refuses a password that was in use until just now even though it was first set longer ago than passwordHistoryDuration", async () => {
    await gw.gateway.accounts.add({ name: "longuse", password: "longuse-secret-1", roles: ["user"] });
    clock.advance(400 * DAY); // the password stays in use for more than a year
    assert.equal((await changePassword(gw, "longuse", "longuse-secret-1", "longuse-secret-2")).status, 200);
    clock.advance(DAY);
    const back = await changePassword(gw, "longuse", "longuse-secret-2", "longuse-secret-1");
    assert.equal(back.status, 400, `a password used until yesterday was accepted again: ${back.body}`);
  });

  it("accepts an old password again once it has been out of use for longer than passwordHistoryDuration", async () => {
    await gw.gateway.accounts.add({ name: "longago", password: "longago-secret-1", roles: ["user"] });
    assert.equal((await changePassword(gw, "longago", "longago-secret-1", "longago-secret-2")).status, 200);
    clock.advance(20 * DAY);
    assert.equal((await changePassword(gw, "longago", "longago-secret-2", "longago-secret-3")).status, 200);
    clock.advance(400 * DAY);
    const back = await changePassword(gw, "longago", "longago-secret-3", "longago-secret-1");
    assert.equal(back.status, 200, back.body);
  });
});
