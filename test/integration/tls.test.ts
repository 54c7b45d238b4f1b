import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import { after, before, describe, it } from "node:test";
import { toPkcs12 } from "../../src/tls/dev-ca.js";
import { makePki, type TestPki } from "../helpers/certs.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";

interface Handshake {
  cn: string | undefined;
  protocol: string | null;
  /** The negotiated suite's OpenSSL name. */
  cipher: string;
}

/** The subject CN of a peer certificate (a CN given twice would come back as an array: refuse that). */
function commonName(cert: tls.PeerCertificate): string | undefined {
  const cn: unknown = cert.subject?.CN;
  return typeof cn === "string" ? cn : undefined;
}

/** Opens a TLS connection to the secure listener, trusting the test CA, and reports what was negotiated. */
function handshake(port: number, ca: string, options: tls.ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost", ...options });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("handshake did not finish within 3 s"));
    }, 3000);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const cert = socket.getPeerCertificate();
      const result = { cn: commonName(cert), protocol: socket.getProtocol(), cipher: socket.getCipher().name };
      socket.destroy();
      resolve(result);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/** Starts a gateway expected to fail, with a PKI the test owns so nothing leaks when it does. */
async function startFailing(pki: TestPki, overrides: Record<string, unknown>): Promise<unknown> {
  try {
    const gw = await startTestGateway(overrides, { pki });
    await gw.close();
  } catch (err) {
    return err;
  }
  assert.fail("the gateway started although its TLS material is unusable");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Old protocol versions need the client's security level lowered, or OpenSSL 3 would not even offer them. */
const legacyClient = (version: "TLSv1" | "TLSv1.1"): tls.ConnectionOptions => ({
  minVersion: version,
  maxVersion: version,
  ciphers: "DEFAULT@SECLEVEL=0",
});

describe("the certificate the secure listener serves", () => {
  let pki: TestPki;
  before(() => {
    pki = makePki();
  });
  after(() => pki.cleanup());

  it("is the configured PEM certificate", async () => {
    const server = pki.issue("pem-served");
    const gw = await startTestGateway({ tls: { cert: server.certFile, key: server.keyFile } }, { pki });
    try {
      const hs = await handshake(gw.securePort, pki.ca.cert);
      assert.equal(hs.cn, "pem-served");
    } finally {
      await gw.close();
    }
  });

  it("is the certificate of a password-protected PKCS#12 keystore", async () => {
    const server = pki.issue("from-keystore");
    const storeFile = path.join(pki.dir, "server.p12");
    fs.writeFileSync(storeFile, toPkcs12(server.pem, [pki.ca.cert], "s3cret-pass"));
    const gw = await startTestGateway({ tls: { keyStore: storeFile, keyStorePassword: "s3cret-pass" } }, { pki });
    try {
      const hs = await handshake(gw.securePort, pki.ca.cert);
      assert.equal(hs.cn, "from-keystore");
    } finally {
      await gw.close();
    }
  });

  it("refuses to start with a wrong keystore password, naming tls.keyStorePassword", async () => {
    const server = pki.issue("wrong-password");
    const storeFile = path.join(pki.dir, "wrong.p12");
    fs.writeFileSync(storeFile, toPkcs12(server.pem, [], "right-password"));
    const err = (await startFailing(pki, { tls: { keyStore: storeFile, keyStorePassword: "not-the-password" } })) as { code?: string; key?: string };
    assert.equal(err.code, "ERR_TLS_MATERIAL");
    assert.equal(err.key, "tls.keyStorePassword");
  });

  it("refuses to start when the tls.cert file does not exist, naming tls.cert", async () => {
    const server = pki.issue("missing-cert");
    const err = (await startFailing(pki, { tls: { cert: path.join(pki.dir, "no-such-cert.pem"), key: server.keyFile } })) as {
      code?: string;
      key?: string;
      message?: string;
    };
    assert.equal(err.code, "ERR_TLS_MATERIAL");
    assert.equal(err.key, "tls.cert");
    assert.match(err.message ?? "", /no-such-cert\.pem/);
  });

  it("refuses to start when the key does not belong to the certificate", async () => {
    const one = pki.issue("cert-one");
    const other = pki.issue("cert-other");
    const err = (await startFailing(pki, { tls: { cert: one.certFile, key: other.keyFile } })) as { code?: string; key?: string };
    assert.equal(err.code, "ERR_TLS_MATERIAL");
    assert.equal(err.key, "tls.key");
  });
});

describe("tls.minVersion", () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw.close());

  it("lets the test client speak TLSv1 and TLSv1.1 to a server that allows them (control)", async () => {
    // Without this, a client that cannot offer old versions at all would make the tests below pass vacuously.
    const server = gw.pki.issue("legacy-control");
    const legacy = tls.createServer(
      { key: server.pem.key, cert: server.pem.cert, minVersion: "TLSv1", ciphers: "DEFAULT@SECLEVEL=0" },
      (s) => s.end(),
    );
    await new Promise<void>((r) => legacy.listen(0, "127.0.0.1", r));
    try {
      const port = (legacy.address() as { port: number }).port;
      assert.equal((await handshake(port, gw.pki.ca.cert, legacyClient("TLSv1"))).protocol, "TLSv1");
      assert.equal((await handshake(port, gw.pki.ca.cert, legacyClient("TLSv1.1"))).protocol, "TLSv1.1");
    } finally {
      legacy.close();
    }
  });

  for (const version of ["TLSv1", "TLSv1.1"] as const) {
    it(`fails the handshake of a client offering only ${version} under the default TLSv1.2 minimum`, async () => {
      await assert.rejects(handshake(gw.securePort, gw.pki.ca.cert, legacyClient(version)), (err: NodeJS.ErrnoException) => {
        assert.match(`${err.code} ${err.message}`, /PROTOCOL|VERSION|HANDSHAKE|socket disconnected|ECONNRESET/i);
        return true;
      });
    });
  }

  it("accepts TLSv1.2 clients under the default minimum", async () => {
    const hs = await handshake(gw.securePort, gw.pki.ca.cert, { maxVersion: "TLSv1.2" });
    assert.equal(hs.protocol, "TLSv1.2");
  });

  describe("set to TLSv1.3", () => {
    let gw13: TestGateway;
    before(async () => {
      gw13 = await startTestGateway({ tls: { minVersion: "TLSv1.3" } });
    });
    after(() => gw13.close());

    it("fails the handshake of a client whose highest version is TLSv1.2", async () => {
      await assert.rejects(handshake(gw13.securePort, gw13.pki.ca.cert, { maxVersion: "TLSv1.2" }));
    });

    it("completes the handshake of a TLSv1.3 client", async () => {
      const hs = await handshake(gw13.securePort, gw13.pki.ca.cert, { minVersion: "TLSv1.3" });
      assert.equal(hs.protocol, "TLSv1.3");
    });
  });
});

