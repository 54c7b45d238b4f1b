import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

/** Writes `text` on a plain TCP connection and returns everything the server sent until it closed (at most 3 s). */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    }, 3000);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("end", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(text);
  });
}

/** A WebSocket opening handshake (RFC 6455 §4.1) for `path`. */
const upgradeRequest = (path: string, host = "localhost") =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);

const exposures = (gw: TestGateway) => gw.logs.lines.filter((l) => l.audit === true && l.event === "credential.exposed");

describe("the insecure listener in redirect mode (the default)", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("answers 308 with the same path and query on the TLS port of the requested host", async () => {
    const res = await gw.http("/x/y?a=1&b=two", { headers: { host: "example.test:1234" } });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, `https://example.test:${gw.securePort}/x/y?a=1&b=two`);
    assert.equal(upstream.received.length, 0);
  });

  it("keeps an IPv6 literal host in brackets", async () => {
    const res = await gw.http("/v6?q=1", { headers: { host: "[::1]:80" } });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, `https://[::1]:${gw.securePort}/v6?q=1`);
  });

  for (const host of ["evil.test/path", "a b", "evil.test@attacker.test", "example.test:80/../attacker.test", "[not-ipv6]:80"]) {
    it(`answers 400 and redirects nowhere for the Host header ${JSON.stringify(host)}`, async () => {
      const response = await raw(gw.insecurePort, `GET /x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.equal(statusOf(response), 400, response);
      assert.doesNotMatch(response, /^location:/im);
      assert.doesNotMatch(response, /attacker|evil/i);
    });
  }

  it("redirects a POST with 308 too, so the client repeats the method and body over TLS", async () => {
    const res = await gw.http("/submit?x=1", { method: "POST", headers: { host: "example.test", "content-type": "text/plain" }, body: "payload" });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, `https://example.test:${gw.securePort}/submit?x=1`);
    assert.equal(upstream.received.length, 0);
  });

  it("normalises dot segments in the Location it sends", async () => {
    const res = await gw.http("/a/./b/../c/?k=v/../w", { headers: { host: "example.test" } });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, `https://example.test:${gw.securePort}/a/c/?k=v/../w`);
    const above = await gw.http("/../../etc/passwd", { headers: { host: "example.test" } });
    assert.equal(above.status, 308);
    assert.equal(above.headers.location, `https://example.test:${gw.securePort}/etc/passwd`);
  });

  it("audits a session cookie that arrived in plaintext as credential.exposed, without logging its value", async () => {
    const before = exposures(gw).length;
    const res = await gw.http("/page", { headers: { host: "example.test", cookie: "theme=dark; portcullis_session=SeCrEtSeSsIoN123" } });
    assert.equal(res.status, 308);
    const lines = exposures(gw).slice(before);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.carried, "session-cookie");
    assert.equal(lines[0]!.listener, "insecure");
    assert.doesNotMatch(JSON.stringify(gw.logs.lines), /SeCrEtSeSsIoN123/);
  });

  it("audits an Authorization header that arrived in plaintext as credential.exposed", async () => {
    const before = exposures(gw).length;
    const auth = `Basic ${Buffer.from("alice:pl4intext-pw").toString("base64")}`;
    const res = await gw.http("/page", { headers: { host: "example.test", authorization: auth } });
    assert.equal(res.status, 308);
    const lines = exposures(gw).slice(before);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.carried, "authorization");
    assert.ok(!JSON.stringify(gw.logs.lines).includes(auth.slice(6)), "the Authorization value reached the log");
  });

  // Issue #15: the name was matched only as "portcullis_session=", so these went unaudited (and the
  // session they named was not revoked).
  for (const cookie of ["portcullis_session =abc", "theme=dark;portcullis_session  =  abc", "portcullis_session=abc; portcullis_session=abc", "portcullis_session=junk; portcullis_session =abc"]) {
    it(`audits the session cookie in ${JSON.stringify(cookie)} as credential.exposed`, async () => {
      const before = exposures(gw).length;
      const res = await gw.http("/page", { headers: { host: "example.test", cookie } });
      assert.equal(res.status, 308);
      assert.equal(exposures(gw).length, before + 1);
      assert.equal(exposures(gw).at(-1)!.carried, "session-cookie");
    });
  }

  it("does not audit a plaintext request that carries no credential, nor another cookie with a similar name", async () => {
    const before = exposures(gw).length;
    await gw.http("/page", { headers: { host: "example.test" } });
    await gw.http("/page", { headers: { host: "example.test", cookie: "not_portcullis_session=1; portcullis_session_hint=2" } });
    assert.equal(exposures(gw).length, before);
  });

  it("refuses a plaintext WebSocket upgrade with 403", async () => {
    const response = await raw(gw.insecurePort, upgradeRequest("/socket"));
    assert.equal(statusOf(response), 403, response);
    assert.equal(upstream.received.length, 0);
  });
});

