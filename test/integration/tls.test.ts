import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
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
      const result = { cn: commonName(cert), protocol: socket.getProtocol() };
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
