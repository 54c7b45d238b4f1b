/**
 * Forgot / reset password (SPEC §6.3, README "Forgot password"): POST /gateway/password/forgot
 * answers the same at once for every name and only then mails a single-use, one-hour link to an
 * enabled local account with an email address, built from publicUrl (never from the request's Host).
 * Mail goes to a real SMTP peer (smtp-server) or, without mail.smtp, to `.eml` files in the outbox.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { createEmbeddedStore } from "../../../src/store/embedded/embedded-store.js";
import type { Store } from "../../../src/store/store.js";
import { FORGOT_ANSWER } from "../../../src/web/password-reset-routes.js";
import { makePki } from "../../helpers/certs.js";
import { startTestGateway, type TestGateway, type TestResponse } from "../../helpers/gateway.js";
import { parseMail, startTestSmtp, type TestSmtp } from "../../helpers/smtp.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, BROWSER, HOUR, MINUTE, audits, failureReasons, login, ownOrigin, tryLogin } from "../../helpers/auth.js";

const pki = makePki();
after(() => pki.cleanup());

const PUBLIC_URL = "https://portal.example.org:8443";
const FROM = "portcullis@example.org";
const COMPLEXITY_MESSAGE = "Use at least 8 characters including a digit.";
const LINK = /https:\/\/[^\s"<>]+\/password\/reset\?token=[A-Za-z0-9_-]+/;
const JSON_HEADERS = { "content-type": "application/json", accept: "application/json" } as const;
const FORM_HEADERS = { "content-type": "application/x-www-form-urlencoded", ...BROWSER } as const;

const emailOf = (user: string) => `${user}@example.org`;
const sha256 = (token: string) => createHash("sha256").update(token).digest("base64url");

/** Polls the log lines (bounded) until one matches; the mail work runs after the HTTP answer. */
async function waitForLine(gw: TestGateway, match: (l: Record<string, unknown>) => boolean, what: string, from = 0, timeoutMs = 5_000): Promise<Record<string, unknown>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = gw.logs.lines.slice(from).find(match);
    if (found) return found;
    if (Date.now() > end) assert.fail(`no log line for ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The `password.reset-requested` audit line for `user` logged after `from`. */
function requested(gw: TestGateway, user: string, from: number): Promise<Record<string, unknown>> {
  return waitForLine(gw, (l) => l.audit === true && l.event === "password.reset-requested" && l.user === user, `password.reset-requested of ${JSON.stringify(user)}`, from);
}

function forgot(gw: TestGateway, username: string, headers: Record<string, string> = {}, json = true): Promise<TestResponse> {
  return gw.https("/gateway/password/forgot", json
    ? { method: "POST", headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify({ username }) }
    : { method: "POST", headers: { ...FORM_HEADERS, ...headers }, body: new URLSearchParams({ username }).toString() });
}

function resetJson(gw: TestGateway, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<TestResponse> {
  return gw.https("/gateway/password/reset", { method: "POST", headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) });
}

function errorOf(res: TestResponse): string {
  return res.json<{ error: string }>().error;
}

function linkIn(text: string): { link: string; token: string; pathAndQuery: string } {
  const m = LINK.exec(text);
  assert.ok(m, `no reset link in the message:\n${text}`);
  const url = new URL(m[0]);
  const token = url.searchParams.get("token")!;
  return { link: m[0], token, pathAndQuery: url.pathname + url.search };
}

/** Asks for a link for `user` and returns it from the one mail that must arrive at the user's address. */
async function requestLink(gw: TestGateway, smtp: TestSmtp, user: string, headers: Record<string, string> = {}) {
  const fromMail = smtp.messages.length;
  const fromLog = gw.logs.lines.length;
  const res = await forgot(gw, user, headers);
  assert.equal(res.status, 200, res.body);
  const line = await requested(gw, user, fromLog);
  assert.equal(line.sent, true, `no mail was sent: ${JSON.stringify(line)}`);
  const mails = (await smtp.waitFor(fromMail + 1)).slice(fromMail).filter((m) => m.to.includes(emailOf(user)));
  assert.equal(mails.length, 1, `expected one mail to ${emailOf(user)}`);
  return { mail: mails[0]!, ...linkIn(mails[0]!.text) };
}

function changePassword(gw: TestGateway, username: string, password: string, newPassword: string): Promise<TestResponse> {
  return gw.https("/gateway/password", { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ username, password, newPassword }) });
}

describe("forgot and reset password over SMTP", () => {
  let upstream: TestUpstream;
  let smtp: TestSmtp;
  let gw: TestGateway;
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 9, 0, 0));
  /** Every token mailed in this block, to check that none reaches the log. */
  const tokens: string[] = [];

  /** A fresh local account with an email address; its password meets the complexity rule. */
  async function user(name: string, withEmail = true): Promise<string> {
    const password = `${name}-Password-1`;
    await gw.gateway.accounts.add({ name, password, roles: ["user"], email: withEmail ? emailOf(name) : undefined });
    return password;
  }
  const link = async (name: string, headers: Record<string, string> = {}) => {
    const l = await requestLink(gw, smtp, name, headers);
    tokens.push(l.token);
    return l;
  };

  before(async () => {
    upstream = await startTestUpstream();
    smtp = await startTestSmtp();
    gw = await startTestGateway(
      {
        upstream: { url: upstream.url },
        access: { defaultPolicy: "authenticated" },
        publicUrl: PUBLIC_URL,
        mail: { smtp: smtp.url, from: FROM, adminEmail: "root@example.org" },
        site: {
          maxFailedLogins: 3,
          maxFailedLoginsLockoutDuration: "1 hour",
          passwordComplexity: "^(?=.*\\d).{8,}$",
          passwordComplexityMessage: COMPLEXITY_MESSAGE,
          passwordReuseRestriction: "historical",
          passwordHistoryDuration: "1 year",
        },
      },
      { clock, pki },
    );
  });
  after(async () => {
    await gw.close();
    await smtp.close();
    await upstream.close();
  });

  it("links the login page to the forgot page, which shows a form posting to /gateway/password/forgot", async () => {
    const loginPage = await gw.https("/gateway/login", { headers: BROWSER });
    assert.match(loginPage.body, /href="\/gateway\/password\/forgot"/);
    const page = await gw.https("/gateway/password/forgot", { headers: BROWSER });
    assert.equal(page.status, 200);
    assert.match(page.body, /<form method="post" action="\/gateway\/password\/forgot">/);
    assert.match(page.body, /name="username"/);
  });

  it("mails exactly one link to the account's address, built from publicUrl and not from a hostile Host header", async () => {
    await user("alice");
    const fromMail = smtp.messages.length;
    const fromLog = gw.logs.lines.length;
    const res = await forgot(gw, "alice", { host: "evil.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "http" });
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.json(), { message: FORGOT_ANSWER });
    const line = await requested(gw, "alice", fromLog);
    assert.equal(line.sent, true);
    const mails = (await smtp.waitFor(fromMail + 1)).slice(fromMail);
    assert.equal((await smtp.settle(fromMail, 200)).length, 1, "more than one mail was sent");
    const mail = mails[0]!;
    assert.deepEqual(mail.to, [emailOf("alice")]);
    assert.equal(mail.from, FROM);
    assert.equal(mail.subject, "Reset your password");
    const { link: url, token } = linkIn(mail.text);
    tokens.push(token);
    assert.ok(url.startsWith(`${PUBLIC_URL}/gateway/password/reset?token=`), `the link is ${url}`);
    assert.doesNotMatch(mail.raw, /evil\.example/i, "the hostile Host header reached the mail");
    assert.match(token, /^[A-Za-z0-9_-]{43}$/, "the token is not 256 bits in base64url");
    assert.match(mail.text, /alice/);
    // The store keeps the token's SHA-256 only.
    const records = await gw.gateway.store.listRecords<{ id: string; user: string; expiresAt: number }>("password-reset");
    const mine = records.filter((r) => r.user === "alice");
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.id, sha256(token));
    assert.equal(mine[0]!.expiresAt, clock.now() + HOUR);
    assert.ok(!JSON.stringify(records).includes(token), "the store holds the token itself");
  });

  it("answers before the mail is handed over (the SMTP peer is held until the answer has arrived)", async () => {
    await user("held");
    const fromMail = smtp.messages.length;
    const release = smtp.hold();
    try {
      const answer = await Promise.race([forgot(gw, "held"), new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 3_000))]);
      assert.notEqual(answer, "timeout", "the answer waited for the mail");
      assert.equal((answer as TestResponse).status, 200);
      assert.equal(smtp.messages.length, fromMail, "the mail was delivered before the answer (the peer was held)");
    } finally {
      release();
    }
    const mails = (await smtp.waitFor(fromMail + 1)).slice(fromMail);
    assert.deepEqual(mails[0]!.to, [emailOf("held")]);
    tokens.push(linkIn(mails[0]!.text).token);
  });

  it("answers an unknown name, a disabled account, an account without email and directory-looking names exactly like a real account, and mails none of them", async () => {
    await user("known");
    await user("dora");
    await gw.gateway.accounts.setEnabled("dora", false);
    await user("noemail", false);
    const cases: [string, string][] = [
      ["nobody-here", "no-account"],
      ["dora", "disabled"],
      ["noemail", "no-email"],
      ["cn=admin,ou=people,dc=example,dc=org", "no-account"],
      ["uid=known,ou=people,dc=example,dc=org", "no-account"],
      ["../../etc/passwd", "no-account"],
      ["known/..", "no-account"],
      ["KNOWN", "no-account"],
    ];
    for (const json of [true, false]) {
      clock.advance(2 * MINUTE); // past the per-account mail interval of the previous round
      const fromMail = smtp.messages.length;
      const fromLog = gw.logs.lines.length;
      const reference = await forgot(gw, "known", {}, json);
      assert.equal(reference.status, 200, reference.body);
      if (json) assert.deepEqual(reference.json(), { message: FORGOT_ANSWER });
      else assert.ok(reference.body.includes(FORGOT_ANSWER.replace(/'/g, "&#39;")), reference.body);
      assert.equal((await requested(gw, "known", fromLog)).sent, true);
      tokens.push(linkIn((await smtp.waitFor(fromMail + 1))[fromMail]!.text).token);
      for (const [name, reason] of cases) {
        const res = await forgot(gw, name, {}, json);
        assert.equal(res.status, reference.status, `${name}: ${res.body}`);
        assert.equal(res.headers["content-type"], reference.headers["content-type"], name);
        assert.equal(res.body, reference.body, `the answer for ${name} differs from the answer for a real account`);
        const line = await requested(gw, name, fromLog);
        assert.equal(line.sent, false, name);
        assert.equal(line.reason, reason, name);
      }
      const mails = smtp.messages.slice(fromMail);
      assert.deepEqual(mails.map((m) => m.to), [[emailOf("known")]], "a mail went to an account that should get none");
    }
    const strayLinks = (await gw.gateway.store.listRecords<{ user: string }>("password-reset")).filter((r) => r.user !== "known" && cases.some(([n]) => n === r.user));
    assert.deepEqual(strayLinks, [], "a link was stored for an account that gets no mail");
  });

  it("resets through the link: the page shows the form, the new password works, the old password and the user's sessions do not", async () => {
    const old = await user("bob");
    const s1 = await login(gw, "bob", old);
    const s2 = await login(gw, "bob", old);
    const { token, pathAndQuery } = await link("bob");
    const page = await gw.https(pathAndQuery, { headers: BROWSER });
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /<form method="post" action="\/gateway\/password\/reset">/);
    assert.ok(page.body.includes(`name="token" value="${token}"`), "the form does not carry the token");
    assert.match(page.body, /name="newPassword"/);
    assert.match(page.body, /name="confirmPassword"/);
    assert.match(page.body, /for bob/);
    const fromLog = gw.logs.lines.length;
    const res = await gw.https("/gateway/password/reset", {
      method: "POST",
      headers: { ...FORM_HEADERS, origin: ownOrigin(gw) },
      body: new URLSearchParams({ token, username: "bob", newPassword: "bob-New-Password-2", confirmPassword: "bob-New-Password-2" }).toString(),
    });
    assert.equal(res.status, 303, res.body);
    assert.equal(res.headers.location, "/gateway/login?changed=1");
    assert.equal(res.headers["set-cookie"], undefined, "a reset must not sign the user in");
    const changed = await gw.https("/gateway/login?changed=1", { headers: BROWSER });
    assert.match(changed.body, /Your password has been changed/);
    const resets = audits(gw, "password.reset", fromLog);
    assert.equal(resets.length, 1);
    assert.equal(resets[0]!.user, "bob");
    for (const s of [s1, s2]) assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: s.cookie } })).status, 401, "an old session survived the reset");
    assert.equal((await tryLogin(gw, "bob", old)).res.status, 401, "the old password still logs in");
    await login(gw, "bob", "bob-New-Password-2");
  });

  it("answers a JSON reset with {reset:true,user}, and a link works only once", async () => {
    await user("carol");
    const { token, pathAndQuery } = await link("carol");
    const first = await resetJson(gw, { token, newPassword: "carol-New-Password-2", confirmPassword: "carol-New-Password-2" });
    assert.equal(first.status, 200, first.body);
    assert.deepEqual(first.json(), { reset: true, user: "carol" });
    const second = await resetJson(gw, { token, newPassword: "carol-Other-Password-3" });
    assert.equal(second.status, 400, second.body);
    assert.equal(errorOf(second), "ERR_RESET_LINK");
    const page = await gw.https(pathAndQuery, { headers: BROWSER });
    assert.equal(page.status, 400);
    assert.doesNotMatch(page.body, /name="newPassword"/, "a spent link still shows the form");
    assert.match(page.body, /href="\/gateway\/password\/forgot"/);
    assert.equal((await tryLogin(gw, "carol", "carol-Other-Password-3")).res.status, 401, "the second use changed the password");
    await login(gw, "carol", "carol-New-Password-2");
  });

  it("accepts a link 59 minutes after it was mailed", async () => {
    await user("dave");
    const { token, pathAndQuery } = await link("dave");
    clock.advance(59 * MINUTE);
    assert.equal((await gw.https(pathAndQuery, { headers: BROWSER })).status, 200);
    const res = await resetJson(gw, { token, newPassword: "dave-New-Password-2" });
    assert.equal(res.status, 200, res.body);
    await login(gw, "dave", "dave-New-Password-2");
  });

  it("refuses a link 61 minutes after it was mailed, and the password stays", async () => {
    const old = await user("erin");
    const { token, pathAndQuery } = await link("erin");
    clock.advance(61 * MINUTE);
    const page = await gw.https(pathAndQuery, { headers: BROWSER });
    assert.equal(page.status, 400);
    assert.doesNotMatch(page.body, /name="newPassword"/);
    const res = await resetJson(gw, { token, newPassword: "erin-New-Password-2" });
    assert.equal(res.status, 400, res.body);
    assert.equal(errorOf(res), "ERR_RESET_LINK");
    await login(gw, "erin", old);
    assert.equal((await tryLogin(gw, "erin", "erin-New-Password-2")).res.status, 401);
  });

  it("keeps the link usable after a refused password (complexity, reuse, mismatch, empty)", async () => {
    const old = await user("frank");
    const { token, pathAndQuery } = await link("frank");
    const weak = await resetJson(gw, { token, newPassword: "weakpassword", confirmPassword: "weakpassword" });
    assert.equal(weak.status, 400, weak.body);
    assert.deepEqual(weak.json(), { error: "ERR_PASSWORD_COMPLEXITY", message: COMPLEXITY_MESSAGE });
    const reused = await resetJson(gw, { token, newPassword: old });
    assert.equal(reused.status, 400, reused.body);
    assert.equal(errorOf(reused), "ERR_PASSWORD_REUSED");
    const mismatch = await resetJson(gw, { token, newPassword: "frank-New-Password-2", confirmPassword: "frank-New-Password-3" });
    assert.equal(mismatch.status, 400, mismatch.body);
    assert.equal(errorOf(mismatch), "ERR_PASSWORD_MISMATCH");
    const empty = await resetJson(gw, { token });
    assert.equal(empty.status, 400, empty.body);
    assert.equal(errorOf(empty), "ERR_PASSWORD_EMPTY");
    // A refused form keeps the form (with the token) so that the user can correct it.
    const form = await gw.https("/gateway/password/reset", { method: "POST", headers: FORM_HEADERS, body: new URLSearchParams({ token, newPassword: "short1", confirmPassword: "short1" }).toString() });
    assert.equal(form.status, 400);
    assert.ok(form.body.includes(`name="token" value="${token}"`), "the refused form lost the token");
    assert.ok(form.body.includes(COMPLEXITY_MESSAGE));
    await login(gw, "frank", old);
    assert.equal((await gw.https(pathAndQuery, { headers: BROWSER })).status, 200, "a refused password spent the link");
    const ok = await resetJson(gw, { token, newPassword: "frank-New-Password-2", confirmPassword: "frank-New-Password-2" });
    assert.equal(ok.status, 200, ok.body);
    await login(gw, "frank", "frank-New-Password-2");
  });

  it("voids a link when the password is changed through /gateway/password after it was mailed", async () => {
    const old = await user("gina");
    const { token, pathAndQuery } = await link("gina");
    clock.advance(MINUTE);
    assert.equal((await changePassword(gw, "gina", old, "gina-Changed-Password-2")).status, 200);
    assert.equal((await gw.https(pathAndQuery, { headers: BROWSER })).status, 400, "the link survived a password change");
    const res = await resetJson(gw, { token, newPassword: "gina-Reset-Password-3" });
    assert.equal(res.status, 400, res.body);
    assert.equal(errorOf(res), "ERR_RESET_LINK");
    await login(gw, "gina", "gina-Changed-Password-2");
  });

  it("voids a link when the account is disabled after it was mailed", async () => {
    await user("gus");
    const { token } = await link("gus");
    await gw.gateway.accounts.setEnabled("gus", false);
    const res = await resetJson(gw, { token, newPassword: "gus-Reset-Password-3" });
    assert.equal(res.status, 400, res.body);
    assert.equal(errorOf(res), "ERR_RESET_LINK");
  });

  it("mails an account at most once a minute; 61 seconds later a second link goes, and using it voids the first", async () => {
    await user("hank");
    await user("hilda");
    const first = await link("hank");
    const fromMail = smtp.messages.length;
    const fromLog = gw.logs.lines.length;
    clock.advance(59_000);
    const again = await forgot(gw, "hank");
    assert.equal(again.status, 200);
    assert.deepEqual(again.json(), { message: FORGOT_ANSWER }, "the answer tells that a mail was just sent");
    const line = await requested(gw, "hank", fromLog);
    assert.equal(line.sent, false);
    assert.equal(line.reason, "rate");
    // The limit is per account: someone else still gets a mail at once.
    await link("hilda");
    assert.deepEqual(smtp.messages.slice(fromMail).map((m) => m.to), [[emailOf("hilda")]], "a second mail went to hank within a minute");
    clock.advance(2_000);
    const second = await link("hank");
    assert.notEqual(second.token, first.token);
    const res = await resetJson(gw, { token: second.token, newPassword: "hank-New-Password-2" });
    assert.equal(res.status, 200, res.body);
    const old = await resetJson(gw, { token: first.token, newPassword: "hank-Other-Password-3" });
    assert.equal(old.status, 400, old.body);
    assert.equal(errorOf(old), "ERR_RESET_LINK");
    await login(gw, "hank", "hank-New-Password-2");
  });

  it("lets only the newest link work once a second one is mailed: the first opens no form and resets nothing", async () => {
    await user("hedy");
    const first = await link("hedy");
    clock.advance(61_000);
    const second = await link("hedy");
    const page = await gw.https(first.pathAndQuery, { headers: BROWSER });
    assert.equal(page.status, 400, "the replaced link still opens the reset form");
    assert.match(page.body, /replaced/);
    const old = await resetJson(gw, { token: first.token, newPassword: "hedy-Old-Link-Password-2" });
    assert.equal(old.status, 400, old.body);
    assert.equal(errorOf(old), "ERR_RESET_LINK");
    assert.equal((await tryLogin(gw, "hedy", "hedy-Old-Link-Password-2")).res.status, 401, "the replaced link set a password");
    assert.equal((await gw.https(second.pathAndQuery, { headers: BROWSER })).status, 200);
    const res = await resetJson(gw, { token: second.token, newPassword: "hedy-New-Link-Password-3" });
    assert.equal(res.status, 200, res.body);
    await login(gw, "hedy", "hedy-New-Link-Password-3");
    assert.equal(await gw.gateway.store.getRecord("password-reset", sha256(first.token)), null, "the replaced link's record was kept");
  });

  it("clears the lock of an account locked by maxFailedLogins: the new password logs in at once", async () => {
    clock.advance(HOUR); // a fresh per-IP window
    const old = await user("ivy");
    for (let i = 0; i < 3; i++) assert.equal((await tryLogin(gw, "ivy", `wrong-${i}`)).res.status, 401);
    let from = gw.logs.lines.length;
    assert.equal((await tryLogin(gw, "ivy", old)).res.status, 401);
    assert.deepEqual(failureReasons(gw, "ivy", from), ["locked"]);
    const { token } = await link("ivy");
    from = gw.logs.lines.length;
    const res = await resetJson(gw, { token, newPassword: "ivy-New-Password-2" });
    assert.equal(res.status, 200, res.body);
    const unlocked = audits(gw, "account.unlocked", from);
    assert.equal(unlocked.length, 1);
    assert.equal(unlocked[0]!.user, "ivy");
    assert.equal(unlocked[0]!.by, "password-reset");
    assert.deepEqual(await gw.gateway.store.getLoginFailures("ivy"), { failures: 0, lockedAt: null });
    await login(gw, "ivy", "ivy-New-Password-2");
  });

  it("refuses cross-site POSTs to forgot and reset with 403, mailing and changing nothing", async () => {
    const old = await user("jack");
    for (const headers of [{ origin: "https://evil.example" }, { "sec-fetch-site": "cross-site" }, { origin: "null" }] as Record<string, string>[]) {
      const from = gw.logs.lines.length;
      const res = await forgot(gw, "jack", headers, false);
      assert.equal(res.status, 403, `${JSON.stringify(headers)}: ${res.body}`);
      const refused = audits(gw, "csrf.refused", from);
      assert.equal(refused.length, 1);
      assert.equal(refused[0]!.reason, "login");
      assert.equal(refused[0]!.path, "/gateway/password/forgot");
    }
    // Had a refused request mailed (or taken the per-minute lock), this one would not be sent.
    const { token, pathAndQuery } = await link("jack");
    assert.equal(smtp.messages.filter((m) => m.to.includes(emailOf("jack"))).length, 1);
    for (const headers of [{ origin: "https://evil.example" }, { "sec-fetch-site": "cross-site" }] as Record<string, string>[]) {
      const from = gw.logs.lines.length;
      const res = await gw.https("/gateway/password/reset", {
        method: "POST",
        headers: { ...FORM_HEADERS, ...headers },
        body: new URLSearchParams({ token, newPassword: "jack-Evil-Password-9", confirmPassword: "jack-Evil-Password-9" }).toString(),
      });
      assert.equal(res.status, 403, res.body);
      assert.equal(audits(gw, "csrf.refused", from)[0]?.reason, "login");
    }
    assert.equal((await tryLogin(gw, "jack", "jack-Evil-Password-9")).res.status, 401, "a cross-site POST set the password");
    await login(gw, "jack", old);
    assert.equal((await gw.https(pathAndQuery, { headers: BROWSER })).status, 200, "a cross-site POST spent the link");
  });

  it("does not answer forgot or reset on the plaintext port: it redirects to TLS and mails nothing", async () => {
    await user("kate");
    const from = gw.logs.lines.length;
    const post = await gw.http("/gateway/password/forgot", { method: "POST", headers: FORM_HEADERS, body: "username=kate" });
    assert.ok([301, 302, 307, 308].includes(post.status), `plaintext forgot answered ${post.status}: ${post.body}`);
    // publicUrl is set: redirects name it, never the request's Host (SPEC §5).
    assert.equal(post.headers.location, `${PUBLIC_URL}/gateway/password/forgot`);
    assert.ok(!post.body.includes(FORGOT_ANSWER), "the forgot answer was given in plaintext");
    const page = await gw.http("/gateway/password/reset?token=abc", { headers: BROWSER });
    assert.ok([301, 302, 307, 308].includes(page.status), `plaintext reset page answered ${page.status}`);
    assert.equal(audits(gw, "password.reset-requested", from).length, 0);
    // The plaintext request took no per-minute lock: a TLS request mails at once.
    await link("kate");
  });

  it("refuses hostile input with 4xx and no server error", async () => {
    await user("lena");
    const { token } = await link("lena");
    const bad = [
      "",
      "abc",
      token.slice(0, 42),
      `${token}A`,
      "../../../../etc/passwd",
      `..%2F..%2F${token.slice(6)}`,
      "A".repeat(10_000),
      `${token.slice(0, 40)}%00%00%00`,
      "<script>alert(1)</script>",
    ];
    for (const t of bad) {
      const page = await gw.https(`/gateway/password/reset?token=${t}`, { headers: BROWSER });
      assert.equal(page.status, 400, `GET with token ${t.slice(0, 40)}: ${page.status}`);
      assert.doesNotMatch(page.body, /<script>alert/);
      const post = await resetJson(gw, { token: decodeURIComponent(t), newPassword: "lena-New-Password-2" });
      assert.equal(post.status, 400, `POST with token ${t.slice(0, 40)}: ${post.body}`);
      assert.equal(errorOf(post), "ERR_RESET_LINK");
    }
    // A 43-character token of the right alphabet that was never issued.
    const forged = await resetJson(gw, { token: "A".repeat(43), newPassword: "lena-New-Password-2" });
    assert.equal(errorOf(forged), "ERR_RESET_LINK");
    // The store id itself (the SHA-256) is not a token.
    const byId = await resetJson(gw, { token: sha256(token), newPassword: "lena-New-Password-2" });
    assert.equal(errorOf(byId), "ERR_RESET_LINK");
    // Bodies that are not an object, or fields of the wrong type.
    for (const body of ["[]", JSON.stringify([{ token }]), "\"token\"", "{", "null"]) {
      const res = await gw.https("/gateway/password/reset", { method: "POST", headers: JSON_HEADERS, body });
      assert.equal(res.status, 400, `reset with body ${body}: ${res.status} ${res.body}`);
      const f = await gw.https("/gateway/password/forgot", { method: "POST", headers: JSON_HEADERS, body });
      assert.equal(f.status, 400, `forgot with body ${body}: ${f.status} ${f.body}`);
    }
    for (const body of [{ token: { $ne: "" }, newPassword: "lena-New-Password-2" }, { token: [token], newPassword: "lena-New-Password-2" }, {}, { newPassword: "lena-New-Password-2" }]) {
      const res = await resetJson(gw, body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.body}`);
      assert.equal(errorOf(res), "ERR_RESET_LINK", JSON.stringify(body));
    }
    const noName = await gw.https("/gateway/password/forgot", { method: "POST", headers: JSON_HEADERS, body: "{}" });
    assert.equal(noName.status, 200);
    // An oversized body is refused before it is read in full.
    const huge = await gw.https("/gateway/password/reset", { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ token: "A".repeat(20_000), newPassword: "x" }) });
    assert.equal(huge.status, 413);
    // Markup in the fields of a refused form is escaped, not reflected.
    const xss = await gw.https("/gateway/password/reset", {
      method: "POST",
      headers: FORM_HEADERS,
      body: new URLSearchParams({ token: `"><script>alert(1)</script>`, username: "<img src=x onerror=alert(2)>", newPassword: "a1b2c3d4e5", confirmPassword: "different1" }).toString(),
    });
    assert.equal(xss.status, 400);
    assert.doesNotMatch(xss.body, /<script>alert\(1\)|<img src=x/);
    // None of this spent or broke the real link.
    const ok = await resetJson(gw, { token, newPassword: "lena-New-Password-2" });
    assert.equal(ok.status, 200, ok.body);
    assert.deepEqual(gw.logs.lines.filter((l) => l.level === "error" || l.level === "fatal"), [], "an error was logged");
  });

  it("writes the audit events and never logs a token", async () => {
    await user("mona");
    const { token, pathAndQuery } = await link("mona");
    const from = gw.logs.lines.length;
    assert.equal((await gw.https(pathAndQuery, { headers: BROWSER })).status, 200);
    assert.equal((await resetJson(gw, { token, newPassword: "mona-New-Password-2" })).status, 200);
    // The access log is written in batches: wait for this request's line.
    await waitForLine(gw, (l) => l.msg === "request" && l.route === "gateway:password-reset", "the access log line of the reset", from);
    assert.ok(audits(gw, "password.reset-requested").some((l) => l.user === "mona" && l.sent === true));
    assert.ok(audits(gw, "password.reset").some((l) => l.user === "mona"));
    assert.ok(tokens.length >= 10, `only ${tokens.length} tokens were collected`);
    for (const t of tokens) {
      const leaking = gw.logs.lines.filter((l) => JSON.stringify(l).includes(t));
      assert.deepEqual(leaking, [], "a log line holds a reset token");
    }
    assert.ok(gw.logs.lines.some((l) => l.msg === "mail sent"), "the mailer logged nothing (is the check looking at the right log?)");
  });
});

