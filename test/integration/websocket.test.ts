/**
 * WebSocket upgrades through the gateway (SPEC §7: "WebSocket upgrades pass through with the same
 * checks"): the echo upstream answers through the secure listener, client claims are stripped and
 * forwarding headers written, and an upstream that cannot be reached never crashes the gateway.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { Agent, WebSocket } from "undici";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestUpstream, type Received, type TestUpstream } from "../helpers/upstream.js";
import { login } from "../helpers/auth.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A minimal RFC 6455 client over a socket: handshake, masked text frames out, text frames in. */
interface RawWs {
  status: number;
  head: string;
  send(text: string): void;
  next(ms?: number): Promise<string>;
  close(): void;
  /** Resolves true when the socket closes within `ms`. */
  closed(ms: number): Promise<boolean>;
}

async function rawWebSocket(
  gw: TestGateway,
  path: string,
  options: { headers?: Record<string, string>; plaintext?: boolean; waitMs?: number } = {},
): Promise<RawWs> {
  const socket: net.Socket = options.plaintext
    ? net.connect(gw.insecurePort, "127.0.0.1")
    : tls.connect({ host: "127.0.0.1", port: gw.securePort, ca: gw.pki.ca.cert, servername: "localhost" });
  socket.on("error", () => undefined);
  await once(socket, options.plaintext ? "connect" : "secureConnect");
  const extra = Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
  );
  let buffer = Buffer.alloc(0);
  let isClosed = false;
  const closedWaiters: (() => void)[] = [];
  socket.on("close", () => {
    isClosed = true;
    closedWaiters.splice(0).forEach((w) => w());
  });
  const waiters: (() => void)[] = [];
  socket.on("data", (c: Buffer) => {
    buffer = Buffer.concat([buffer, c]);
    waiters.splice(0).forEach((w) => w());
  });
  const waitFor = async (ready: () => boolean, ms: number, what: string) => {
    const deadline = Date.now() + ms;
    while (!ready()) {
      if (isClosed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
        closedWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  };
  let head = "";
  try {
    await waitFor(() => buffer.includes("\r\n\r\n"), options.waitMs ?? 3000, "handshake answer");
    const end = buffer.indexOf("\r\n\r\n");
    head = buffer.subarray(0, end).toString("latin1");
    buffer = buffer.subarray(end + 4);
  } catch {
    head = buffer.toString("latin1");
  }
  const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
  return {
    status: m ? Number(m[1]) : 0,
    head,
    send(text) {
      const payload = Buffer.from(text);
      assert.ok(payload.length < 126);
      const mask = Buffer.from([0x11, 0x22, 0x33, 0x44]);
      const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
      socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    },
    async next(ms = 2000) {
      await waitFor(() => buffer.length >= 2 && buffer.length >= 2 + (buffer[1]! & 0x7f), ms, "frame");
      const len = buffer[1]! & 0x7f;
      assert.ok(len < 126, "test frames are short");
      assert.equal(buffer[0]! & 0x0f, 0x1, "not a text frame");
      const text = buffer.subarray(2, 2 + len).toString("utf8");
      buffer = buffer.subarray(2 + len);
      return text;
    },
    close() {
      socket.destroy();
    },
    closed(ms) {
      if (isClosed) return Promise.resolve(true);
      return new Promise((resolve) => {
        const t = setTimeout(() => resolve(false), ms);
        closedWaiters.push(() => {
          clearTimeout(t);
          resolve(true);
        });
      });
    },
  };
}

function lastUpgrade(upstream: TestUpstream): Received {
  const r = [...upstream.received].reverse().find((x) => x.method === "UPGRADE");
  assert.ok(r, "the upstream saw no upgrade");
  return r;
}

describe("WebSockets through the secure listener", { timeout: 30_000 }, () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let dispatcher: Agent;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, limits: { shutdownGrace: "1 second" } });
    dispatcher = new Agent({ connect: { ca: gw.pki.ca.cert, servername: "localhost" } });
  });
  after(async () => {
    await dispatcher.close();
    await gw.close();
    await upstream.close();
  });

  it("round-trip text messages with the upstream's echo (undici WebSocket client)", async () => {
    const ws = new WebSocket(`wss://localhost:${gw.securePort}/ws/echo?room=1`, { dispatcher });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no open within 3 s")), 3000);
        ws.addEventListener("open", () => {
          clearTimeout(t);
          resolve();
        });
        ws.addEventListener("error", (e) => {
          clearTimeout(t);
          reject(new Error(`websocket error: ${(e as { message?: string }).message ?? "?"}`));
        });
      });
      const replies: string[] = [];
      const all = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`got ${replies.length} of 3 echoes`)), 3000);
        ws.addEventListener("message", (e) => {
          replies.push(String(e.data));
          if (replies.length === 3) {
            clearTimeout(t);
            resolve();
          }
        });
      });
      ws.send("hello");
      ws.send("wörld ✓");
      ws.send("x".repeat(300));
      await all;
      assert.deepEqual(replies, ["hello", "wörld ✓", "x".repeat(300)]);
      const seen = lastUpgrade(upstream);
      assert.equal(seen.url, "/ws/echo?room=1");
    } finally {
      ws.close();
    }
  });

  it("reach the upstream with X-Forwarded-* written by the gateway and client claims stripped", async () => {
    const ws = await rawWebSocket(gw, "/ws/claims", {
      headers: {
        "X-Remote-User": "admin",
        "x-remote-groups": "admin",
        "X-Portcullis-Assertion": "forged",
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Host": "evil.example",
        Forwarded: "for=203.0.113.9",
        "X-Real-IP": "203.0.113.9",
      },
    });
    try {
      assert.equal(ws.status, 101, ws.head);
      const h = lastUpgrade(upstream).headers;
      assert.equal(h["x-remote-user"], undefined);
      assert.equal(h["x-remote-groups"], undefined);
      assert.equal(h["x-portcullis-assertion"], undefined);
      assert.equal(h.forwarded, undefined);
      assert.equal(h["x-real-ip"], undefined);
      assert.equal(h["x-forwarded-for"], "127.0.0.1");
      assert.equal(h["x-forwarded-proto"], "https");
      assert.equal(h["x-forwarded-host"], "localhost");
      assert.equal(h["x-forwarded-port"], String(gw.securePort));
      assert.equal(typeof h["x-request-id"], "string");
      assert.equal(String(h.upgrade).toLowerCase(), "websocket");
      ws.send("ping through the gateway");
      assert.equal(await ws.next(), "ping through the gateway");
    } finally {
      ws.close();
    }
  });

  it("strip hop-by-hop headers the client's Connection header names, but keep the handshake", async () => {
    const ws = await rawWebSocket(gw, "/ws/hop", { headers: { Connection: "Upgrade, X-Secret", "X-Secret": "1", "Proxy-Authorization": "Basic eDp5" } });
    try {
      assert.equal(ws.status, 101, ws.head);
      const h = lastUpgrade(upstream).headers;
      assert.equal(h["x-secret"], undefined);
      assert.equal(h["proxy-authorization"], undefined);
      assert.equal(typeof h["sec-websocket-key"], "string");
    } finally {
      ws.close();
    }
  });

  it("never pass the client's credentials on: no Authorization, no session cookie, no header left empty", async () => {
    const basic = Buffer.from("admin:admin-password-1").toString("base64");
    const ws = await rawWebSocket(gw, "/ws/creds", { headers: { Authorization: `Basic ${basic}`, Cookie: "portcullis_session=whatever; app=1" } });
    try {
      assert.equal(ws.status, 101, ws.head);
      const h = lastUpgrade(upstream).headers;
      assert.equal(h.authorization, undefined);
      assert.equal(h.cookie, "app=1");
      assert.equal(h["x-remote-user"], "admin");
      for (const [name, value] of Object.entries(h)) assert.ok(value !== "undefined" && value !== "", `${name}: ${String(value)}`);
    } finally {
      ws.close();
    }
  });

  it("forward the normalised path of the upgrade", async () => {
    const ws = await rawWebSocket(gw, "/ws/../ws//norm?x=1");
    try {
      assert.equal(ws.status, 101, ws.head);
      assert.equal(lastUpgrade(upstream).url, "/ws/norm?x=1");
    } finally {
      ws.close();
    }
  });

  it("refuse an upgrade whose path cannot be decoded with 400, without reaching the upstream", async () => {
    const before = upstream.received.length;
    const ws = await rawWebSocket(gw, "/ws/%zz");
    try {
      assert.equal(ws.status, 400);
      assert.equal(upstream.received.length, before);
    } finally {
      ws.close();
    }
  });

  it("end the upstream side when the client goes away", async () => {
    // An upgrade server of our own, to see the gateway end (FIN) or close that exchange's upstream socket.
    const seen: { ended: boolean; closed: boolean }[] = [];
    const upgraded: net.Socket[] = [];
    const own = http.createServer();
    own.on("upgrade", (_req, socket: net.Socket) => {
      upgraded.push(socket);
      const state = { ended: false, closed: false };
      seen.push(state);
      socket.on("error", () => undefined);
      socket.on("end", () => (state.ended = true));
      socket.on("close", () => (state.closed = true));
      socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    });
    await new Promise<void>((r) => own.listen(0, "127.0.0.1", r));
    const ownGw = await startTestGateway({ upstream: { url: `http://127.0.0.1:${(own.address() as net.AddressInfo).port}` }, limits: { shutdownGrace: "1 second" } });
    try {
      const ws = await rawWebSocket(ownGw, "/ws/leave");
      assert.equal(ws.status, 101, ws.head);
      assert.equal(seen.length, 1);
      ws.close();
      const deadline = Date.now() + 2000;
      while (!(seen[0]!.ended || seen[0]!.closed) && Date.now() < deadline) await sleep(20);
      assert.ok(seen[0]!.ended || seen[0]!.closed, "the upstream WebSocket connection was neither ended nor closed after the client left");
    } finally {
      await ownGw.close();
      upgraded.forEach((u) => u.destroy());
      own.closeAllConnections();
      await new Promise<void>((r) => own.close(() => r()));
    }
  });
});

