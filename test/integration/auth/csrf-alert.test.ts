/**
 * CSRF refusal reports (SPEC §6.5, README "Mail"): every refusal is audited as csrf.refused with its
 * reason (origin, token, login, websocket); with site.csrfEmailAlert and mail.adminEmail the admin is
 * mailed too, at most once a minute across every gateway sharing the store. Mail goes to a real SMTP
 * peer; time is a ManualClock.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import tls from "node:tls";
import { ManualClock } from "../../../src/clock.js";
import { createEmbeddedStore } from "../../../src/store/embedded/embedded-store.js";
import type { Store } from "../../../src/store/store.js";
import { makePki } from "../../helpers/certs.js";
import { startTestGateway, type TestGateway, type TestResponse } from "../../helpers/gateway.js";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "../../helpers/smtp.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, audits, login, type LoginOutcome } from "../../helpers/auth.js";

const pki = makePki();
after(() => pki.cleanup());

const ADMIN_EMAIL = "root@example.org";
const FROM = "portcullis@example.org";
const SUBJECT = "portcullis: a cross-site request was refused";
const FORM = { "content-type": "application/x-www-form-urlencoded", "user-agent": "Mozilla/5.0" } as const;

/** A cross-site form POST carrying `who`'s session cookie. */
function crossSite(gw: TestGateway, who: LoginOutcome, path: string, headers: Record<string, string> = { origin: "https://evil.example" }): Promise<TestResponse> {
  return gw.https(path, { method: "POST", headers: { ...FORM, cookie: who.cookie, ...headers }, body: "amount=1000" });
}

/** A WebSocket handshake over TLS with the given extra headers; resolves the status line. */
async function upgrade(gw: TestGateway, path: string, headers: Record<string, string>): Promise<string> {
  const socket = tls.connect({ host: "127.0.0.1", port: gw.securePort, ca: gw.pki.ca.cert, servername: "localhost" });
  socket.on("error", () => undefined);
  await once(socket, "secureConnect");
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${gw.securePort}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
  );
  let text = "";
  const deadline = setTimeout(() => socket.destroy(), 3_000);
  for await (const chunk of socket) {
    text += (chunk as Buffer).toString("latin1");
    if (text.includes("\r\n")) break;
  }
  clearTimeout(deadline);
  socket.destroy();
  return text.split("\r\n")[0] ?? "";
}

