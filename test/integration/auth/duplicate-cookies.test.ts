/**
 * The session cookie sent more than once (issue #15): a browser sends every cookie whose domain and
 * path match, so a sibling domain can toss its own `portcullis_session` in front of ours (RFC 6265
 * §8.6), and a client can repeat it. Every value is read: the first valid session authenticates the
 * request, and on the plaintext port every session named is revoked (exposure, SPEC §5).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { MAX_COOKIE_VALUES } from "../../../src/sessions/cookie.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, COOKIE, DAY, audits, login } from "../../helpers/auth.js";

interface Echo {
  headers: Record<string, string>;
}

/** The value of a `portcullis_session=<value>` pair. */
const valueOf = (cookie: string) => cookie.slice(cookie.indexOf("=") + 1);

/** A value of the session cookie's shape that names no session. */
const JUNK = "AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/** The ways one session's cookie `v` can be sent so that a naive reader finds two or none. */
const PLAINTEXT_SHAPES: [string, (v: string) => string][] = [
  ["the same cookie twice", (v) => `${COOKIE}=${v}; ${COOKIE}=${v}`],
  ["the same cookie twice, once with a space before =", (v) => `${COOKIE}=${v}; ${COOKIE} =${v}`],
  ["a junk value in front of the real one", (v) => `${COOKIE}=junk; ${COOKIE}=${v}`],
  ["a session-shaped junk value in front of the real one", (v) => `${COOKIE}=${JUNK}; ${COOKIE}=${v}`],
  ["the real one, then junk, among other cookies", (v) => `theme=dark; ${COOKIE}=${v}; lang=en; ${COOKIE}=junk`],
  ["one cookie spelled with a space before =", (v) => `${COOKIE} =${v}`],
];