describe("the insecure listener in reject mode", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "reject" } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("answers 403 with a one-line text naming the TLS URL, and proxies nothing", async () => {
    const res = await gw.http("/data/x?y=1", { headers: { host: "example.test:4063" } });
    assert.equal(res.status, 403);
    assert.match(String(res.headers["content-type"]), /^text\/plain/);
    assert.equal(res.headers.location, undefined);
    const lines = res.body.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 1, res.body);
    assert.ok(lines[0]!.includes(`https://example.test:${gw.securePort}/data/x?y=1`), res.body);
    const post = await gw.http("/data/x", { method: "POST", headers: { host: "example.test" }, body: "do not forward" });
    assert.equal(post.status, 403);
    assert.equal(upstream.received.length, 0);
  });

  it("answers 400 rather than naming a URL built from a junk Host header", async () => {
    const response = await raw(gw.insecurePort, "GET /x HTTP/1.1\r\nHost: evil.test/path\r\nConnection: close\r\n\r\n");
    assert.equal(statusOf(response), 400, response);
    assert.doesNotMatch(response, /evil/);
  });

  it("audits a session cookie that arrived in plaintext as credential.exposed", async () => {
    const before = exposures(gw).length;
    const res = await gw.http("/page", { headers: { host: "example.test", cookie: "portcullis_session=abc" } });
    assert.equal(res.status, 403);
    assert.equal(exposures(gw).length, before + 1);
    assert.equal(upstream.received.length, 0);
  });

  it("refuses a plaintext WebSocket upgrade with 403", async () => {
    const response = await raw(gw.insecurePort, upgradeRequest("/socket"));
    assert.equal(statusOf(response), 403, response);
    assert.equal(upstream.received.length, 0);
  });
});

describe("the insecure listener in allow mode", () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startTestUpstream();
  });
  after(() => upstream.close());

  it("proxies plaintext requests when router.insecure is allow", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "allow" } });
    try {
      const res = await gw.http("/plain/ok?z=9");
      assert.equal(res.status, 200);
      assert.equal(res.json<{ url: string }>().url, "/plain/ok?z=9");
      assert.ok(upstream.received.some((r) => r.url === "/plain/ok?z=9"));
    } finally {
      await gw.close();
    }
  });

  it("proxies plaintext requests when site.securityChannel is any, whatever router.insecure says", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "redirect" }, site: { securityChannel: "any" } });
    try {
      const res = await gw.http("/channel/any");
      assert.equal(res.status, 200);
      assert.equal(res.json<{ url: string }>().url, "/channel/any");
    } finally {
      await gw.close();
    }
  });

  it("passes a plaintext WebSocket upgrade on to the upstream", async () => {
    // A short grace: shutdown must not wait long for the upgraded connection (see shutdown.test.ts).
    const gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "allow" }, limits: { shutdownGrace: "300 milliseconds" } });
    try {
      const response = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(gw.insecurePort, "127.0.0.1");
        let text = "";
        const timer = setTimeout(() => {
          socket.destroy();
          resolve(text);
        }, 3000);
        socket.on("data", (c: Buffer) => {
          text += c.toString("latin1");
          if (text.includes("\r\n\r\n")) {
            clearTimeout(timer);
            socket.destroy();
            resolve(text);
          }
        });
        socket.on("error", reject);
        socket.write(upgradeRequest("/ws-allowed"));
      });
      assert.equal(statusOf(response), 101, response);
      assert.ok(upstream.received.some((r) => r.method === "UPGRADE" && r.url === "/ws-allowed"));
    } finally {
      await gw.close();
    }
  });

  it("audits a password sent in plaintext Authorization as credential.exposed (SPEC §5)", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "allow" } });
    try {
      await gw.http("/page", { headers: { authorization: `Basic ${Buffer.from("alice:pw").toString("base64")}` } });
      assert.equal(exposures(gw).length, 1, "a password crossed the network in the clear and nothing was audited");
    } finally {
      await gw.close();
    }
  });
});

