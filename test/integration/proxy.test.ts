/**
 * What reaches the upstream and what comes back (SPEC §7 "Upstream requests"): methods, paths,
 * queries and bodies intact, hop-by-hop and client-claimed headers removed in both directions,
 * forwarding headers written by the gateway, normalised paths, keep-alive to the upstream.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type http from "node:http";
import https from "node:https";
import { after, afterEach, before, describe, it } from "node:test";
import { request, startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { echo, startTestUpstream, type Received, type TestUpstream } from "../helpers/upstream.js";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/**
 * An HTTPS request to the gateway with full control of the headers (names keep the case given) and
 * a body sent whole (`body`) or as chunks without a Content-Length (`chunks`).
 */
function send(
  gw: TestGateway,
  path: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; chunks?: string[] } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "127.0.0.1", port: gw.securePort, path, method: options.method ?? "GET", headers: options.headers, ca: gw.pki.ca.cert, servername: "localhost", agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(parts) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.setTimeout(5000, () => req.destroy(new Error("client timeout")));
    if (options.chunks) {
      const chunks = [...options.chunks];
      const next = () => {
        const c = chunks.shift();
        if (c === undefined) req.end();
        else req.write(c, () => setTimeout(next, 5));
      };
      next();
    } else {
      req.end(options.body);
    }
  });
}

function lastReceived(upstream: TestUpstream): Received {
  const r = upstream.received.at(-1);
  assert.ok(r, "the upstream received nothing");
  return r;
}

const sha256 = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");

