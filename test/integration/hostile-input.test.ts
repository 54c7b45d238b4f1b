/**
 * Malformed, ambiguous, oversized and slow requests written byte by byte (request smuggling,
 * header overflow, slowloris, undecodable paths): each is refused with the right status, nothing
 * of it reaches the upstream, and the gateway keeps serving.
 */
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

interface RawReply {
  /** Everything the gateway wrote before it closed the connection (or the wait ended). */
  text: string;
  /** The status of the first response, or 0 when none came. */
  status: number;
  /** Whether the gateway closed the connection within the wait. */
  closed: boolean;
  elapsedMs: number;
}

/**
 * Writes `chunks` (with `gapMs` between them) to the secure listener over TLS, or to the insecure
 * one in plaintext, and collects what comes back until the connection closes or `waitMs` passes.
 */
async function raw(gw: TestGateway, chunks: (string | Buffer)[], options: { plaintext?: boolean; waitMs?: number; gapMs?: number } = {}): Promise<RawReply> {
  const waitMs = options.waitMs ?? 3000;
  const started = Date.now();
  const socket: net.Socket = options.plaintext
    ? net.connect(gw.insecurePort, "127.0.0.1")
    : tls.connect({ host: "127.0.0.1", port: gw.securePort, ca: gw.pki.ca.cert, servername: "localhost" });
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once(options.plaintext ? "connect" : "secureConnect", () => resolve());
    socket.once("error", reject);
  });
  const parts: Buffer[] = [];
  socket.on("data", (c: Buffer) => parts.push(c));
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), waitMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  void (async () => {
    for (const c of chunks) {
      if (socket.destroyed) return;
      socket.write(c);
      if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
    }
  })();
  const didClose = await closed;
  socket.destroy();
  const text = Buffer.concat(parts).toString("latin1");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return { text, status: m ? Number(m[1]) : 0, closed: didClose, elapsedMs: Date.now() - started };
}

function bodyOf(reply: RawReply): string {
  const i = reply.text.indexOf("\r\n\r\n");
  return i === -1 ? "" : reply.text.slice(i + 4);
}