describe("site.canResetFailedLoginsWithForgotPassword false", () => {
  let smtp: TestSmtp;
  let gw: TestGateway;
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 9, 0, 0));
  before(async () => {
    smtp = await startTestSmtp();
    gw = await startTestGateway(
      {
        access: { defaultPolicy: "authenticated" },
        publicUrl: PUBLIC_URL,
        mail: { smtp: smtp.url, from: FROM },
        site: { maxFailedLogins: 3, maxFailedLoginsLockoutDuration: "1 hour", canResetFailedLoginsWithForgotPassword: false },
      },
      { clock, pki },
    );
  });
  after(async () => {
    await gw.close();
    await smtp.close();
  });

  it("changes the password but keeps the lock until it ends", async () => {
    await gw.gateway.accounts.add({ name: "ivy", password: "ivy-Password-1", email: emailOf("ivy") });
    for (let i = 0; i < 3; i++) assert.equal((await tryLogin(gw, "ivy", `wrong-${i}`)).res.status, 401);
    const { token } = await requestLink(gw, smtp, "ivy");
    const from = gw.logs.lines.length;
    const res = await resetJson(gw, { token, newPassword: "ivy-New-Password-2" });
    assert.equal(res.status, 200, res.body);
    assert.equal(audits(gw, "account.unlocked", from).length, 0);
    assert.notEqual((await gw.gateway.store.getLoginFailures("ivy")).lockedAt, null, "the lock was cleared");
    const locked = gw.logs.lines.length;
    assert.equal((await tryLogin(gw, "ivy", "ivy-New-Password-2")).res.status, 401);
    assert.deepEqual(failureReasons(gw, "ivy", locked), ["locked"]);
    clock.advance(HOUR);
    await login(gw, "ivy", "ivy-New-Password-2");
  });
});