describe("requests proxied to the upstream", { timeout: 30_000 }, () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, limits: { shutdownGrace: "1 second" } });
  });
  afterEach(() => upstream.behave(echo));
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  describe("the request the upstream sees", () => {
    it("carries the client's method, path and query unchanged", async () => {
      const res = await send(gw, "/api/items/42?sort=desc&q=a%20b&flag", { method: "DELETE" });
      assert.equal(res.status, 200);
      const got = lastReceived(upstream);
      assert.equal(got.method, "DELETE");
      assert.equal(got.url, "/api/items/42?sort=desc&q=a%20b&flag");
    });

    it("carries a JSON body of a POST with its content type and length", async () => {
      const body = JSON.stringify({ name: "scan-001", tags: ["a", "ü"], nested: { n: 1 } });
      const res = await send(gw, "/data/things", {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        body,
      });
      assert.equal(res.status, 200);
      const got = lastReceived(upstream);
      assert.equal(got.method, "POST");
      assert.equal(got.body, body);
      assert.equal(got.headers["content-type"], "application/json");
      assert.equal(got.headers["content-length"], String(Buffer.byteLength(body)));
    });

    it("carries a chunked request body that has no content length, whole and in order", async () => {
      const chunks = ["first,", "second,", "third,", "x".repeat(10_000), ",last"];
      const res = await send(gw, "/upload/chunked", { method: "PUT", headers: { "content-type": "text/plain" }, chunks });
      assert.equal(res.status, 200);
      const got = lastReceived(upstream);
      assert.equal(got.method, "PUT");
      assert.equal(got.body, chunks.join(""));
      assert.equal(got.headers["content-length"], undefined);
      assert.equal(got.headers["transfer-encoding"], "chunked");
    });

    it("carries a 1 MB body byte for byte, and returns the upstream's 2 MB answer whole", async () => {
      const line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_\n";
      const body = line.repeat(Math.ceil((1024 * 1024) / line.length)).slice(0, 1024 * 1024);
      const res = await send(gw, "/upload/large", { method: "POST", headers: { "content-type": "text/plain", "content-length": body.length }, body });
      assert.equal(res.status, 200);
      const got = lastReceived(upstream);
      assert.equal(got.body.length, body.length);
      assert.equal(sha256(got.body), sha256(body));
      const echoed = JSON.parse(res.body.toString("utf8")) as { body: string };
      assert.equal(sha256(echoed.body), sha256(body));
    });

    it("sends an empty GET without inventing a body", async () => {
      await send(gw, "/empty");
      const got = lastReceived(upstream);
      assert.equal(got.body, "");
      assert.equal(got.headers["transfer-encoding"], undefined);
      assert.ok(got.headers["content-length"] === undefined || got.headers["content-length"] === "0");
    });
  });

  describe("the response the client sees", () => {
    it("carries the upstream's status, custom headers and body", async () => {
      upstream.behave((_req, res) => {
        res.writeHead(201, { "content-type": "application/json", location: "/data/things/7", "x-custom-answer": "forty-two", "set-cookie": ["app=1; Path=/", "other=2; Path=/"] });
        res.end(JSON.stringify({ id: 7 }));
      });
      const res = await send(gw, "/data/things", { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
      assert.equal(res.status, 201);
      assert.equal(res.headers.location, "/data/things/7");
      assert.equal(res.headers["x-custom-answer"], "forty-two");
      assert.deepEqual(res.headers["set-cookie"], ["app=1; Path=/", "other=2; Path=/"]);
      assert.deepEqual(JSON.parse(res.body.toString()), { id: 7 });
    });

    it("answers HEAD with the upstream's headers, Content-Length included, and no body", async () => {
      upstream.behave((req, res) => {
        res.writeHead(200, { "content-type": "text/plain", "content-length": 12, "x-method": req.method ?? "" });
        res.end(req.method === "HEAD" ? undefined : "twelve bytes");
      });
      const head = await send(gw, "/file.txt", { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.headers["x-method"], "HEAD");
      assert.equal(head.headers["content-length"], "12");
      assert.equal(head.body.length, 0);
      const get = await send(gw, "/file.txt");
      assert.equal(get.body.toString(), "twelve bytes");
    });

    it("carries a 204 answer with no body", async () => {
      upstream.behave((_req, res) => {
        res.writeHead(204, { "x-deleted": "yes" });
        res.end();
      });
      const res = await send(gw, "/data/things/7", { method: "DELETE" });
      assert.equal(res.status, 204);
      assert.equal(res.headers["x-deleted"], "yes");
      assert.equal(res.body.length, 0);
    });

    it("carries a 404 from the upstream as the upstream wrote it", async () => {
      upstream.behave((_req, res) => {
        res.writeHead(404, { "content-type": "text/plain", "x-from": "app" });
        res.end("no such thing in the app\n");
      });
      const res = await send(gw, "/missing");
      assert.equal(res.status, 404);
      assert.equal(res.headers["x-from"], "app");
      assert.equal(res.body.toString(), "no such thing in the app\n");
    });

    /** The upstream writes a first part, then waits until the client has it before writing the rest. */
    async function streamed(headers: Record<string, string | number>) {
      let finish!: () => void;
      const upstreamMayFinish = new Promise<void>((r) => (finish = r));
      upstream.behave((_req, res) => {
        res.writeHead(200, { "content-type": "text/plain", ...headers });
        res.write("first part\n");
        void upstreamMayFinish.then(() => res.end("second part\n"));
      });
      return new Promise<{ firstBeforeEnd: boolean; body: string; te: string | undefined; length: string | undefined }>((resolve, reject) => {
        const timer = setTimeout(() => {
          finish();
          reject(new Error("the first part did not arrive before the upstream finished (response buffered?)"));
        }, 3000);
        const req = https.request({ host: "127.0.0.1", port: gw.securePort, path: "/stream", ca: gw.pki.ca.cert, servername: "localhost", agent: false }, (res) => {
          let body = "";
          let firstBeforeEnd = false;
          res.on("data", (c: Buffer) => {
            body += c.toString();
            if (!firstBeforeEnd && body.includes("first part")) {
              firstBeforeEnd = true;
              clearTimeout(timer);
              finish();
            }
          });
          res.on("end", () => resolve({ firstBeforeEnd, body, te: res.headers["transfer-encoding"], length: res.headers["content-length"] }));
        });
        req.on("error", reject);
        req.end();
      });
    }

    it("streams a chunked response: the client gets the first part before the upstream has finished", async () => {
      const outcome = await streamed({});
      assert.equal(outcome.firstBeforeEnd, true);
      assert.equal(outcome.body, "first part\nsecond part\n");
      assert.equal(outcome.te, "chunked");
    });

    it("streams a response with a Content-Length the same way: a first part is not held for the rest", async () => {
      const outcome = await streamed({ "content-length": "first part\nsecond part\n".length });
      assert.equal(outcome.firstBeforeEnd, true);
      assert.equal(outcome.body, "first part\nsecond part\n");
      assert.equal(outcome.length, "23");
      assert.equal(outcome.te, undefined);
    });

    it("carries the same X-Request-Id the upstream saw, not one the client chose", async () => {
      const res = await send(gw, "/rid", { headers: { "X-Request-Id": "client-chosen-id" } });
      const seen = lastReceived(upstream).headers["x-request-id"];
      assert.equal(typeof seen, "string");
      assert.notEqual(seen, "client-chosen-id");
      assert.equal(res.headers["x-request-id"], seen);
    });

    it("gives every request its own request id", async () => {
      const a = await send(gw, "/one");
      const b = await send(gw, "/two");
      assert.ok(a.headers["x-request-id"]);
      assert.notEqual(a.headers["x-request-id"], b.headers["x-request-id"]);
    });
  });

  describe("hop-by-hop headers", () => {
    it("are removed from the request, including those the client's Connection header names", async () => {
      const res = await send(gw, "/hop", {
        headers: {
          Connection: "keep-alive, X-Secret",
          "X-Secret": "1",
          "Keep-Alive": "timeout=99, max=1000",
          TE: "trailers",
          "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
          "Proxy-Connection": "keep-alive",
          "X-Kept": "yes",
        },
      });
      assert.equal(res.status, 200);
      const h = lastReceived(upstream).headers;
      assert.equal(h["x-secret"], undefined);
      assert.equal(h["keep-alive"], undefined);
      assert.equal(h.te, undefined);
      assert.equal(h["proxy-authorization"], undefined);
      assert.equal(h["proxy-connection"], undefined);
      assert.ok(!String(h.connection ?? "").toLowerCase().includes("x-secret"), `connection reached the upstream as ${h.connection}`);
      assert.equal(h["x-kept"], "yes");
    });

    it("named in Connection cannot remove the Host or the body's framing", async () => {
      const body = "framing must survive";
      const res = await send(gw, "/hop-framing", {
        method: "POST",
        headers: { Connection: "content-length, host", "Content-Length": Buffer.byteLength(body), Host: "app.example.test" },
        body,
      });
      assert.equal(res.status, 200);
      const got = lastReceived(upstream);
      assert.equal(got.body, body);
      assert.equal(got.headers.host, "app.example.test");
    });

    it("are removed from the response, including those the upstream's Connection header names", async () => {
      upstream.behave((_req, res) => {
        res.setHeader("Connection", "x-up");
        res.setHeader("X-Up", "1");
        res.setHeader("Keep-Alive", "timeout=77, max=99");
        res.setHeader("Proxy-Authenticate", "Basic realm=\"inner\"");
        res.setHeader("X-Stays", "yes");
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("ok");
      });
      const res = await send(gw, "/hop-response");
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), "ok");
      assert.equal(res.headers["x-up"], undefined);
      assert.ok(!String(res.headers["keep-alive"] ?? "").includes("77"), `keep-alive came back as ${res.headers["keep-alive"]}`);
      assert.ok(!String(res.headers.connection ?? "").toLowerCase().includes("x-up"), `connection came back as ${res.headers.connection}`);
      assert.equal(res.headers["proxy-authenticate"], undefined);
      assert.equal(res.headers["x-stays"], "yes");
    });
  });

  describe("headers through which a client could claim an identity or an origin", () => {
    it("never reach the upstream, whatever their case, and the gateway writes its own forwarding headers", async () => {
      const res = await send(gw, "/claims", {
        headers: {
          Host: "app.example.test",
          "X-Forwarded-For": "203.0.113.9",
          "x-forwarded-proto": "http",
          "X-FORWARDED-HOST": "evil.example",
          "X-Forwarded-Port": "1",
          "X-Forwarded-Prefix": "/evil",
          Forwarded: "for=203.0.113.9;proto=http;host=evil.example",
          "X-Real-IP": "203.0.113.9",
          "x-request-id": "spoofed-request-id",
          "X-Remote-User": "admin",
          "x-remote-groups": "admin,wheel",
          "X-REMOTE-EMAIL": "admin@example.test",
          "X-Remote-Provider": "local",
          "x-Portcullis-Assertion": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
        },
      });
      assert.equal(res.status, 200);
      const h = lastReceived(upstream).headers;
      for (const name of ["forwarded", "x-real-ip", "x-forwarded-prefix", "x-remote-user", "x-remote-groups", "x-remote-email", "x-remote-provider", "x-portcullis-assertion"]) {
        assert.equal(h[name], undefined, `${name} reached the upstream as ${String(h[name])}`);
      }
      assert.equal(h["x-forwarded-for"], "127.0.0.1");
      assert.equal(h["x-forwarded-proto"], "https");
      assert.equal(h["x-forwarded-host"], "app.example.test");
      assert.equal(h["x-forwarded-port"], String(gw.securePort));
      assert.notEqual(h["x-request-id"], "spoofed-request-id");
      assert.equal(h["x-request-id"], res.headers["x-request-id"]);
    });

    it("are removed even when sent twice", async () => {
      await send(gw, "/claims-twice", { headers: { "X-Remote-User": ["admin", "root"], "X-Forwarded-For": ["203.0.113.9", "198.51.100.1"] } });
      const h = lastReceived(upstream).headers;
      assert.equal(h["x-remote-user"], undefined);
      assert.equal(h["x-forwarded-for"], "127.0.0.1");
    });

    it("sets X-Forwarded-Host to the Host the client used", async () => {
      await send(gw, "/host");
      const h = lastReceived(upstream).headers;
      assert.equal(h["x-forwarded-host"], `127.0.0.1:${gw.securePort}`);
      assert.equal(h.host, `127.0.0.1:${gw.securePort}`);
    });
  });

  describe("paths", () => {
    const cases: [string, string][] = [
      ["/a/../b", "/b"],
      ["//x//y", "/x/y"],
      ["/a/./b/../c?q=/../x", "/a/c?q=/../x"],
      ["/%61bc", "/%61bc"],
      ["/files/name%20with%20spaces/%2e%2e/other", "/files/other"],
      ["/../../etc/passwd", "/etc/passwd"],
      ["/dir/..", "/"],
    ];
    for (const [sent, expected] of cases) {
      it(`are normalised before forwarding: ${sent} reaches the upstream as ${expected}`, async () => {
        const res = await send(gw, sent);
        assert.equal(res.status, 200);
        assert.equal(lastReceived(upstream).url, expected);
      });
    }
  });

  describe("connections to the upstream", () => {
    it("are kept alive: 20 sequential requests use far fewer than 20 upstream connections", async () => {
      const ports = new Set<number>();
      upstream.behave((req, res, body) => {
        ports.add(req.socket.remotePort ?? -1);
        echo(req, res, body);
      });
      for (let i = 0; i < 20; i++) {
        const res = await send(gw, `/keepalive/${i}`);
        assert.equal(res.status, 200);
      }
      assert.ok(ports.size <= 3, `20 requests used ${ports.size} upstream connections`);
    });

    it("are reused for requests that arrive on one keep-alive client connection", async () => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: gw.pki.ca.cert, servername: "localhost" });
      const ports = new Set<number>();
      upstream.behave((req, res, body) => {
        ports.add(req.socket.remotePort ?? -1);
        echo(req, res, body);
      });
      try {
        for (let i = 0; i < 10; i++) {
          const res = await request(https, gw.securePort, `/ka/${i}`, { agent, servername: "localhost" });
          assert.equal(res.status, 200);
        }
      } finally {
        agent.destroy();
      }
      assert.ok(ports.size <= 2, `10 requests used ${ports.size} upstream connections`);
    });
  });
});