// Issue #15: an upgrade under paths.prefix was passed to the upstream, as the signed-in user.
describe("WebSockets to the gateway's own paths", { timeout: 30_000 }, () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let insensitive: TestGateway;
  let session: string;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "allow" }, limits: { shutdownGrace: "1 second" } });
    // Unlocked, so usable on the plaintext port in allow mode.
    session = (await login(gw, "admin", "admin-password-1")).cookie;
    insensitive = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "bypass", caseInsensitivePaths: true }, limits: { shutdownGrace: "1 second" } });
  });
  after(async () => {
    await insensitive.close();
    await gw.close();
    await upstream.close();
  });

  const basicAdmin = `Basic ${Buffer.from("admin:admin-password-1").toString("base64")}`;
  const paths = [
    "/gateway/xapi/siteConfig",
    "/gateway",
    "/gateway/",
    "/gateway/login",
    "/gateway/healthz",
    "/gateway/no-such-route",
    "/gateway/admin/sessions?user=admin",
    "/gateway//xapi/siteConfig",
    "/app/../gateway/xapi/siteConfig",
    "/%67ateway/xapi/siteConfig",
    "/gateway;jsessionid=1/xapi/siteConfig",
  ];
  for (const path of paths) {
    for (const plaintext of [false, true]) {
      it(`answer an upgrade to ${path} ${plaintext ? "on the plaintext port (allow mode)" : "over TLS"} with 404, signed in or not, and never proxy it`, async () => {
        // Basic credentials are refused in plaintext before any path is looked at (exposure, SPEC §5).
        const credentials = plaintext ? [{ Cookie: session }] : [{ Cookie: session }, { Authorization: basicAdmin }];
        for (const headers of [{}, ...credentials]) {
          const before = upstream.received.length;
          const ws = await rawWebSocket(gw, path, { headers, plaintext });
          try {
            assert.equal(ws.status, 404, ws.head);
            assert.equal(upstream.received.length, before);
          } finally {
            ws.close();
          }
        }
      });
    }
  }

  it("answer an upgrade to the prefix in another letter case with 404 where paths are case-insensitive", async () => {
    for (const path of ["/GATEWAY/xapi/siteConfig", "/Gateway/login"]) {
      const before = upstream.received.length;
      const ws = await rawWebSocket(insensitive, path, { headers: { Authorization: basicAdmin } });
      try {
        assert.equal(ws.status, 404, ws.head);
        assert.equal(upstream.received.length, before);
      } finally {
        ws.close();
      }
    }
  });

  it("still pass on upgrades to paths that only start like the prefix", async () => {
    for (const path of ["/gatewayx/ws", "/app/gateway/ws", "/gate/ws"]) {
      const ws = await rawWebSocket(gw, path);
      try {
        assert.equal(ws.status, 101, `${path}: ${ws.head}`);
        assert.equal(lastUpgrade(upstream).url, path);
      } finally {
        ws.close();
      }
    }
  });
});