describe("without mail.smtp: the outbox", () => {
  let gw: TestGateway;
  const dataDir = path.join(pki.dir, "outbox-store");
  const outbox = path.join(dataDir, "outbox");
  before(async () => {
    gw = await startTestGateway({ access: { defaultPolicy: "authenticated" }, store: { dataDir }, router: { insecure: "allow" } }, { clock: new ManualClock(), pki });
  });
  after(() => gw.close());

  async function emlFiles(count: number): Promise<string[]> {
    const end = Date.now() + 5_000;
    for (;;) {
      const files = fs.existsSync(outbox) ? fs.readdirSync(outbox).filter((f) => f.endsWith(".eml")).sort() : [];
      if (files.length >= count) return files;
      if (Date.now() > end) assert.fail(`expected ${count} .eml file(s) in ${outbox}, found ${files.length}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("writes the message to <dataDir>/outbox/*.eml with mode 0600, with a link to https://localhost:<secure port> whatever the Host header", async () => {
    await gw.gateway.accounts.add({ name: "olga", password: "olga-Password-1", email: emailOf("olga") });
    const from = gw.logs.lines.length;
    const res = await forgot(gw, "olga", { host: "evil.example" });
    assert.equal(res.status, 200, res.body);
    const files = await emlFiles(1);
    assert.equal(files.length, 1);
    const file = path.join(outbox, files[0]!);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, "the .eml file is readable by others");
    assert.equal(fs.statSync(outbox).mode & 0o077, 0, "the outbox folder is open to others");
    const raw = fs.readFileSync(file, "utf8");
    const { headers, text } = parseMail(raw);
    assert.match(headers.get("to") ?? "", /olga@example\.org/);
    assert.doesNotMatch(raw, /evil\.example/);
    const { link: url, token, pathAndQuery } = linkIn(text);
    assert.ok(url.startsWith(`https://localhost:${gw.securePort}/gateway/password/reset?token=`), url);
    const written = await waitForLine(gw, (l) => typeof l.msg === "string" && l.msg.startsWith("mail written to the outbox"), "the outbox log line", from);
    assert.equal(written.file, file);
    assert.ok(!JSON.stringify(gw.logs.lines).includes(token), "a log line holds the token");
    assert.equal((await requested(gw, "olga", from)).sent, true);
    // The link works.
    assert.equal((await gw.https(pathAndQuery, { headers: BROWSER })).status, 200);
    assert.equal((await resetJson(gw, { token, newPassword: "olga-New-Password-2" })).status, 200);
    await login(gw, "olga", "olga-New-Password-2");
  });

  it("redirects the forgot and reset routes to TLS on the plaintext port even in allow mode", async () => {
    const from = gw.logs.lines.length;
    // A POST gets a 303 to the login page over TLS: a 308 would have the browser send the body again.
    const post = await gw.http("/gateway/password/forgot", { method: "POST", headers: FORM_HEADERS, body: "username=olga" });
    assert.equal(post.status, 303, post.body);
    assert.equal(post.headers.location, `https://127.0.0.1:${gw.securePort}/gateway/login`);
    const reset = await gw.http("/gateway/password/reset", { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ token: "x", newPassword: "y" }) });
    assert.equal(reset.status, 303);
    const page = await gw.http("/gateway/password/forgot", { headers: BROWSER });
    assert.equal(page.status, 308);
    assert.equal(page.headers.location, `https://127.0.0.1:${gw.securePort}/gateway/password/forgot`);
    assert.equal(audits(gw, "password.reset-requested", from).length, 0);
  });
});

