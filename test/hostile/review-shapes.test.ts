/**
 * The shapes a black-box review of the running gateway found (issue #15), each replayed against one
 * gateway as the attacker sent it. The classes around each shape are tested beside the fix (named in
 * each test); this file keeps the original requests standing in one place.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";
import { API, BROWSER, COOKIE, SCRIPT, audits, basic, login } from "../helpers/auth.js";

/** A raw request over TLS; resolves with the status line and headers of the answer. */
async function rawTls(gw: TestGateway, request: string): Promise<string> {
  const socket = tls.connect({ host: "127.0.0.1", port: gw.securePort, ca: gw.pki.ca.cert, servername: "localhost" });
  socket.on("error", () => undefined);
  await once(socket, "secureConnect");
  socket.write(request);
  let data = "";
  socket.on("data", (d: Buffer) => {
    data += d.toString("latin1");
    if (data.includes("\r\n\r\n")) socket.destroy();
  });
  await Promise.race([once(socket, "close"), new Promise((r) => setTimeout(r, 5_000))]);
  socket.destroy();
  return data;
}

describe("the black-box review's shapes stay refused", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const marker = () => `z${Math.random().toString(36).slice(2)}`;
  const reached = (m: string) => upstream.received.some((r) => r.url.includes(m));

  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({
      upstream: { url: upstream.url },
      publicUrl: "https://gateway.example.org",
      access: {
        defaultPolicy: "bypass",
        rules: [
          { paths: ["/admin/**"], policy: "admin" },
          { paths: ["/internal/**"], policy: "deny" },
          { paths: ["/reports/**"], methods: ["DELETE"], policy: "admin" },
          { paths: ["/data/**"], policy: "authenticated" },
        ],
      },
      site: { interactiveAgentIds: ["(a+)+$"], uiLoginFailureMessage: '<meta http-equiv="refresh" content="0;url=https://evil.example/">Login failed.' },
    });
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: [] });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it("item 1: /%2fadmin/x, /%2Finternal/x and /%2F%2Finternal/x never reach the upstream under defaultPolicy bypass (test/integration/encoded-slash.test.ts)", async () => {
    for (const path of ["/%2fadmin/x", "/%2Finternal/x", "/%2F%2Finternal/x", "/;x/admin/y", "/x/%2e%2e/admin/y", "/%2561dmin/x"]) {
      const m = marker();
      const res = await gw.https(`${path}?${m}`, { headers: SCRIPT });
      assert.ok([302, 400, 401, 403].includes(res.status), `${path}: ${res.status}`);
      assert.equal(reached(m), false, `${path} reached the upstream`);
    }
  });

  it("item 2: interactiveAgentIds (a+)+$ with a 30-character User-Agent answers at once (test/unit/pattern.test.ts)", async () => {
    const started = performance.now();
    const res = await gw.https("/data/x", { headers: { "user-agent": `${"a".repeat(30)}!`, accept: "*/*" } });
    assert.equal(res.status, 401);
    assert.ok(performance.now() - started < 2_000);
  });

  it("item 4: a cross-site POST with Basic credentials and a cross-site upgrade are refused; no Basic dialog for fetches; method override removed (test/integration/auth/basic-browser.test.ts)", async () => {
    const m = marker();
    const post = await gw.https(`/data/x?${m}`, { method: "POST", headers: { ...BROWSER, authorization: basic("bob", "bob-password-1"), "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "content-type": "text/plain" }, body: "x" });
    assert.equal(post.status, 403);
    assert.equal(reached(m), false);
    const fetched = await gw.https("/data/x", { headers: { ...API, "sec-fetch-mode": "cors", "sec-fetch-site": "cross-site" } });
    assert.equal(fetched.status, 401);
    assert.equal(fetched.headers["www-authenticate"], undefined);
    const upgrade = await rawTls(gw, `GET /data/ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: ${basic("bob", "bob-password-1")}\r\nSec-Fetch-Site: cross-site\r\nOrigin: https://evil.example\r\n\r\n`);
    assert.match(upgrade, /^HTTP\/1\.1 403/);
    const m2 = marker();
    const overridden = await gw.https(`/reports/1?${m2}`, { headers: { ...SCRIPT, "x-http-method-override": "DELETE", "x-http-method": "DELETE", "x-method-override": "DELETE" } });
    assert.equal(overridden.status, 200);
    const got = upstream.received.find((r) => r.url.includes(m2))!;
    for (const h of ["x-http-method-override", "x-http-method", "x-method-override"]) assert.equal(got.headers[h], undefined);
    const m3 = marker();
    const form = await gw.https(`/reports/1?_method=DELETE&${m3}`, { method: "POST", headers: { ...SCRIPT, authorization: basic("bob", "bob-password-1"), "content-type": "application/x-www-form-urlencoded" }, body: "a=1" });
    assert.equal(form.status, 403, "a POST that Spring would run as DELETE is judged by the DELETE rule");
    assert.equal(reached(m3), false);
  });

  it("item 5: the session cookie sent twice on the plaintext port is revoked (test/integration/auth/duplicate-cookies.test.ts)", async () => {
    const out = await login(gw, "bob", "bob-password-1");
    const value = out.cookie.slice(out.cookie.indexOf("=") + 1);
    const from = gw.logs.lines.length;
    const plain = await gw.http("/data/x", { headers: { ...API, cookie: `${COOKIE}=${value}; ${COOKIE}=${value}` } });
    assert.equal(plain.status, 308);
    assert.equal(audits(gw, "session.ended", from).length, 1);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 401);
  });

  it("item 6: TLS 1.2 refuses static-RSA and CBC suites (test/integration/tls.test.ts, sslscan.test.ts)", async () => {
    for (const ciphers of ["AES128-SHA", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA"]) {
      const socket = tls.connect({ host: "127.0.0.1", port: gw.securePort, ca: gw.pki.ca.cert, servername: "localhost", maxVersion: "TLSv1.2", ciphers });
      const outcome = await new Promise<string>((resolve) => {
        socket.once("secureConnect", () => resolve("connected"));
        socket.once("error", () => resolve("refused"));
      });
      socket.destroy();
      assert.equal(outcome, "refused", ciphers);
    }
  });

  it("item 7: a WebSocket upgrade to /gateway/xapi/siteConfig is not proxied (test/integration/websocket.test.ts)", async () => {
    const admin = await login(gw, "admin", "admin-password-1");
    const before = upstream.received.length;
    const answer = await rawTls(gw, `GET /gateway/xapi/siteConfig HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nCookie: ${admin.cookie}\r\n\r\n`);
    assert.match(answer, /^HTTP\/1\.1 404/);
    assert.equal(upstream.received.length, before);
  });

  it("item 8: with publicUrl set the plaintext redirect names only it, whatever Host says (test/integration/router-policy.test.ts)", async () => {
    const res = await gw.http("/data/x?a=1", { headers: { ...BROWSER, host: "evil.example" } });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, "https://gateway.example.org/data/x?a=1");
  });

  it("item 9: a 15,000-character property name is a 404 at once; a 5,000-deep JSON array is a 400; the login failure message loses its <meta> (test/integration/site-config.test.ts)", async () => {
    const name = await gw.https(`/gateway/xapi/siteConfig/values/${"a".repeat(15_000)}`, { headers: API });
    assert.equal(name.status, 404);
    const admin = await login(gw, "admin", "admin-password-1");
    const deep = await gw.https("/gateway/xapi/siteConfig", { method: "POST", headers: { ...API, "content-type": "application/json", cookie: admin.cookie, "x-csrf-token": admin.csrfToken }, body: `${"[".repeat(5_000)}${"]".repeat(5_000)}` });
    assert.equal(deep.status, 400);
    const page = await gw.https("/gateway/login", { method: "POST", headers: { ...BROWSER, "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin" }, body: "username=bob&password=wrong" });
    assert.equal(page.status, 401);
    assert.doesNotMatch(page.body, /http-equiv/i);
    assert.match(page.body, /Login failed\./);
  });
});