describe("the gateway's own routes on both listeners", () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startTestUpstream();
  });
  after(() => upstream.close());

  for (const mode of ["redirect", "reject", "allow"] as const) {
    it(`answers GET /gateway/healthz with 200 {"status":"ok"} on both listeners in ${mode} mode`, async () => {
      const gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: mode } });
      try {
        for (const res of [await gw.https("/gateway/healthz"), await gw.http("/gateway/healthz")]) {
          assert.equal(res.status, 200);
          assert.deepEqual(res.json(), { status: "ok" });
        }
        const cookie = "portcullis_session=whatever";
        const withCookie = await gw.http("/gateway/healthz", { headers: { cookie } });
        assert.equal(withCookie.status, 200);
      } finally {
        await gw.close();
      }
    });

    it(`answers an unknown /gateway/ path with 404 and never proxies it in ${mode} mode`, async () => {
      const gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: mode } });
      const before = upstream.received.length;
      try {
        const secure = await gw.https("/gateway/no-such-thing", { headers: { accept: "application/json" } });
        assert.equal(secure.status, 404);
        assert.equal(secure.json<{ error: string }>().error, "ERR_NOT_FOUND");
        const plain = await gw.http("/gateway/no-such-thing", { headers: { host: "example.test" } });
        // Plaintext meets the router policy first; in allow mode it reaches the gateway's own 404.
        assert.equal(plain.status, mode === "redirect" ? 308 : mode === "reject" ? 403 : 404);
        assert.equal(upstream.received.length, before);
      } finally {
        await gw.close();
      }
    });
  }
});

// Issue #15: the gateway's paths are never proxied, however an upstream would read the path.
describe("paths that an upstream reads as under the gateway's prefix", () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startTestUpstream();
  });
  after(() => upstream.close());

  it("are answered 404 and never proxied: Tomcat path parameters on the prefix segment", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url } });
    try {
      for (const path of ["/gateway;jsessionid=1/xapi/siteConfig", "/gateway;x/login", "/gateway;"]) {
        const res = await gw.https(path, { headers: { accept: "application/json" } });
        assert.equal(res.status, 404, path);
        assert.equal(res.json<{ error: string }>().error, "ERR_NOT_FOUND");
      }
      assert.equal(upstream.received.length, 0);
    } finally {
      await gw.close();
    }
  });

  it("are answered 404 in another letter case when access.caseInsensitivePaths is on, and proxied when it is off", async () => {
    const insensitive = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "bypass", caseInsensitivePaths: true } });
    const sensitive = await startTestGateway({ upstream: { url: upstream.url } });
    try {
      const before = upstream.received.length;
      for (const path of ["/GATEWAY/xapi/siteConfig", "/Gateway/login", "/gateWay"]) assert.equal((await insensitive.https(path)).status, 404, path);
      assert.equal(upstream.received.length, before);
      assert.equal((await sensitive.https("/GATEWAY/xapi/siteConfig")).status, 200);
    } finally {
      await insensitive.close();
      await sensitive.close();
    }
  });

  it("do not include paths that only start like the prefix", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url } });
    try {
      for (const path of ["/gatewayx/a", "/gateway-old/a", "/app/gateway/a"]) assert.equal((await gw.https(path)).status, 200, path);
    } finally {
      await gw.close();
    }
  });
});

// Issue #15 (SPEC §5): with publicUrl set, redirects name only it, whatever Host the client sent.
describe("redirects with publicUrl set", () => {
  const PUBLIC = "https://portal.example.org:8443";
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startTestUpstream();
  });
  after(() => upstream.close());

  it("send every plaintext request to publicUrl with the normalised path and query, whatever the Host", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url }, publicUrl: PUBLIC });
    try {
      for (const host of ["example.test:1234", "evil.test", "[::1]:80", "localhost", `127.0.0.1:${gw.insecurePort}`, "portal.example.org"]) {
        const res = await gw.http("/a/./b/../c/?k=v&x=1", { headers: { host } });
        assert.equal(res.status, 308, host);
        assert.equal(res.headers.location, `${PUBLIC}/a/c/?k=v&x=1`, host);
      }
      const post = await gw.http("/submit", { method: "POST", headers: { host: "evil.test", "content-type": "text/plain" }, body: "payload" });
      assert.equal(post.status, 308);
      assert.equal(post.headers.location, `${PUBLIC}/submit`);
      assert.equal(upstream.received.length, 0);
    } finally {
      await gw.close();
    }
  });

  it("redirect to publicUrl even for a Host header that is not a host name, and never echo it", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url }, publicUrl: PUBLIC });
    try {
      for (const host of ["evil.test/path", "evil.test@attacker.test", "[not-ipv6]:80"]) {
        const response = await raw(gw.insecurePort, `GET /x?y=1 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        assert.equal(statusOf(response), 308, response);
        assert.match(response, new RegExp(`^location: ${PUBLIC.replace(/[.]/g, "\\.")}/x\\?y=1\r$`, "im"));
        assert.doesNotMatch(response, /attacker|evil/i);
      }
    } finally {
      await gw.close();
    }
  });

  it("leave the port out when publicUrl names none (443)", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url }, publicUrl: "https://portal.example.org" });
    try {
      const res = await gw.http("/x", { headers: { host: "example.test:4063" } });
      assert.equal(res.headers.location, "https://portal.example.org/x");
    } finally {
      await gw.close();
    }
  });

  it("name publicUrl in reject mode's refusal", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url }, publicUrl: PUBLIC, router: { insecure: "reject" } });
    try {
      const res = await gw.http("/data/x?y=1", { headers: { host: "evil.test" } });
      assert.equal(res.status, 403);
      assert.ok(res.body.includes(`${PUBLIC}/data/x?y=1`), res.body);
      assert.doesNotMatch(res.body, /evil/);
    } finally {
      await gw.close();
    }
  });

  it("send allow mode's TLS-only routes to publicUrl: GET with 308 to the same path, POST with 303 to the login page", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url }, publicUrl: PUBLIC, router: { insecure: "allow" } });
    try {
      const page = await gw.http("/gateway/login?returnTo=%2Fapp", { headers: { host: "evil.test" } });
      assert.equal(page.status, 308);
      assert.equal(page.headers.location, `${PUBLIC}/gateway/login?returnTo=%2Fapp`);
      const post = await gw.http("/gateway/login", { method: "POST", headers: { host: "evil.test", "content-type": "application/x-www-form-urlencoded" }, body: "username=admin&password=admin-password-1" });
      assert.equal(post.status, 303);
      assert.equal(post.headers.location, `${PUBLIC}/gateway/login`);
    } finally {
      await gw.close();
    }
  });

  it("leave the request's Host in redirects when publicUrl is not set", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url } });
    try {
      const res = await gw.http("/x", { headers: { host: "example.test" } });
      assert.equal(res.headers.location, `https://example.test:${gw.securePort}/x`);
    } finally {
      await gw.close();
    }
  });
});