describe("TLS 1.2 cipher suites (Mozilla intermediate)", () => {
  let gw: TestGateway;
  let control: tls.Server;
  let controlPort: number;
  before(async () => {
    gw = await startTestGateway();
    // Node's default suites, without the policy: shows that the client below really offers what it says.
    const server = gw.pki.issue("cipher-control");
    control = tls.createServer({ key: server.pem.key, cert: server.pem.cert }, (s) => s.end());
    await new Promise<void>((r) => control.listen(0, "127.0.0.1", r));
    controlPort = (control.address() as { port: number }).port;
  });
  after(async () => {
    control.close();
    await gw.close();
  });

  const tls12 = (ciphers: string): tls.ConnectionOptions => ({ maxVersion: "TLSv1.2", ciphers });

  for (const [suite, why] of [
    ["AES128-SHA", "static RSA key exchange with CBC"],
    ["AES256-GCM-SHA384", "static RSA key exchange (no forward secrecy)"],
    ["ECDHE-RSA-AES128-SHA", "CBC (Lucky13)"],
    ["ECDHE-RSA-AES256-SHA384", "CBC with SHA-384"],
  ] as const) {
    it(`fails the handshake of a TLS 1.2 client offering only ${suite}: ${why}`, async () => {
      assert.equal((await handshake(controlPort, gw.pki.ca.cert, tls12(suite))).cipher, suite, "control: Node's defaults accept it");
      await assert.rejects(handshake(gw.securePort, gw.pki.ca.cert, tls12(suite)), (err: NodeJS.ErrnoException) => {
        assert.match(`${err.code} ${err.message}`, /HANDSHAKE_FAILURE|NO_SHARED_CIPHER|NO_CIPHERS|socket disconnected|ECONNRESET/i);
        return true;
      });
    });
  }

  for (const suite of ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"]) {
    it(`completes the handshake of a TLS 1.2 client offering only ${suite}`, async () => {
      const hs = await handshake(gw.securePort, gw.pki.ca.cert, tls12(suite));
      assert.equal(hs.protocol, "TLSv1.2");
      assert.equal(hs.cipher, suite);
    });
  }

  it("chooses by the server's order, not the client's (honorCipherOrder)", async () => {
    const hs = await handshake(gw.securePort, gw.pki.ca.cert, tls12("ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"));
    assert.equal(hs.cipher, "ECDHE-RSA-AES128-GCM-SHA256");
  });

  it("keeps TLS 1.3 and its suites", async () => {
    const hs = await handshake(gw.securePort, gw.pki.ca.cert);
    assert.equal(hs.protocol, "TLSv1.3");
    assert.match(hs.cipher, /^TLS_(AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256|AES_128_GCM_SHA256)$/);
    const chacha = await handshake(gw.securePort, gw.pki.ca.cert, { minVersion: "TLSv1.3", ciphers: "TLS_CHACHA20_POLY1305_SHA256" });
    assert.equal(chacha.cipher, "TLS_CHACHA20_POLY1305_SHA256");
  });

  it("keeps the suite policy after a certificate reload", async () => {
    const reloaded = await startTestGateway();
    try {
      assert.equal(reloaded.gateway.reloadTls(), true);
      await assert.rejects(handshake(reloaded.securePort, reloaded.pki.ca.cert, tls12("ECDHE-RSA-AES128-SHA")));
      assert.equal((await handshake(reloaded.securePort, reloaded.pki.ca.cert, tls12("ECDHE-RSA-AES128-GCM-SHA256"))).cipher, "ECDHE-RSA-AES128-GCM-SHA256");
    } finally {
      await reloaded.close();
    }
  });
});

