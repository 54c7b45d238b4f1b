/**
 * Upstream failures and client aborts (SPEC §7 "Upstream failures"; §2 on upstream socket leaks):
 * 502/504 with the request id, broken exchanges end the client's connection, and an exchange that
 * one side abandons releases the upstream connection without hurting the next request.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { after, afterEach, before, describe, it } from "node:test";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { echo, startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms until it holds or `ms` have passed; returns whether it held. */
async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(20);
  }
  return check();
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** How a response ended for the client: completely, or cut off (aborted / connection error). */
function fetchOutcome(gw: TestGateway, path: string, ms = 3000): Promise<{ outcome: "end" | "aborted" | "error" | "timeout"; status?: number; body: string }> {
  return new Promise((resolve) => {
    let body = "";
    let status: number | undefined;
    let settled = false;
    const done = (outcome: "end" | "aborted" | "error" | "timeout") => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ outcome, status, body });
    };
    const timer = setTimeout(() => {
      done("timeout");
      req.destroy();
    }, ms);
    const req = https.request({ host: "127.0.0.1", port: gw.securePort, path, ca: gw.pki.ca.cert, servername: "localhost", agent: false }, (res) => {
      status = res.statusCode;
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("aborted", () => done("aborted"));
      res.on("error", () => done("aborted"));
      res.on("end", () => done(res.complete ? "end" : "aborted"));
      res.on("close", () => done(res.complete ? "end" : "aborted"));
    });
    req.on("error", () => done("error"));
    req.end();
  });
}

/** A raw TLS connection to the secure listener. */
async function tlsClient(gw: TestGateway): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: "127.0.0.1", port: gw.securePort, ca: gw.pki.ca.cert, servername: "localhost" });
  socket.on("error", () => undefined);
  await once(socket, "secureConnect");
  return socket;
}

interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  socketClosed: boolean;
  reqClosed: boolean;
}

/**
 * An upstream that exposes each exchange as soon as its headers arrive (the shared test upstream
 * waits for the whole body), so a test can watch that exchange's socket close.
 */
interface WatchedUpstream {
  url: string;
  exchanges: Exchange[];
  behave(b: (x: Exchange) => void): void;
  openSockets(): number;
  close(): Promise<void>;
}

async function startWatchedUpstream(): Promise<WatchedUpstream> {
  const exchanges: Exchange[] = [];
  const sockets = new Set<net.Socket>();
  let behaviour: (x: Exchange) => void = (x) => {
    x.req.resume();
    x.req.on("end", () => x.res.end("ok"));
  };
  const server = http.createServer((req, res) => {
    const x: Exchange = { req, res, socketClosed: false, reqClosed: false };
    req.socket.once("close", () => (x.socketClosed = true));
    req.once("close", () => (x.reqClosed = true));
    req.on("error", () => undefined);
    res.on("error", () => undefined);
    exchanges.push(x);
    behaviour(x);
  });
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    behave: (b) => (behaviour = b),
    openSockets: () => sockets.size,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** An answer that never ends: a chunk every 50 ms until the connection goes. */
function trickle(x: Exchange): void {
  x.req.resume();
  x.res.writeHead(200, { "content-type": "text/plain" });
  x.res.write("begin\n");
  const timer = setInterval(() => x.res.write("more\n"), 50);
  x.res.on("close", () => clearInterval(timer));
}

async function healthy(gw: TestGateway): Promise<void> {
  const res = await gw.https("/gateway/healthz");
  assert.equal(res.status, 200);
}

describe("an upstream that cannot be reached", { timeout: 30_000 }, () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ upstream: { url: `http://127.0.0.1:${await closedPort()}` }, limits: { shutdownGrace: "1 second" } });
  });
  after(() => gw.close());

  it("gives a browser a 502 page that carries the request id", async () => {
    const res = await gw.https("/app/page", { headers: { accept: "text/html" } });
    assert.equal(res.status, 502);
    assert.match(String(res.headers["content-type"]), /^text\/html/);
    const id = res.headers["x-request-id"];
    assert.equal(typeof id, "string");
    assert.ok(res.body.includes(String(id)), "the page does not show the request id");
  });

  it("gives an API client JSON with ERR_UPSTREAM_UNREACHABLE and the request id", async () => {
    const res = await gw.https("/api/thing", { headers: { accept: "application/json" } });
    assert.equal(res.status, 502);
    assert.match(String(res.headers["content-type"]), /^application\/json/);
    const body = res.json<{ error: string; requestId: string }>();
    assert.equal(body.error, "ERR_UPSTREAM_UNREACHABLE");
    assert.equal(body.requestId, res.headers["x-request-id"]);
  });

  it("answers 502 with JSON to a POST that carries a body", async () => {
    const res = await gw.https("/api/thing", { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: '{"a":1}' });
    assert.equal(res.status, 502);
    assert.equal(res.json().error, "ERR_UPSTREAM_UNREACHABLE");
  });

  it("keeps answering 502 request after request, and stays healthy", async () => {
    for (let i = 0; i < 10; i++) assert.equal((await gw.https(`/again/${i}`)).status, 502);
    await healthy(gw);
  });

  it("logs the failure with the request id", async () => {
    const res = await gw.https("/logged", { headers: { accept: "application/json" } });
    const id = res.headers["x-request-id"];
    const severe = (level: unknown) => ["warn", "error", "fatal"].includes(String(level)) || Number(level) >= 40;
    assert.ok(gw.logs.lines.some((l) => l.requestId === id && severe(l.level)), "no warning logged for the request id");
  });
});

