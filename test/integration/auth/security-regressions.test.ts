/** Regression tests for the findings of the security review (each attack as a concrete request). */
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { login, tryLogin } from "../../helpers/auth.js";

function rawTls(gw: TestGateway, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port: gw.securePort, ca: gw.pki.ca.cert, servername: "localhost" }, () => socket.write(request));
    let data = "";
    socket.on("data", (d: Buffer) => {
      data += d.toString();
      if (data.includes("\r\n\r\n")) socket.destroy();
    });
    socket.on("close", () => resolve(data));
    socket.on("error", reject);
    socket.setTimeout(5000, () => socket.destroy());
  });
}

describe("the security review's findings stay fixed", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      {
        upstream: { url: upstream.url },
        access: { defaultPolicy: "authenticated", rules: [{ paths: ["/public/**"], policy: "bypass" }, { paths: ["/reports/**"], methods: ["GET"], policy: "admin" }] },
        site: { maxFailedLogins: 3 },
      },
      { clock },
    );
    await gw.gateway.accounts.add({ name: "lukasz", password: "pw-lukasz-1", roles: ["member"], email: "łukasz@example.pl" });
    await gw.gateway.accounts.add({ name: "victim", password: "right-password-1", roles: [] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("refuses a WebSocket path that climbs out of a bypass prefix with a backslash", async () => {
    const before = upstream.received.length;
    const answer = await rawTls(gw, "GET /public/..\\app/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    assert.match(answer, /^HTTP\/1\.1 400/);
    assert.equal(upstream.received.length, before);
  });

  it("refuses %5C in a path as well", async () => {
    assert.equal((await gw.https("/public/..%5Capp")).status, 400);
  });

  it("does not let parallel guesses outrun the lockout", async () => {
    const guesses = await Promise.all(Array.from({ length: 12 }, (_, i) => tryLogin(gw, "victim", i === 11 ? "right-password-1" : `wrong-${i}`)));
    // The correct password came last in a burst of wrong ones: by then the account is locked.
    assert.equal(guesses.filter((g) => g.res.status === 200).length, 0);
    assert.equal(await gw.gateway.store.getLoginFailures("victim").then((s) => s.lockedAt !== null), true);
  });

  it("does not redirect to another site after login with returnTo=/.//evil.example/", async () => {
    const res = await gw.https("/gateway/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "username=admin&password=admin-password-1&returnTo=%2F.%2F%2Fevil.example%2Fx",
    });
    assert.equal(res.status, 303);
    assert.equal(res.headers.location, "/");
  });

  it("never passes a header with an underscore (X_Remote_User) to the upstream", async () => {
    const res = await gw.https("/public/x", { headers: { "x_remote_user": "admin", "x_forwarded_for": "1.2.3.4" } });
    const seen = res.json<{ headers: Record<string, string> }>().headers;
    assert.equal(seen["x_remote_user"], undefined);
    assert.equal(seen["x_forwarded_for"], undefined);
  });

  it("does not forward the gateway's session cookie, but keeps the application's cookies", async () => {
    const { cookie } = await login(gw, "admin", "admin-password-1");
    const res = await gw.https("/app", { headers: { cookie: `${cookie}; app=1` } });
    assert.equal(res.json<{ headers: Record<string, string> }>().headers.cookie, "app=1");
  });

  it("applies a GET-only admin rule to HEAD too", async () => {
    const { cookie } = await login(gw, "lukasz", "pw-lukasz-1");
    assert.equal((await gw.https("/reports/x", { method: "HEAD", headers: { cookie } })).status, 403);
  });

  it("percent-encodes identity values that are not visible ASCII, and survives a WebSocket from such a user", async () => {
    const { cookie } = await login(gw, "lukasz", "pw-lukasz-1");
    const res = await gw.https("/app", { headers: { cookie } });
    assert.equal(res.json<{ headers: Record<string, string> }>().headers["x-remote-email"], encodeURIComponent("łukasz@example.pl"));
    const answer = await rawTls(
      gw,
      `GET /ws HTTP/1.1\r\nHost: localhost:${gw.securePort}\r\nOrigin: https://localhost:${gw.securePort}\r\nCookie: ${cookie}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    assert.match(answer, /^HTTP\/1\.1 101/);
    assert.equal((await gw.https("/gateway/healthz")).status, 200);
  });

  it("refuses a cross-site login form (login CSRF)", async () => {
    const res = await gw.https("/gateway/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example", "sec-fetch-site": "cross-site" },
      body: "username=admin&password=admin-password-1",
    });
    assert.equal(res.status, 403);
    assert.equal(res.headers["set-cookie"], undefined);
  });

  it("answers the password-change route for an unknown user like a wrong password, through the login rules", async () => {
    const unknown = await gw.https("/gateway/password", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ username: "nobody-here", password: "x", newPassword: "y-1234567" }),
    });
    assert.equal(unknown.status, 401);
    assert.ok(gw.logs.lines.some((l) => l.event === "password.change-failed" && l.reason === "unknown-user"));
  });

  it("does not count failures under names that cannot be accounts", async () => {
    const name = "x".repeat(500);
    await tryLogin(gw, name, "pw");
    assert.deepEqual(await gw.gateway.store.getLoginFailures(name), { failures: 0, lockedAt: null });
  });

  it("keeps serving after a plaintext upgrade in redirect mode", async () => {
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(gw.insecurePort, "127.0.0.1", () => s.write("GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"));
      let data = "";
      s.on("data", (d: Buffer) => (data += d.toString()));
      s.on("close", () => resolve(data));
      s.setTimeout(3000, () => s.destroy());
    });
    assert.match(answer, /^HTTP\/1\.1 403/);
  });
});