// Issue #15 (SPEC §6.5): browsers send cached Basic credentials with a cross-site handshake.
describe("WebSockets authenticated by Basic credentials", { timeout: 30_000 }, () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, limits: { shutdownGrace: "1 second" } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const basicAdmin = `Basic ${Buffer.from("admin:admin-password-1").toString("base64")}`;

  for (const site of ["cross-site", "same-site"]) {
    it(`are refused with 403 when a browser marks the handshake Sec-Fetch-Site: ${site}, and audited`, async () => {
      const before = upstream.received.length;
      const from = gw.logs.lines.length;
      const ws = await rawWebSocket(gw, "/ws/feed", { headers: { Authorization: basicAdmin, "Sec-Fetch-Site": site, "Sec-Fetch-Mode": "websocket", Origin: "https://evil.example" } });
      try {
        assert.equal(ws.status, 403, ws.head);
        assert.equal(upstream.received.length, before);
        const refused = gw.logs.lines.slice(from).filter((l) => l.audit === true && l.event === "csrf.refused");
        assert.equal(refused.length, 1);
        assert.equal(refused[0]!.reason, "websocket");
      } finally {
        ws.close();
      }
    });
  }

  const passed: Record<string, string>[] = [{ "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "websocket" }, { "Sec-Fetch-Site": "none" }, {}, { Origin: "https://tool.example" }];
  for (const headers of passed) {
    it(`are passed on with ${JSON.stringify(headers)} (same origin, or a script)`, async () => {
      const ws = await rawWebSocket(gw, "/ws/feed", { headers: { Authorization: basicAdmin, ...headers } });
      try {
        assert.equal(ws.status, 101, ws.head);
        assert.equal(lastUpgrade(upstream).headers["x-remote-user"], "admin");
      } finally {
        ws.close();
      }
    });
  }

  it("lose their method-override headers before reaching the upstream", async () => {
    const ws = await rawWebSocket(gw, "/ws/override", { headers: { Authorization: basicAdmin, "X-HTTP-Method-Override": "DELETE", "X-HTTP-Method": "PUT", "X-Method-Override": "PATCH" } });
    try {
      assert.equal(ws.status, 101, ws.head);
      const h = lastUpgrade(upstream).headers;
      assert.equal(h["x-http-method-override"], undefined);
      assert.equal(h["x-http-method"], undefined);
      assert.equal(h["x-method-override"], undefined);
    } finally {
      ws.close();
    }
  });

  it("get 401 without a Basic challenge when a browser sends them without credentials", async () => {
    const ws = await rawWebSocket(gw, "/data/ws", { headers: { "Sec-Fetch-Mode": "websocket", "User-Agent": "Mozilla/5.0" } });
    try {
      assert.equal(ws.status, 401, ws.head);
      assert.doesNotMatch(ws.head, /^www-authenticate:/im);
    } finally {
      ws.close();
    }
  });
});

describe("WebSockets on the plaintext listener", { timeout: 30_000 }, () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, limits: { shutdownGrace: "1 second" } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("are refused under the redirect policy and never reach the upstream", async () => {
    const before = upstream.received.length;
    const ws = await rawWebSocket(gw, "/ws/plain", { plaintext: true });
    try {
      assert.ok(ws.status >= 300 && ws.status < 500 && ws.status !== 101, `got ${ws.status}`);
      assert.equal(upstream.received.length, before);
    } finally {
      ws.close();
    }
  });
});