/** The `key: value` lines of an alert mail. */
function fieldsOf(mail: ReceivedMail): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of mail.text.split("\n")) {
    const m = /^([a-zA-Z]+): (.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

const alertMails = (smtp: TestSmtp, from = 0) => smtp.messages.slice(from).filter((m) => m.subject === SUBJECT);

describe("site.csrfEmailAlert true with mail.adminEmail", () => {
  let upstream: TestUpstream;
  let smtp: TestSmtp;
  let gw: TestGateway;
  let bob: LoginOutcome;
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 9, 0, 0));
  before(async () => {
    upstream = await startTestUpstream();
    smtp = await startTestSmtp();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, mail: { smtp: smtp.url, from: FROM, adminEmail: ADMIN_EMAIL }, site: { csrfEmailAlert: true } },
      { clock, pki },
    );
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"] });
    bob = await login(gw, "bob", "bob-password-1");
  });
  after(async () => {
    await gw.close();
    await smtp.close();
    await upstream.close();
  });

  it("mails the admin once about a cross-site POST to a proxied path, naming the path, the reason and the user, and no secret", async () => {
    const seen = upstream.received.length;
    const from = gw.logs.lines.length;
    const res = await crossSite(gw, bob, "/app/transfer?to=mallory");
    assert.equal(res.status, 403);
    assert.equal(upstream.received.length, seen, "the refused request reached the upstream");
    const refused = audits(gw, "csrf.refused", from);
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.reason, "origin");
    assert.equal(refused[0]!.path, "/app/transfer");
    assert.equal(refused[0]!.user, "bob");
    const mails = await smtp.waitFor(1);
    assert.equal(mails.length, 1);
    const mail = mails[0]!;
    assert.deepEqual(mail.to, [ADMIN_EMAIL]);
    assert.equal(mail.from, FROM);
    assert.equal(mail.subject, SUBJECT);
    const fields = fieldsOf(mail);
    assert.equal(fields.path, "/app/transfer");
    assert.equal(fields.reason, "origin");
    assert.equal(fields.user, "bob");
    assert.equal(fields.method, "POST");
    assert.equal(fields.origin, "https://evil.example");
    assert.equal(fields.time, new Date(clock.now()).toISOString(), "the mail's time is not the gateway's clock");
    const cookieValue = bob.cookie.split("=")[1]!;
    assert.ok(!mail.raw.includes(cookieValue), "the alert mail holds the session cookie");
    assert.ok(!mail.raw.includes(bob.csrfToken), "the alert mail holds the CSRF token");
    assert.ok(!mail.raw.includes("amount=1000"), "the alert mail holds the request body");
  });

  it("sends no second mail for a refusal within the minute, but audits it", async () => {
    clock.advance(59_000);
    const from = gw.logs.lines.length;
    const res = await crossSite(gw, bob, "/app/second", { "sec-fetch-site": "cross-site" });
    assert.equal(res.status, 403);
    const refused = audits(gw, "csrf.refused", from);
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.path, "/app/second");
    assert.equal(refused[0]!.fetchSite, "cross-site");
    assert.deepEqual(await smtp.settle(1, 300), [], "a second alert mail went within a minute");
  });

  it("mails again about a refusal 61 seconds after the first mail", async () => {
    clock.advance(2_000);
    const res = await crossSite(gw, bob, "/app/third");
    assert.equal(res.status, 403);
    const mails = await smtp.waitFor(2);
    assert.equal(fieldsOf(mails[1]!).path, "/app/third");
    assert.equal((await smtp.settle(2, 200)).length, 0);
    assert.ok(!alertMails(smtp).some((m) => fieldsOf(m).path === "/app/second"), "the refusal within the minute was mailed");
  });

  it("audits a gateway JSON route without X-CSRF-Token with reason token, mails it, and keeps the session", async () => {
    clock.advance(61_000);
    const fromMail = smtp.messages.length;
    const from = gw.logs.lines.length;
    const res = await gw.https("/gateway/logout/all", { method: "POST", headers: { ...API, "content-type": "application/json", cookie: bob.cookie, "sec-fetch-site": "same-origin" }, body: "{}" });
    assert.equal(res.status, 403, res.body);
    const refused = audits(gw, "csrf.refused", from);
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.reason, "token");
    assert.equal(refused[0]!.path, "/gateway/logout/all");
    assert.equal(refused[0]!.user, "bob");
    const mail = (await smtp.waitFor(fromMail + 1))[fromMail]!;
    assert.equal(fieldsOf(mail).reason, "token");
    assert.equal(fieldsOf(mail).path, "/gateway/logout/all");
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: bob.cookie } })).status, 200, "the refused logout ended the session");
  });

  it("audits a wrong X-CSRF-Token with reason token", async () => {
    const from = gw.logs.lines.length;
    const res = await gw.https("/gateway/session/renew", { method: "POST", headers: { ...API, cookie: bob.cookie, "x-csrf-token": "not-the-token" } });
    assert.equal(res.status, 403);
    assert.deepEqual(audits(gw, "csrf.refused", from).map((l) => l.reason), ["token"]);
  });

  it("audits and mails a cross-site login with reason login", async () => {
    clock.advance(61_000);
    const fromMail = smtp.messages.length;
    const from = gw.logs.lines.length;
    const res = await gw.https("/gateway/login", { method: "POST", headers: { ...FORM, origin: "https://evil.example" }, body: "username=bob&password=bob-password-1" });
    assert.equal(res.status, 403);
    assert.equal(res.headers["set-cookie"], undefined);
    assert.deepEqual(audits(gw, "csrf.refused", from).map((l) => l.reason), ["login"]);
    const mail = (await smtp.waitFor(fromMail + 1))[fromMail]!;
    assert.equal(fieldsOf(mail).reason, "login");
    assert.equal(fieldsOf(mail).path, "/gateway/login");
  });

  it("audits and mails a cross-site WebSocket handshake with a session cookie with reason websocket", async () => {
    clock.advance(61_000);
    const fromMail = smtp.messages.length;
    const from = gw.logs.lines.length;
    const seen = upstream.received.length;
    const status = await upgrade(gw, "/ws/feed", { cookie: bob.cookie, origin: "https://evil.example" });
    assert.match(status, /^HTTP\/1\.1 403 /);
    assert.equal(upstream.received.length, seen, "the handshake reached the upstream");
    const refused = audits(gw, "csrf.refused", from);
    assert.deepEqual(refused.map((l) => l.reason), ["websocket"]);
    assert.equal(refused[0]!.path, "/ws/feed");
    const mail = (await smtp.waitFor(fromMail + 1))[fromMail]!;
    assert.equal(fieldsOf(mail).reason, "websocket");
  });

  it("mails nothing for requests that are not refused (same-origin POST, Basic credentials)", async () => {
    clock.advance(61_000);
    const fromMail = smtp.messages.length;
    const from = gw.logs.lines.length;
    assert.equal((await crossSite(gw, bob, "/app/ok", { "sec-fetch-site": "same-origin" })).status, 200);
    const basic = `Basic ${Buffer.from("bob:bob-password-1").toString("base64")}`;
    assert.equal((await gw.https("/app/ok", { method: "POST", headers: { ...FORM, authorization: basic, origin: "https://evil.example" }, body: "a=1" })).status, 200);
    assert.equal(audits(gw, "csrf.refused", from).length, 0);
    assert.deepEqual(await smtp.settle(fromMail, 300), []);
  });
});