describe("a session cookie sent twice on the plaintext port (redirect mode)", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" } }, { clock: new ManualClock() });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  for (const [what, shape] of PLAINTEXT_SHAPES) {
    it(`revokes the session named by ${what}, audits the exposure and redirects`, async () => {
      const out = await login(gw, "admin", "admin-password-1");
      assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 200);
      const from = gw.logs.lines.length;
      const plain = await gw.http("/data/x", { headers: { ...API, cookie: shape(valueOf(out.cookie)) } });
      assert.equal(plain.status, 308);
      assert.equal(audits(gw, "credential.exposed", from).length, 1);
      assert.equal(audits(gw, "session.ended", from).length, 1);
      assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 401, "the exposed session still works over TLS");
    });
  }

  it("revokes every session a plaintext request names, not only the first", async () => {
    const sessions = [await login(gw, "admin", "admin-password-1"), await login(gw, "admin", "admin-password-1"), await login(gw, "admin", "admin-password-1")];
    const cookie = [`${COOKIE}=junk`, ...sessions.map((s) => s.cookie)].join("; ");
    const from = gw.logs.lines.length;
    assert.equal((await gw.http("/data/x", { headers: { ...API, cookie } })).status, 308);
    assert.equal(audits(gw, "session.ended", from).length, sessions.length);
    for (const s of sessions) assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: s.cookie } })).status, 401);
  });

  it("revokes the sessions named by a plaintext WebSocket upgrade's doubled cookie", async () => {
    const out = await login(gw, "admin", "admin-password-1");
    const socket = net.connect(gw.insecurePort, "127.0.0.1");
    const answer = await new Promise<string>((resolve, reject) => {
      let text = "";
      socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
      socket.write(
        `GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
          `Sec-WebSocket-Version: 13\r\nCookie: ${COOKIE}=junk; ${out.cookie}; ${out.cookie}\r\n\r\n`,
      );
    });
    assert.match(answer, /^HTTP\/1\.1 403 /);
    assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 401);
  });
});

describe("a session cookie sent twice on the plaintext port (reject mode)", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, router: { insecure: "reject" } }, { clock: new ManualClock() });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  for (const [what, shape] of PLAINTEXT_SHAPES.slice(0, 3)) {
    it(`revokes the session named by ${what} and refuses the request`, async () => {
      const out = await login(gw, "admin", "admin-password-1");
      assert.equal((await gw.http("/data/x", { headers: { ...API, cookie: shape(valueOf(out.cookie)) } })).status, 403);
      assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: out.cookie } })).status, 401);
      assert.equal(upstream.received.length, 0);
    });
  }
});

describe("a session cookie sent twice on the plaintext port (allow mode)", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" }, router: { insecure: "allow" } }, { clock: new ManualClock() });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  for (const lockedFirst of [false, true]) {
    it(`serves an unlocked session behind a junk value and ends a locked one named ${lockedFirst ? "before" : "after"} it`, async () => {
      const open = await login(gw, "admin", "admin-password-1");
      const locked = await login(gw, "admin", "admin-password-1", { encrypted: true });
      const from = gw.logs.lines.length;
      const order = lockedFirst ? [locked, open] : [open, locked];
      const res = await gw.http("/data/x", { headers: { ...API, cookie: [`${COOKIE}=junk`, ...order.map((o) => o.cookie)].join("; ") } });
      assert.equal(res.status, 200);
      assert.equal(res.json<Echo>().headers["x-remote-user"], "admin");
      assert.equal(audits(gw, "session.ended", from).filter((l) => l.reason === "exposed-in-plaintext").length, 1);
      assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: locked.cookie } })).status, 401, "the locked session survived plaintext");
      assert.equal((await gw.https("/data/x", { headers: { ...API, cookie: open.cookie } })).status, 200);
    });
  }
});

describe("a session cookie sent twice on the TLS port", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, access: { defaultPolicy: "authenticated" } }, { clock });
    await gw.gateway.accounts.add({ name: "bob", password: "bob-password-1", roles: ["user"] });
    await gw.gateway.accounts.add({ name: "mallory", password: "mallory-password-1", roles: ["user"] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  const TLS_SHAPES: [string, (real: string, ended: string) => string][] = [
    ["a junk value tossed in front", (v) => `${COOKIE}=junk; ${COOKIE}=${v}`],
    ["a session-shaped junk value in front", (v) => `${COOKIE}=${JUNK}; ${COOKIE}=${v}`],
    ["an empty value in front", (v) => `${COOKIE}=; ${COOKIE}=${v}`],
    ["an ended session's cookie in front", (v, ended) => `${COOKIE}=${ended}; ${COOKIE}=${v}`],
    ["the same cookie twice", (v) => `${COOKIE}=${v}; ${COOKIE}=${v}`],
    ["the same cookie twice with a space before =", (v) => `${COOKIE} =${v};${COOKIE}  = ${v}`],
    ["junk in front and behind, among other cookies", (v) => `a=1; ${COOKIE}=x; b=2; ${COOKIE}=${v}; ${COOKIE}=y; c=3`],
  ];

  for (const [what, shape] of TLS_SHAPES) {
    it(`authenticates by the real cookie behind ${what}, and passes none of them upstream`, async () => {
      const bob = await login(gw, "bob", "bob-password-1");
      const gone = await login(gw, "bob", "bob-password-1");
      assert.equal((await gw.https("/gateway/logout", { method: "POST", headers: { ...API, cookie: gone.cookie, "x-csrf-token": gone.csrfToken } })).status, 200);
      const res = await gw.https("/data/x", { headers: { ...API, cookie: shape(valueOf(bob.cookie), valueOf(gone.cookie)) } });
      assert.equal(res.status, 200, res.body);
      const echo = res.json<Echo>();
      assert.equal(echo.headers["x-remote-user"], "bob");
      assert.ok(!String(echo.headers.cookie ?? "").includes(COOKIE), `the upstream saw ${echo.headers.cookie}`);
      // A second request, served from the session cache, is authenticated the same way.
      const again = await gw.https("/data/x", { headers: { ...API, cookie: shape(valueOf(bob.cookie), valueOf(gone.cookie)) } });
      assert.equal(again.json<Echo>().headers["x-remote-user"], "bob");
    });
  }

  it("authenticates by the real cookie behind a session that timed out", async () => {
    const stale = await login(gw, "bob", "bob-password-1");
    clock.advance(DAY);
    const bob = await login(gw, "bob", "bob-password-1");
    const res = await gw.https("/data/x", { headers: { ...API, cookie: `${stale.cookie}; ${bob.cookie}` } });
    assert.equal(res.status, 200);
    assert.equal(res.json<Echo>().headers["x-remote-user"], "bob");
  });

  it("uses the first valid session when two valid ones are sent (the order the browser chose)", async () => {
    const bob = await login(gw, "bob", "bob-password-1");
    const mallory = await login(gw, "mallory", "mallory-password-1");
    const first = await gw.https("/data/x", { headers: { ...API, cookie: `${bob.cookie}; ${mallory.cookie}` } });
    assert.equal(first.json<Echo>().headers["x-remote-user"], "bob");
    const second = await gw.https("/data/x", { headers: { ...API, cookie: `${mallory.cookie}; ${bob.cookie}` } });
    assert.equal(second.json<Echo>().headers["x-remote-user"], "mallory");
  });

  it("answers 401 when no value names a valid session", async () => {
    const res = await gw.https("/data/x", { headers: { ...API, cookie: `${COOKIE}=junk; ${COOKIE}=${JUNK}; ${COOKIE}=` } });
    assert.equal(res.status, 401);
  });

  it(`looks at no more than ${MAX_COOKIE_VALUES} distinct values, so a stuffed header costs a bounded number of lookups`, async () => {
    const bob = await login(gw, "bob", "bob-password-1");
    const tossed = Array.from({ length: MAX_COOKIE_VALUES }, (_, i) => `${COOKIE}=junk${i}`);
    const within = await gw.https("/data/x", { headers: { ...API, cookie: [...tossed.slice(1), bob.cookie].join("; ") } });
    assert.equal(within.status, 200);
    const beyond = await gw.https("/data/x", { headers: { ...API, cookie: [...tossed, bob.cookie].join("; ") } });
    assert.equal(beyond.status, 401);
  });
});