/** Resolves with how long `socket` stayed open, or with null when it is still open after `limitMs`. */
function closedWithin(socket: net.Socket, limitMs: number): Promise<number | null> {
  const started = Date.now();
  // Read whatever comes (a 408), or the socket never notices the peer's close.
  socket.resume();
  socket.on("error", () => undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), limitMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

function connected(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => resolve(socket));
    socket.once("error", reject);
  });
}

/**
 * The first 43 bytes of a TLS 1.2 ClientHello whose record announces 200: a TLS record header, the
 * handshake header, the client version and 32 bytes of client random, then nothing more.
 */
const HALF_A_CLIENT_HELLO = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03]), Buffer.alloc(32, 0x2a)]);

describe("limits.headersTimeout on unfinished handshakes and silent connections", () => {
  const HEADERS_TIMEOUT_MS = 300;
  let gw: TestGateway;
  const sockets: net.Socket[] = [];
  before(async () => {
    gw = await startTestGateway({ router: { insecure: "allow" }, limits: { headersTimeout: `${HEADERS_TIMEOUT_MS} milliseconds`, keepAliveTimeout: "5 seconds" } });
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await gw.close();
  });

  /** Node's own default handshake timeout is 120 s: anything under 3 s shows the configured limit at work. */
  function assertDroppedAtTheLimit(ms: number | null, what: string): void {
    assert.notEqual(ms, null, `${what} was still open after 3 s`);
    assert.ok(ms! >= HEADERS_TIMEOUT_MS - 50, `${what} was dropped after ${ms} ms, before limits.headersTimeout`);
  }

  it("drops a TCP connection to the TLS port that sends nothing", async () => {
    const socket = await connected(gw.securePort);
    sockets.push(socket);
    assertDroppedAtTheLimit(await closedWithin(socket, 3000), "a silent connection to the TLS port");
  });

  it("drops a TCP connection to the TLS port that sends half a ClientHello", async () => {
    const socket = await connected(gw.securePort);
    sockets.push(socket);
    socket.write(HALF_A_CLIENT_HELLO);
    assertDroppedAtTheLimit(await closedWithin(socket, 3000), "a connection with half a ClientHello");
  });

  it("drops a TLS connection that finishes its handshake and then sends nothing", async () => {
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port: gw.securePort, ca: gw.pki.ca.cert, servername: "localhost" }, () => resolve(s));
      s.once("error", reject);
    });
    sockets.push(socket);
    assertDroppedAtTheLimit(await closedWithin(socket, 3000), "a silent TLS connection");
  });

  it("drops a plaintext connection that sends nothing", async () => {
    const socket = await connected(gw.insecurePort);
    sockets.push(socket);
    assertDroppedAtTheLimit(await closedWithin(socket, 3000), "a silent plaintext connection");
  });

  it("keeps an idle keep-alive connection past headersTimeout (keepAliveTimeout governs it)", async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (p: string) =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = https.get({ host: "127.0.0.1", port: gw.securePort, path: p, agent, ca: gw.pki.ca.cert, servername: "localhost" }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        });
        req.on("error", reject);
      });
    try {
      assert.equal((await get("/gateway/healthz")).status, 200);
      await sleep(HEADERS_TIMEOUT_MS * 3);
      const second = await get("/gateway/healthz");
      assert.equal(second.status, 200);
      assert.equal(second.reused, true, "the idle keep-alive connection was dropped");
    } finally {
      agent.destroy();
    }
  });

  it("still completes ordinary handshakes", async () => {
    assert.equal((await handshake(gw.securePort, gw.pki.ca.cert)).protocol, "TLSv1.3");
  });
});