describe("an upstream that is too slow", { timeout: 30_000 }, () => {
  let upstream: WatchedUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startWatchedUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url, timeout: "300 milliseconds" }, limits: { shutdownGrace: "1 second" } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("gives 504 ERR_UPSTREAM_TIMEOUT with the request id, soon after the timeout", async () => {
    upstream.behave((x) => x.req.resume()); // never answers
    const started = Date.now();
    const res = await gw.https("/slow", { headers: { accept: "application/json" } });
    const elapsed = Date.now() - started;
    assert.equal(res.status, 504);
    const body = res.json<{ error: string; requestId: string }>();
    assert.equal(body.error, "ERR_UPSTREAM_TIMEOUT");
    assert.equal(body.requestId, res.headers["x-request-id"]);
    assert.ok(elapsed >= 250, `answered after ${elapsed} ms, before the timeout`);
    assert.ok(elapsed < 3000, `answered after ${elapsed} ms`);
  });

  it("gives a browser a 504 page with the request id", async () => {
    upstream.behave((x) => x.req.resume());
    const res = await gw.https("/slow-page", { headers: { accept: "text/html" } });
    assert.equal(res.status, 504);
    assert.ok(res.body.includes(String(res.headers["x-request-id"])));
  });

  it("gives 504 with JSON to a POST that carries a body", async () => {
    upstream.behave((x) => x.req.resume());
    const res = await gw.https("/slow-post", { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: '{"a":1}' });
    assert.equal(res.status, 504);
    assert.equal(res.json().error, "ERR_UPSTREAM_TIMEOUT");
  });

  it("closes the upstream connection of the request that timed out", async () => {
    upstream.behave((x) => x.req.resume());
    const before = upstream.exchanges.length;
    const res = await gw.https("/slow-close");
    assert.equal(res.status, 504);
    const x = upstream.exchanges[before];
    assert.ok(x, "the request did not reach the upstream");
    assert.ok(await eventually(() => x.socketClosed, 2000), "the upstream socket of the timed-out request is still open");
  });

  it("ends the client's connection when the upstream stalls mid-body longer than the timeout", async () => {
    upstream.behave((x) => {
      x.req.resume();
      x.res.writeHead(200, { "content-type": "text/plain" });
      x.res.write("partial");
    });
    const started = Date.now();
    const r = await fetchOutcome(gw, "/stall-mid-body", 4000);
    assert.equal(r.status, 200);
    assert.notEqual(r.outcome, "end", "a truncated body was passed off as complete");
    assert.notEqual(r.outcome, "timeout", "the client connection was not ended");
    assert.ok(Date.now() - started < 3000);
  });

  it("keeps answering once the upstream is fast again", async () => {
    upstream.behave((x) => {
      x.req.resume();
      x.res.end("fast");
    });
    const res = await gw.https("/fast");
    assert.equal(res.status, 200);
    assert.equal(res.body, "fast");
  });
});

describe("an upstream that resets the connection mid-response", { timeout: 30_000 }, () => {
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

  it("cuts off the client's chunked response instead of ending it as if complete", async () => {
    upstream.behave((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("part of the answer\n");
      setTimeout(() => res.socket?.destroy(), 30);
    });
    const r = await fetchOutcome(gw, "/reset-chunked");
    assert.equal(r.status, 200);
    assert.ok(r.outcome === "aborted" || r.outcome === "error", `the client saw ${r.outcome}`);
  });

  it("cuts off the client's response when fewer bytes than Content-Length arrived", async () => {
    upstream.behave((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "1000" });
      res.write("only a little");
      setTimeout(() => res.socket?.destroy(), 30);
    });
    const r = await fetchOutcome(gw, "/reset-length");
    assert.ok(r.outcome === "aborted" || r.outcome === "error", `the client saw ${r.outcome}`);
  });

  it("answers 502 when the upstream resets before sending headers", async () => {
    upstream.behave((req) => req.socket.destroy());
    const res = await gw.https("/reset-early", { headers: { accept: "application/json" } });
    assert.equal(res.status, 502);
    assert.equal(res.json().error, "ERR_UPSTREAM_UNREACHABLE");
  });

  it("keeps serving the next request after a reset", async () => {
    upstream.behave((_req, res) => {
      res.writeHead(200);
      res.write("x");
      setTimeout(() => res.socket?.destroy(), 10);
    });
    await fetchOutcome(gw, "/reset-again");
    upstream.behave(echo);
    const res = await gw.https("/after-reset");
    assert.equal(res.status, 200);
    assert.equal(res.json<{ url: string }>().url, "/after-reset");
    await healthy(gw);
  });
});

