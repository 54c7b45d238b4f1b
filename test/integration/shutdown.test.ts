import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with how long `promise` took, or rejects when it takes longer than `limitMs`. */
async function within<T>(limitMs: number, what: string, promise: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${limitMs} ms`)), limitMs);
  });
  try {
    const value = await Promise.race([promise, limit]);
    return { value, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** Waits (at most `limitMs`) until `condition` holds. */
async function until(condition: () => boolean, what: string, limitMs = 2000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${limitMs} ms`);
    await sleep(10);
  }
}

/** Tries a fresh TCP connection; resolves with the error code, or "connected". */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("timeout");
    }, 1000);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

describe("graceful shutdown", () => {
  let upstream: TestUpstream;
  /** Upstream answers held back by a test, released in `after` so nothing dangles. */
  const held: http.ServerResponse[] = [];
  before(async () => {
    upstream = await startTestUpstream();
  });
  after(async () => {
    for (const res of held) res.destroy();
    await upstream.close();
  });

  it("lets an in-flight request finish, refuses new connections once close begins, then resolves", { timeout: 10_000 }, async () => {
    upstream.behave((req, res) => {
      setTimeout(() => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`slow answer for ${req.url}`);
      }, 300);
    });
    const gw = await startTestGateway({ upstream: { url: upstream.url } });
    let closing: Promise<void> | undefined;
    try {
      const before = upstream.received.length;
      const inFlight = gw.https("/slow/one");
      await until(() => upstream.received.length > before, "the request reaching the upstream");

      let closeResolvedAt = 0;
      closing = gw.gateway.close().then(() => {
        closeResolvedAt = Date.now();
      });
      await sleep(20);
      assert.equal(await tryConnect(gw.securePort), "ECONNREFUSED", "the secure listener still accepts after close began");
      assert.equal(await tryConnect(gw.insecurePort), "ECONNREFUSED", "the insecure listener still accepts after close began");

      const { value: res } = await within(3000, "the in-flight request", inFlight);
      const answeredAt = Date.now();
      assert.equal(res.status, 200);
      assert.equal(res.body, "slow answer for /slow/one");

      const { ms } = await within(3000, "close()", closing);
      assert.ok(ms < 3000);
      assert.ok(closeResolvedAt >= answeredAt - 50, "close() resolved before the in-flight request had its answer");
    } finally {
      await closing?.catch(() => undefined);
      gw.pki.cleanup();
    }
  });

  it("does not wait for idle keep-alive connections", { timeout: 10_000 }, async () => {
    upstream.behave((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    });
    // The default grace (10 s) would show if close() waited for the idle connection to time out.
    const gw = await startTestGateway({ upstream: { url: upstream.url }, limits: { keepAliveTimeout: "30 seconds" } });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = https.get({ host: "127.0.0.1", port: gw.securePort, path: "/idle", agent, ca: gw.pki.ca.cert, servername: "localhost" }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
      });
      assert.equal(status, 200);
      const freeSockets = Object.values(agent.freeSockets).flat();
      assert.equal(freeSockets.length, 1, "the keep-alive connection is not idle in the agent");
      const socketClosed = new Promise<void>((r) => freeSockets[0]!.once("close", () => r()));
      const { ms } = await within(2000, "close() with an idle keep-alive connection", gw.gateway.close());
      assert.ok(ms < 2000);
      await within(1000, "the idle connection being closed", socketClosed);
    } finally {
      agent.destroy();
      gw.pki.cleanup();
    }
  });

  /** A TLS connection (handshake done) and a plaintext one, neither of which has sent anything. */
  async function silentConnections(gw: TestGateway): Promise<net.Socket[]> {
    const tlsSocket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port: gw.securePort, ca: gw.pki.ca.cert, servername: "localhost" }, () => resolve(s));
      s.once("error", reject);
    });
    const plainSocket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(gw.insecurePort, "127.0.0.1", () => resolve(s));
      s.once("error", reject);
    });
    for (const s of [tlsSocket, plainSocket]) s.on("error", () => undefined);
    // Let the gateway see both connections (the TLS one after its handshake).
    await sleep(50);
    return [tlsSocket, plainSocket];
  }

  it("does not wait for connections that have stayed silent for a second (a browser's preconnect), TLS or plaintext", { timeout: 10_000 }, async () => {
    // The default grace (10 s) would show if close() waited for them to time out.
    const clock = new ManualClock(Date.now());
    const gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "allow" } }, { clock });
    const sockets: net.Socket[] = [];
    try {
      sockets.push(...(await silentConnections(gw)));
      const closedBy = sockets.map((s) => new Promise<void>((r) => s.once("close", () => r())));
      clock.advance(1_000);
      const { ms } = await within(3000, "close() with two connections that sent nothing", gw.gateway.close());
      assert.ok(ms < 3000);
      await within(1000, "both connections being closed", Promise.all(closedBy));
    } finally {
      for (const s of sockets) s.destroy();
      gw.pki.cleanup();
    }
  });

  it("answers a new connection whose first request arrives just after the shutdown began", { timeout: 10_000 }, async () => {
    upstream.behave((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("just in time");
    });
    const clock = new ManualClock(Date.now());
    const gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "allow" }, limits: { shutdownGrace: "5 seconds" } }, { clock });
    const sockets: net.Socket[] = [];
    try {
      sockets.push(...(await silentConnections(gw)));
      const answers = sockets.map((s) => {
        let text = "";
        s.on("data", (c: Buffer) => (text += c.toString("latin1")));
        return new Promise<string>((r) => s.once("close", () => r(text)));
      });
      const closing = gw.gateway.close();
      // Several of the shutdown's sweeps pass (every 50 ms) while the clock says the connections are new.
      await sleep(200);
      for (const s of sockets) s.write("GET /late HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
      await within(3000, "close() once both were answered", closing);
      for (const answer of await Promise.all(answers)) assert.match(answer, /^HTTP\/1\.1 200 [\s\S]*just in time/);
    } finally {
      for (const s of sockets) s.destroy();
      gw.pki.cleanup();
    }
  });

  it("lets a request whose headers are still arriving finish when they complete", { timeout: 10_000 }, async () => {
    upstream.behave((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("finished");
    });
    const gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "allow" }, limits: { shutdownGrace: "5 seconds" } });
    const socket = net.connect(gw.insecurePort, "127.0.0.1");
    try {
      socket.on("error", () => undefined);
      await new Promise<void>((r) => socket.once("connect", () => r()));
      let answer = "";
      socket.on("data", (c: Buffer) => (answer += c.toString("latin1")));
      socket.write("GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      await sleep(50);
      const closing = gw.gateway.close();
      await sleep(200);
      socket.write("X-Late: 1\r\n\r\n");
      await within(3000, "close() once the request was answered", closing);
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.match(answer, /finished/);
    } finally {
      socket.destroy();
      gw.pki.cleanup();
    }
  });

  it("closes a request the upstream never answers once limits.shutdownGrace has passed", { timeout: 10_000 }, async () => {
    upstream.behave((_req, res) => {
      held.push(res); // never answered
    });
    const gw = await startTestGateway({ upstream: { url: upstream.url }, limits: { shutdownGrace: "300 milliseconds" } });
    try {
      const before = upstream.received.length;
      const outcome = gw.https("/never").then(
        (res) => `answered ${res.status}`,
        (err: NodeJS.ErrnoException) => `closed: ${err.code ?? err.message}`,
      );
      await until(() => upstream.received.length > before, "the request reaching the upstream");

      const { ms } = await within(4000, "close() with a stuck request", gw.gateway.close());
      assert.ok(ms >= 250, `close() took ${ms} ms: it did not give the request its grace`);
      assert.ok(ms < 2000, `close() took ${ms} ms`);

      const { value } = await within(1000, "the client noticing its connection closed", outcome);
      assert.match(value, /^closed: (ECONNRESET|socket hang up)/);
    } finally {
      gw.pki.cleanup();
    }
  });

  it("closes an open WebSocket connection once limits.shutdownGrace has passed", { timeout: 10_000 }, async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "allow" }, limits: { shutdownGrace: "300 milliseconds" } });
    const socket = net.connect(gw.insecurePort, "127.0.0.1");
    try {
      socket.on("error", () => undefined);
      const clientClosed = new Promise<void>((r) => socket.once("close", () => r()));
      const head = await within(
        2000,
        "the WebSocket handshake",
        new Promise<string>((resolve) => {
          let text = "";
          const onData = (c: Buffer) => {
            text += c.toString("latin1");
            if (text.includes("\r\n\r\n")) {
              socket.off("data", onData);
              resolve(text);
            }
          };
          socket.on("data", onData);
          socket.write(
            "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
          );
        }),
      );
      assert.match(head.value, /^HTTP\/1\.1 101 /);

      const { ms } = await within(4000, "close() with an open WebSocket", gw.gateway.close());
      assert.ok(ms < 2000, `close() took ${ms} ms`);
      await within(1000, "the WebSocket connection being closed by the gateway", clientClosed);
    } finally {
      socket.destroy();
      gw.pki.cleanup();
    }
  });
});

describe("a gateway that has been closed", () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
    await within(3000, "close()", gw.close());
  });

  it("listens on neither port", async () => {
    assert.equal(await tryConnect(gw.securePort), "ECONNREFUSED");
    assert.equal(await tryConnect(gw.insecurePort), "ECONNREFUSED");
  });
});