describe("the resetFailedLogins sweep prunes expired links", () => {
  let gw: TestGateway;
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 30));
  before(async () => {
    gw = await startTestGateway({ access: { defaultPolicy: "authenticated" } }, { clock, pki });
    await gw.gateway.scheduler.runDue(clock.now());
  });
  after(() => gw.close());

  it("deletes links past their hour at the hourly tick and keeps the others", async () => {
    for (const name of ["pat", "pia"]) await gw.gateway.accounts.add({ name, password: `${name}-Password-1`, email: emailOf(name) });
    let from = gw.logs.lines.length;
    await forgot(gw, "pat");
    assert.equal((await requested(gw, "pat", from)).sent, true);
    clock.set(Date.UTC(2026, 0, 1, 0, 30, 30));
    from = gw.logs.lines.length;
    await forgot(gw, "pia");
    assert.equal((await requested(gw, "pia", from)).sent, true);
    const users = async () => (await gw.gateway.store.listRecords<{ user: string }>("password-reset")).map((r) => r.user).sort();
    assert.deepEqual(await users(), ["pat", "pia"]);
    clock.set(Date.UTC(2026, 0, 1, 1, 0, 31)); // pat's link ended at 01:00:30; the 01:00 tick is due
    const ran = await gw.gateway.scheduler.runDue(clock.now());
    assert.ok(ran.includes("resetFailedLogins"), `jobs run: ${ran.join(", ")}`);
    assert.deepEqual(await users(), ["pia"]);
    // The record of which link is each account's newest goes with the link.
    assert.deepEqual((await gw.gateway.store.listRecords<{ user: string }>("password-reset-latest")).map((r) => r.user), ["pia"]);
    clock.set(Date.UTC(2026, 0, 1, 2, 0, 0));
    await gw.gateway.scheduler.runDue(clock.now());
    assert.deepEqual(await users(), []);
  });
});