describe("Strict-Transport-Security", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  let allowGw: TestGateway;
  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url } });
    allowGw = await startTestGateway({ upstream: { url: upstream.url }, router: { insecure: "allow" } });
  });
  after(async () => {
    await gw.close();
    await allowGw.close();
    await upstream.close();
  });

  it("is sent on a proxied response over TLS", async () => {
    const res = await gw.https("/app/page");
    assert.equal(res.status, 200);
    assert.equal(res.headers["x-upstream"], "yes");
    assert.equal(res.headers["strict-transport-security"], "max-age=31536000");
  });

  it("is sent on the gateway's own responses over TLS, errors included", async () => {
    const health = await gw.https("/gateway/healthz");
    assert.equal(health.status, 200);
    assert.equal(health.headers["strict-transport-security"], "max-age=31536000");
    const missing = await gw.https("/gateway/no-such-route");
    assert.equal(missing.status, 404);
    assert.equal(missing.headers["strict-transport-security"], "max-age=31536000");
  });

  it("is never sent over plaintext, whether redirected, answered by the gateway or proxied", async () => {
    const redirected = await gw.http("/app/page", { headers: { host: "example.test" } });
    assert.equal(redirected.status, 308);
    assert.equal(redirected.headers["strict-transport-security"], undefined);
    const health = await gw.http("/gateway/healthz");
    assert.equal(health.status, 200);
    assert.equal(health.headers["strict-transport-security"], undefined);
    const proxied = await allowGw.http("/app/page");
    assert.equal(proxied.status, 200);
    assert.equal(proxied.headers["x-upstream"], "yes");
    assert.equal(proxied.headers["strict-transport-security"], undefined);
  });

  it("is not sent at all when tls.hsts is empty", async () => {
    const off = await startTestGateway({ upstream: { url: upstream.url }, tls: { hsts: "" } });
    try {
      const proxied = await off.https("/app/page");
      assert.equal(proxied.status, 200);
      assert.equal(proxied.headers["strict-transport-security"], undefined);
      const own = await off.https("/gateway/healthz");
      assert.equal(own.status, 200);
      assert.equal(own.headers["strict-transport-security"], undefined);
    } finally {
      await off.close();
    }
  });
});