// Issue #15: a 308 made the browser send the login form's password again, to whatever Host said.
describe("allow mode's TLS-only routes on the plaintext port", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "allow" } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const FORM = { "content-type": "application/x-www-form-urlencoded", host: "example.test" };
  const notGet: [string, string][] = [
    ["POST", "/gateway/login"],
    ["POST", "/gateway/password"],
    ["POST", "/gateway/password/forgot"],
    ["POST", "/gateway/password/reset"],
    ["POST", "/gateway/xapi/siteConfig"],
    ["DELETE", "/gateway/xapi/siteConfig/values/siteId"],
    ["POST", "/gateway/admin/users/admin/unlock"],
    ["DELETE", "/gateway/admin/sessions/abc"],
  ];
  for (const [method, path] of notGet) {
    it(`answers ${method} ${path} with 303 to the login page over TLS, so the body is not sent again`, async () => {
      // Node's client sends a DELETE body unframed: DELETE goes without one.
      const res = await gw.http(`${path}?x=1`, method === "DELETE" ? { method, headers: { host: "example.test" } } : { method, headers: FORM, body: "username=admin&password=admin-password-1" });
      assert.equal(res.status, 303);
      assert.equal(res.headers.location, `https://example.test:${gw.securePort}/gateway/login`);
      assert.equal(res.headers["set-cookie"], undefined);
      assert.equal(upstream.received.length, 0);
    });
  }

  for (const method of ["GET", "HEAD"]) {
    it(`answers ${method} on a TLS-only route with 308 to the same path and query over TLS`, async () => {
      const res = await gw.http("/gateway/password/forgot?x=1", { method, headers: { host: "example.test" } });
      assert.equal(res.status, 308);
      assert.equal(res.headers.location, `https://example.test:${gw.securePort}/gateway/password/forgot?x=1`);
    });
  }
});

describe("the ports the gateway reports", () => {
  it("are the ports its listeners are bound to", async () => {
    const upstream = await startTestUpstream();
    const gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "allow" } });
    try {
      const secure = gw.gateway.port("secure");
      const insecure = gw.gateway.port("insecure");
      assert.ok(secure > 0 && insecure > 0);
      assert.notEqual(secure, insecure);
      // Real connections on the reported ports reach the matching listener.
      assert.equal((await gw.https("/gateway/healthz")).status, 200);
      assert.equal((await gw.http("/gateway/healthz")).status, 200);
      const plainToSecure = await raw(secure, "GET /gateway/healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
      assert.notEqual(statusOf(plainToSecure), 200, "the secure port answered plaintext HTTP");
      const listening = gw.logs.lines.find((l) => l.msg === "portcullis listening");
      assert.ok(listening);
      assert.match(String(listening.secure), new RegExp(`:${secure}/$`));
      assert.match(String(listening.insecure), new RegExp(`:${insecure}/$`));
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