describe("X-Forwarded-For and trusted proxies", { timeout: 30_000 }, () => {
  let upstream: TestUpstream;
  let trusting: TestGateway;
  let untrusting: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    trusting = await startTestGateway({ upstream: { url: upstream.url }, trustedProxies: ["127.0.0.1/32"], limits: { shutdownGrace: "1 second" } });
    untrusting = await startTestGateway({ upstream: { url: upstream.url }, limits: { shutdownGrace: "1 second" } });
  });
  after(async () => {
    await trusting.close();
    await untrusting.close();
    await upstream.close();
  });

  it("keeps the client's X-Forwarded-For when the peer is a trusted proxy, and appends the peer", async () => {
    const res = await send(trusting, "/xff", { headers: { "X-Forwarded-For": "203.0.113.9" } });
    assert.equal(res.status, 200);
    assert.equal(lastReceived(upstream).headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
  });

  it("drops hops reported by an untrusted address even behind a trusted proxy", async () => {
    await send(trusting, "/xff-chain", { headers: { "X-Forwarded-For": "198.51.100.7, 203.0.113.9" } });
    assert.equal(lastReceived(upstream).headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
  });

  it("writes only the peer address when a trusted proxy sends no X-Forwarded-For", async () => {
    await send(trusting, "/xff-none");
    assert.equal(lastReceived(upstream).headers["x-forwarded-for"], "127.0.0.1");
  });

  it("drops a spoofed X-Forwarded-For from a client that is not a trusted proxy", async () => {
    await send(untrusting, "/xff-spoof", { headers: { "X-Forwarded-For": "203.0.113.9" } });
    assert.equal(lastReceived(upstream).headers["x-forwarded-for"], "127.0.0.1");
  });

  it("still replaces X-Forwarded-Proto and X-Forwarded-Host from a trusted proxy", async () => {
    await send(trusting, "/xfp", { headers: { "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example", Host: "app.example.test" } });
    const h = lastReceived(upstream).headers;
    assert.equal(h["x-forwarded-proto"], "https");
    assert.equal(h["x-forwarded-host"], "app.example.test");
  });
});