describe("certificate reload without a restart", () => {
  let upstream: TestUpstream;
  before(async () => {
    upstream = await startTestUpstream();
  });
  after(() => upstream.close());

  /** Polls new connections for at most `limitMs` until they present `cn`; returns what the last one presented. */
  async function waitForCn(port: number, ca: string, cn: string, limitMs = 5000): Promise<string | undefined> {
    const deadline = Date.now() + limitMs;
    let seen: string | undefined;
    while (Date.now() < deadline) {
      seen = (await handshake(port, ca)).cn;
      if (seen === cn) return seen;
      await sleep(50);
    }
    return seen;
  }

  interface AgentResponse {
    status: number;
    reused: boolean;
    localPort: number | undefined;
    peerCn: string | undefined;
  }

  function viaAgent(gw: TestGateway, agent: https.Agent, urlPath: string): Promise<AgentResponse> {
    return new Promise((resolve, reject) => {
      const req = https.request({ host: "127.0.0.1", port: gw.securePort, path: urlPath, agent, ca: gw.pki.ca.cert, servername: "localhost" }, (res) => {
        const socket = res.socket as tls.TLSSocket;
        const info = { status: res.statusCode ?? 0, reused: req.reusedSocket, localPort: socket.localPort, peerCn: commonName(socket.getPeerCertificate()) };
        res.resume();
        res.on("end", () => resolve(info));
        res.on("error", reject);
      });
      req.setTimeout(3000, () => req.destroy(new Error("request timed out")));
      req.on("error", reject);
      req.end();
    });
  }

  it("serves a replaced certificate to new connections while an open keep-alive connection keeps working", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url }, limits: { keepAliveTimeout: "30 seconds" } });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const certFile = gw.gateway.config.tls.cert;
      const keyFile = gw.gateway.config.tls.key;
      const oldCn = (await handshake(gw.securePort, gw.pki.ca.cert)).cn;
      assert.ok(oldCn?.startsWith("server-"), `unexpected initial certificate ${oldCn}`);

      const first = await viaAgent(gw, agent, "/before-reload");
      assert.equal(first.status, 200);
      assert.equal(first.peerCn, oldCn);

      const replacement = gw.pki.issue("rotated-certificate");
      fs.writeFileSync(certFile, replacement.pem.cert);
      fs.writeFileSync(keyFile, replacement.pem.key);

      const seen = await waitForCn(gw.securePort, gw.pki.ca.cert, "rotated-certificate");
      assert.equal(seen, "rotated-certificate", "new connections never got the replaced certificate within 5 s");
      assert.ok(
        gw.logs.lines.some((l) => l.msg === "TLS certificate reloaded"),
        "the reload was not logged",
      );

      const second = await viaAgent(gw, agent, "/after-reload");
      assert.equal(second.status, 200);
      assert.equal(second.reused, true, "the request did not travel on the old keep-alive socket");
      assert.equal(second.localPort, first.localPort);
      assert.equal(second.peerCn, oldCn, "the old connection should keep the certificate it negotiated");
      assert.deepEqual(
        upstream.received.filter((r) => r.url.endsWith("-reload")).map((r) => r.url),
        ["/before-reload", "/after-reload"],
      );
    } finally {
      agent.destroy();
      await gw.close();
    }
  });

  it("keeps the current certificate when reloadTls() meets broken files, and says so in the log", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url } });
    try {
      const oldCn = (await handshake(gw.securePort, gw.pki.ca.cert)).cn;
      assert.ok(oldCn);
      fs.writeFileSync(gw.gateway.config.tls.cert, "this is not a certificate\n");
      const errorsBefore = gw.logs.lines.filter((l) => l.level === "error").length;

      assert.equal(gw.gateway.reloadTls(), false);

      const errors = gw.logs.lines.filter((l) => l.level === "error");
      assert.ok(errors.length > errorsBefore, "no error line was logged");
      assert.match(String(errors.at(-1)!.msg), /reload failed/i);
      assert.match(String(errors.at(-1)!.err), /tls\.cert/);

      // Give the file watcher its debounce too: it must not install anything either.
      await sleep(400);
      assert.equal((await handshake(gw.securePort, gw.pki.ca.cert)).cn, oldCn);
      const res = await gw.https("/still-served");
      assert.equal(res.status, 200);
    } finally {
      await gw.close();
    }
  });

  it("keeps the current certificate when the new key does not belong to the new certificate", async () => {
    const gw = await startTestGateway({ upstream: { url: upstream.url } });
    try {
      const oldCn = (await handshake(gw.securePort, gw.pki.ca.cert)).cn;
      const a = gw.pki.issue("mismatch-a");
      const b = gw.pki.issue("mismatch-b");
      fs.writeFileSync(gw.gateway.config.tls.cert, a.pem.cert);
      fs.writeFileSync(gw.gateway.config.tls.key, b.pem.key);
      assert.equal(gw.gateway.reloadTls(), false);
      await sleep(400);
      assert.equal((await handshake(gw.securePort, gw.pki.ca.cert)).cn, oldCn);
    } finally {
      await gw.close();
    }
  });
});