describe("WebSockets to an upstream that cannot be reached", { timeout: 30_000 }, () => {
  let gw: TestGateway;
  before(async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    gw = await startTestGateway({ upstream: { url: `http://127.0.0.1:${port}` }, limits: { shutdownGrace: "1 second" } });
  });
  after(() => gw.close());

  it("get a 502 (or a closed connection), and the gateway keeps serving", async () => {
    const ws = await rawWebSocket(gw, "/ws/nowhere");
    try {
      assert.ok(ws.status === 502 || (ws.status === 0 && (await ws.closed(2000))), `got ${ws.status}: ${ws.head}`);
      assert.notEqual(ws.status, 101);
    } finally {
      ws.close();
    }
    assert.equal((await gw.https("/gateway/healthz")).status, 200);
  });

  it("fail cleanly for the undici WebSocket client too, many times over", async () => {
    const dispatcher = new Agent({ connect: { ca: gw.pki.ca.cert, servername: "localhost" } });
    try {
      for (let i = 0; i < 10; i++) {
        const ws = new WebSocket(`wss://localhost:${gw.securePort}/ws/nowhere/${i}`, { dispatcher });
        const outcome = await new Promise<string>((resolve) => {
          const t = setTimeout(() => resolve("timeout"), 3000);
          ws.addEventListener("open", () => {
            clearTimeout(t);
            resolve("open");
          });
          ws.addEventListener("error", () => {
            clearTimeout(t);
            resolve("error");
          });
        });
        ws.close();
        assert.equal(outcome, "error");
      }
    } finally {
      await dispatcher.close();
    }
    assert.equal((await gw.https("/gateway/healthz")).status, 200);
  });
});