describe("hostile input on the listeners", { timeout: 30_000 }, () => {
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

  /** Runs `attempt`, then checks that nothing reached the upstream and that the gateway still serves. */
  async function refusedWithNothingForwarded(attempt: () => Promise<RawReply>): Promise<RawReply> {
    const before = upstream.received.length;
    const reply = await attempt();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      upstream.received.slice(before).map((r) => `${r.method} ${r.url}`),
      [],
      "part of a refused request reached the upstream",
    );
    const health = await gw.https("/gateway/healthz");
    assert.equal(health.status, 200, "the gateway no longer answers its health check");
    return reply;
  }

  it("accepts a well-formed raw request, so the refusals below are about the input", async () => {
    const before = upstream.received.length;
    const reply = await raw(gw, ["GET /raw-ok HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"]);
    assert.equal(reply.status, 200);
    assert.equal(upstream.received.length, before + 1);
  });

  describe("request smuggling", () => {
    it("refuses Content-Length together with Transfer-Encoding with 400, and forwards nothing", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, [
          "POST /cl-te HTTP/1.1\r\nHost: localhost\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n" +
            "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ]),
      );
      assert.equal(reply.status, 400);
      assert.ok(reply.closed, "the connection stayed open after a framing error");
    });

    it("refuses Transfer-Encoding before Content-Length with 400", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, ["POST /te-cl HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"]),
      );
      assert.equal(reply.status, 400);
    });

    it("refuses two Content-Length headers with the same value with 400", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, ["POST /cl-cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"]),
      );
      assert.equal(reply.status, 400);
    });

    it("refuses two Content-Length headers with different values with 400", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, ["POST /cl-cl2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello"]),
      );
      assert.equal(reply.status, 400);
    });

    it("refuses a Transfer-Encoding whose last coding is not chunked with 400", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, ["POST /te-bad HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"]),
      );
      assert.equal(reply.status, 400);
    });

    it("refuses a malformed chunk size with 400", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, ["POST /chunk-bad HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"]),
      );
      assert.equal(reply.status, 400);
    });
  });

  describe("oversized headers", () => {
    it("answers 431 to a 40 KB header value (limits.maxHeaderSize 16384)", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, [`GET /big HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(40 * 1024)}\r\n\r\n`]),
      );
      assert.equal(reply.status, 431);
    });

    it("answers 431 to many small headers that together pass the limit", async () => {
      const many = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${"v".repeat(60)}\r\n`).join("");
      const reply = await refusedWithNothingForwarded(() => raw(gw, [`GET /many HTTP/1.1\r\nHost: localhost\r\n${many}\r\n`]));
      assert.equal(reply.status, 431);
    });

    it("answers 431 to a request line that alone passes the limit", async () => {
      const reply = await refusedWithNothingForwarded(() => raw(gw, [`GET /${"p".repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`]));
      assert.equal(reply.status, 431);
    });

    it("still forwards headers just under the limit", async () => {
      const reply = await raw(gw, [`GET /fits HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-Fits: ${"a".repeat(12 * 1024)}\r\n\r\n`]);
      assert.equal(reply.status, 200);
    });
  });

  describe("malformed headers", () => {
    it("refuses a request without Host with 400", async () => {
      const reply = await refusedWithNothingForwarded(() => raw(gw, ["GET /no-host HTTP/1.1\r\nConnection: close\r\n\r\n"]));
      assert.equal(reply.status, 400);
    });

    it("refuses a request with two Host headers with 400 (RFC 9112 §3.2)", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, ["GET /two-hosts HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n"]),
      );
      assert.equal(reply.status, 400);
    });

    it("refuses an obs-folded header (a continuation line) with 400", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, ["GET /fold HTTP/1.1\r\nHost: localhost\r\nX-Folded: first\r\n second\r\nConnection: close\r\n\r\n"]),
      );
      assert.equal(reply.status, 400);
    });

    it("refuses a folded line that would smuggle an identity header with 400", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, ["GET /fold-id HTTP/1.1\r\nHost: localhost\r\nX-Note: a\r\n X-Remote-User: admin\r\nConnection: close\r\n\r\n"]),
      );
      assert.equal(reply.status, 400);
    });

    const invalid: [string, string][] = [
      ["a space before the colon", "X-Remote-User : admin"],
      ["a space inside the name", "X Remote: admin"],
      ["a control character in the value", "X-Ctl: a\u0001b"],
      ["a NUL in the value", "X-Nul: a\u0000b"],
      ["a bare CR in the value", "X-Cr: a\rX-Remote-User: admin"],
      ["a DEL in the value", "X-Del: a\u007fb"],
      ["parentheses in the name", "X(Bad): 1"],
    ];
    for (const [what, line] of invalid) {
      it(`refuses a header with ${what} with 400`, async () => {
        const reply = await refusedWithNothingForwarded(() => raw(gw, [`GET /bad-header HTTP/1.1\r\nHost: localhost\r\n${line}\r\nConnection: close\r\n\r\n`]));
        assert.equal(reply.status, 400);
      });
    }

    it("refuses bare LF line endings with 400", async () => {
      const reply = await refusedWithNothingForwarded(() => raw(gw, ["GET /lf HTTP/1.1\nHost: localhost\nConnection: close\n\n"]));
      assert.equal(reply.status, 400);
    });

    it("refuses a request line with a space in the target with 400", async () => {
      const reply = await refusedWithNothingForwarded(() => raw(gw, ["GET /a b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"]));
      assert.equal(reply.status, 400);
    });

    it("refuses garbage that is not HTTP at all with 400, or closes", async () => {
      const reply = await refusedWithNothingForwarded(() => raw(gw, ["\u0000\u0001\u0002 hello there \r\n\r\n"]));
      assert.ok(reply.status === 400 || (reply.status === 0 && reply.closed), `got ${reply.status}, closed=${reply.closed}`);
    });
  });

  describe("paths that cannot be decoded", () => {
    for (const target of ["/%zz", "/%00", "/a/%E0%A4%A/b", "/x/%0d%0aX-Remote-User:%20admin"]) {
      it(`answers 400 ERR_BAD_PATH in JSON to ${target}`, async () => {
        const reply = await refusedWithNothingForwarded(() =>
          raw(gw, [`GET ${target} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n\r\n`]),
        );
        assert.equal(reply.status, 400);
        const body = JSON.parse(bodyOf(reply)) as { error: string; requestId: string };
        assert.equal(body.error, "ERR_BAD_PATH");
        assert.equal(typeof body.requestId, "string");
      });
    }

    it("answers 400 with a page to a browser asking for an undecodable path", async () => {
      const res = await gw.https("/%zz", { headers: { accept: "text/html" } });
      assert.equal(res.status, 400);
      assert.match(String(res.headers["content-type"]), /^text\/html/);
    });

    it("answers 400 to an undecodable path on the plaintext listener too", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, ["GET /%zz HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n\r\n"], { plaintext: true }),
      );
      assert.equal(reply.status, 400);
    });
  });

  describe("on the plaintext listener", () => {
    it("refuses request smuggling with 400 there too", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, ["POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX"], { plaintext: true }),
      );
      assert.equal(reply.status, 400);
    });

    it("answers 431 to oversized headers there too", async () => {
      const reply = await refusedWithNothingForwarded(() =>
        raw(gw, [`GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(40 * 1024)}\r\n\r\n`], { plaintext: true }),
      );
      assert.equal(reply.status, 431);
    });
  });

  it("is still healthy after every hostile request above, on both listeners", async () => {
    assert.equal((await gw.https("/gateway/healthz")).status, 200);
    assert.equal((await gw.http("/gateway/healthz")).status, 200);
    assert.equal((await gw.https("/after-hostile")).status, 200);
  });
});

describe("slow clients", { timeout: 30_000 }, () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, limits: { headersTimeout: "500 milliseconds", shutdownGrace: "1 second" } });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it("answers 408 (or closes) to half a request line that stalls, within 3 seconds", async () => {
    const before = upstream.received.length;
    const reply = await raw(gw, ["GET /slo"], { waitMs: 3000 });
    assert.ok(reply.closed, `the connection was still open after ${reply.elapsedMs} ms`);
    assert.equal(reply.status, 408);
    assert.ok(reply.elapsedMs >= 400, `closed after ${reply.elapsedMs} ms, before limits.headersTimeout`);
    assert.equal(upstream.received.length, before);
  });

  it("answers 408 to headers that trickle in a line at a time and never end (slowloris)", async () => {
    const lines = ["GET /slowloris HTTP/1.1\r\n", "Host: localhost\r\n", ...Array.from({ length: 40 }, (_, i) => `X-Drip-${i}: ${i}\r\n`)];
    const reply = await raw(gw, lines, { waitMs: 3000, gapMs: 100 });
    assert.ok(reply.closed, `the connection was still open after ${reply.elapsedMs} ms`);
    assert.equal(reply.status, 408);
    assert.ok(reply.elapsedMs < 3000);
  });

  it("closes a plaintext connection that sends nothing after connecting, within 3 seconds", async () => {
    const reply = await raw(gw, [], { plaintext: true, waitMs: 3000 });
    assert.ok(reply.closed, `the idle connection was still open after ${reply.elapsedMs} ms`);
  });

  it("still serves a prompt client while slow ones wait", async () => {
    const slow = raw(gw, ["GET /slo"], { waitMs: 3000 });
    const res = await gw.https("/prompt");
    assert.equal(res.status, 200);
    await slow;
    assert.equal((await gw.https("/gateway/healthz")).status, 200);
  });
});