describe("two gateways sharing one store", () => {
  let smtp: TestSmtp;
  let store: Store;
  let a: TestGateway;
  let b: TestGateway;
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 9, 0, 0));
  before(async () => {
    smtp = await startTestSmtp();
    store = await createEmbeddedStore({ dataDir: null });
    const config = { access: { defaultPolicy: "authenticated" }, publicUrl: PUBLIC_URL, mail: { smtp: smtp.url, from: FROM } };
    a = await startTestGateway(config, { clock, pki, store });
    b = await startTestGateway(config, { clock, pki, store, adminPassword: false });
  });
  after(async () => {
    await a.close();
    await b.close();
    await store.close();
    await smtp.close();
  });

  it("mails an account at most once a minute across gateways; the newest link, mailed by one, works on the other", async () => {
    await a.gateway.accounts.add({ name: "quinn", password: "quinn-Password-1", email: emailOf("quinn") });
    const first = await requestLink(a, smtp, "quinn");
    const from = b.logs.lines.length;
    clock.advance(30_000);
    assert.equal((await forgot(b, "quinn")).status, 200);
    assert.equal((await requested(b, "quinn", from)).reason, "rate");
    clock.advance(31_000);
    const second = await requestLink(b, smtp, "quinn");
    assert.equal(smtp.messages.length, 2);
    // The link mailed by b replaced the one mailed by a, on both gateways.
    const replaced = await resetJson(b, { token: first.token, newPassword: "quinn-Old-Password-3" });
    assert.equal(replaced.status, 400, replaced.body);
    const res = await resetJson(a, { token: second.token, newPassword: "quinn-New-Password-2" });
    assert.equal(res.status, 200, res.body);
    await login(b, "quinn", "quinn-New-Password-2");
  });
});