describe("a client that goes away", { timeout: 30_000 }, () => {
  let upstream: WatchedUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startWatchedUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, limits: { shutdownGrace: "1 second" } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  async function nextExchange(before: number): Promise<Exchange> {
    assert.ok(await eventually(() => upstream.exchanges.length > before, 2000), "the request did not reach the upstream");
    return upstream.exchanges[before]!;
  }

  async function stillServes(): Promise<void> {
    upstream.behave((x) => {
      x.req.resume();
      x.req.on("end", () => x.res.end("still here"));
    });
    const res = await gw.https("/next");
    assert.equal(res.status, 200);
    assert.equal(res.body, "still here");
  }

  it("mid-request body: the upstream connection of that exchange is closed and the gateway keeps serving", async () => {
    upstream.behave((x) => x.req.resume()); // waits for a body that never completes
    const before = upstream.exchanges.length;
    const client = await tlsClient(gw);
    client.write("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n");
    client.write(Buffer.alloc(50_000, 0x61));
    const x = await nextExchange(before);
    client.destroy();
    assert.ok(await eventually(() => x.socketClosed, 2000), "the upstream socket of the aborted upload is still open");
    await stillServes();
  });

  it("mid-response: the upstream connection of that exchange is closed and the gateway keeps serving", async () => {
    upstream.behave(trickle);
    const before = upstream.exchanges.length;
    const client = await tlsClient(gw);
    client.write("GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await once(client, "data"); // the answer has begun
    const x = await nextExchange(before);
    client.destroy();
    assert.ok(await eventually(() => x.socketClosed, 2000), "the upstream socket of the abandoned stream is still open");
    await stillServes();
  });

  it("before the answer's headers: the upstream connection of that exchange is closed", async () => {
    upstream.behave((x) => x.req.resume()); // the upstream thinks for a long time (upstream.timeout is 60 s)
    const before = upstream.exchanges.length;
    const client = await tlsClient(gw);
    client.write("GET /thinking HTTP/1.1\r\nHost: localhost\r\n\r\n");
    const x = await nextExchange(before);
    client.destroy();
    assert.ok(await eventually(() => x.socketClosed, 2000), "the upstream socket stays busy after the client left (held until upstream.timeout)");
    await stillServes();
  });

  it("a burst of 50 concurrent aborts neither crashes the gateway nor leaves upstream connections open", async () => {
    upstream.behave(trickle);
    const before = upstream.exchanges.length;
    const clients = await Promise.all(Array.from({ length: 50 }, () => tlsClient(gw)));
    clients.forEach((c, i) => {
      if (i % 2 === 0) {
        c.write(`GET /burst/${i} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      } else {
        c.write(`POST /burst/${i} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000\r\n\r\n`);
        c.write("y".repeat(3000));
      }
    });
    // Every request reaches the upstream (streams begin) before its client vanishes.
    await eventually(() => upstream.exchanges.length - before >= 50, 3000);
    const reached = upstream.exchanges.slice(before);
    assert.equal(reached.length, 50, `only ${reached.length} of 50 requests reached the upstream`);
    clients.forEach((c) => c.destroy());
    await healthy(gw);
    const allClosed = await eventually(() => reached.every((x) => x.socketClosed), 3000);
    assert.ok(allClosed, `${reached.filter((x) => !x.socketClosed).length} of 50 upstream sockets are still open`);
    await stillServes();
    await healthy(gw);
  });

  it("a burst of 50 clients that vanish at once mid-handshake and mid-headers does not crash the gateway", async () => {
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 25; i++) {
      const s = net.connect(gw.securePort, "127.0.0.1");
      s.on("error", () => undefined);
      s.on("connect", () => s.write(Buffer.from([0x16, 0x03, 0x01]))); // a TLS record header, then nothing
      sockets.push(s);
    }
    const half = await Promise.all(Array.from({ length: 25 }, () => tlsClient(gw)));
    half.forEach((c) => c.write("GET /half-a-request HTTP/1.1\r\nHost: loc"));
    await sleep(50);
    sockets.forEach((s) => s.destroy());
    half.forEach((c) => c.destroy());
    await healthy(gw);
    await stillServes();
  });
});