describe("site.csrfEmailAlert false", () => {
  let upstream: TestUpstream;
  let smtp: TestSmtp;
  let gw: TestGateway;
  let bob: LoginOutcome;
  before(async () => {
    upstream = await startTestUpstream();
    smtp = await startTestSmtp();
    gw = await startTestGateway(
      { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, mail: { smtp: smtp.url, from: FROM, adminEmail: ADMIN_EMAIL }, site: { csrfEmailAlert: false } },
      { clock: new ManualClock(Date.UTC(2026, 2, 1, 9, 0, 0)), pki },
    );
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"], email: "bob@example.org" });
    bob = await login(gw, "bob", "bob-password-1");
  });
  after(async () => {
    await gw.close();
    await smtp.close();
    await upstream.close();
  });

  it("audits the refusal but mails nothing (the same mailer still delivers other mail)", async () => {
    const from = gw.logs.lines.length;
    assert.equal((await crossSite(gw, bob, "/app/transfer")).status, 403);
    assert.equal(audits(gw, "csrf.refused", from).length, 1);
    // A mail that does go, through the same mailer: had the alert been sent, it would be there too.
    const forgot = await gw.https("/gateway/password/forgot", { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify({ username: "bob" }) });
    assert.equal(forgot.status, 200);
    await smtp.waitFor(1);
    await smtp.settle(0, 300);
    assert.deepEqual(smtp.messages.map((m) => m.to), [["bob@example.org"]]);
    assert.deepEqual(alertMails(smtp), []);
  });

  it("follows a live site-config change to csrfEmailAlert true", async () => {
    const admin = await login(gw, "admin", "admin-password-1");
    const set = await gw.https("/gateway/xapi/siteConfig", {
      method: "POST",
      headers: { ...API, "content-type": "application/json", cookie: admin.cookie, "x-csrf-token": admin.csrfToken },
      body: JSON.stringify({ csrfEmailAlert: true }),
    });
    assert.equal(set.status, 200, set.body);
    const fromMail = smtp.messages.length;
    assert.equal((await crossSite(gw, bob, "/app/after-change")).status, 403);
    const mail = (await smtp.waitFor(fromMail + 1))[fromMail]!;
    assert.equal(mail.subject, SUBJECT);
    assert.equal(fieldsOf(mail).path, "/app/after-change");
  });
});

describe("site.csrfEmailAlert true without mail.adminEmail", () => {
  let smtp: TestSmtp;
  let gw: TestGateway;
  before(async () => {
    smtp = await startTestSmtp();
    gw = await startTestGateway({ access: { defaultPolicy: "authenticated" }, mail: { smtp: smtp.url, from: FROM }, site: { csrfEmailAlert: true } }, { clock: new ManualClock(), pki });
  });
  after(async () => {
    await gw.close();
    await smtp.close();
  });

  it("warns at startup, audits refusals and mails no one", async () => {
    assert.ok(gw.logs.lines.some((l) => l.level === "warn" && /adminEmail/.test(String(l.msg))), "no startup warning about mail.adminEmail");
    const admin = await login(gw, "admin", "admin-password-1");
    const from = gw.logs.lines.length;
    assert.equal((await crossSite(gw, admin, "/app/transfer")).status, 403);
    assert.equal(audits(gw, "csrf.refused", from).length, 1);
    assert.deepEqual(await smtp.settle(0, 300), []);
    assert.deepEqual(gw.logs.lines.filter((l) => l.level === "error" || l.level === "fatal"), [], "an error was logged");
  });
});

describe("the alert limit across gateways sharing one store", () => {
  let upstream: TestUpstream;
  let smtp: TestSmtp;
  let store: Store;
  let a: TestGateway;
  let b: TestGateway;
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 9, 0, 0));
  before(async () => {
    upstream = await startTestUpstream();
    smtp = await startTestSmtp();
    store = await createEmbeddedStore({ dataDir: null });
    const config = { upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, mail: { smtp: smtp.url, from: FROM, adminEmail: ADMIN_EMAIL }, site: { csrfEmailAlert: true } };
    a = await startTestGateway(config, { clock, pki, store });
    b = await startTestGateway(config, { clock, pki, store, adminPassword: false });
  });
  after(async () => {
    await a.close();
    await b.close();
    await store.close();
    await smtp.close();
    await upstream.close();
  });

  it("sends one mail a minute in all: a refusal on the second gateway within the minute is audited there but not mailed", async () => {
    const admin = await login(a, "admin", "admin-password-1");
    assert.equal((await crossSite(a, admin, "/app/on-a")).status, 403);
    await smtp.waitFor(1);
    clock.advance(30_000);
    const from = b.logs.lines.length;
    assert.equal((await crossSite(b, admin, "/app/on-b")).status, 403);
    assert.equal(audits(b, "csrf.refused", from).length, 1);
    assert.deepEqual(await smtp.settle(1, 300), [], "the second gateway mailed within the minute");
    clock.advance(31_000);
    assert.equal((await crossSite(b, admin, "/app/on-b-later")).status, 403);
    const mails = await smtp.waitFor(2);
    assert.deepEqual(mails.map((m) => fieldsOf(m).path), ["/app/on-a", "/app/on-b-later"]);
  });
});
