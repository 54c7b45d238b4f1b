/** `security.trustStore` / `security.keyStore` for LDAP connections: reading PEM, PKCS#12 and JKS, and the tls options. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import tls from "node:tls";
import { after, before, describe, it } from "node:test";
import forge from "node-forge";
import type { Config } from "../../src/config/schema.js";
import { TlsMaterialError } from "../../src/errors.js";
import { classifyLdapError } from "../../src/ldap/problems.js";
import { ldapTlsOptions, loadLdapTls, type LdapTlsMaterial } from "../../src/ldap/tls.js";
import { createCa, issueCertificate, toPkcs12, type Pem } from "../../src/tls/dev-ca.js";
import { makePki, type TestPki } from "../helpers/certs.js";

const KEYTOOL = "/usr/bin/keytool";
/** keytool wants at least 6 characters. */
const STORE_PASSWORD = "changeit";
const KEY_PASSWORD = "s3cret-ks";

type Security = Config["security"];

function security(values: Partial<Security>): Security {
  return { trustStore: undefined, trustStorePassword: undefined, keyStore: undefined, keyStorePassword: undefined, ...values };
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

function keytool(args: string[]): void {
  execFileSync(KEYTOOL, args, { stdio: "pipe" });
}

/** The TlsMaterialError that `fn` throws; fails when it throws nothing or something else. */
function materialError(fn: () => unknown): TlsMaterialError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TlsMaterialError, `expected a TlsMaterialError, got ${String(err)}`);
    assert.equal(err.code, "ERR_TLS_MATERIAL");
    return err;
  }
  assert.fail("expected a TlsMaterialError, but nothing was thrown");
}

let pki: TestPki;
let dir: string;
let secondCa: Pem;
let client: Pem;
const file = (name: string): string => path.join(dir, name);

before(() => {
  pki = makePki();
  dir = pki.dir;
  secondCa = createCa("second test CA");
  client = issueCertificate(pki.ca, { hosts: ["client.example.org"], commonName: "portcullis-client", clientAuth: true });
  fs.writeFileSync(file("bundle.pem"), pki.ca.cert + secondCa.cert);
  fs.writeFileSync(file("second-ca.pem"), secondCa.cert);
  fs.writeFileSync(file("client.pem"), client.cert + client.key);
  fs.writeFileSync(file("client-key-first.pem"), client.key + client.cert + pki.ca.cert);
  fs.writeFileSync(file("client.p12"), toPkcs12(client, [pki.ca.cert], KEY_PASSWORD));
  // A PKCS#12 truststore: certificates only, no key (what Java and some CAs hand out).
  const certOnly = forge.pkcs12.toPkcs12Asn1(null, [forge.pki.certificateFromPem(pki.ca.cert)], STORE_PASSWORD, { algorithm: "3des" });
  fs.writeFileSync(file("trust-only.p12"), Buffer.from(forge.asn1.toDer(certOnly).getBytes(), "binary"));
  // keytool is slow (a JVM per call): every JKS file is made here, once.
  keytool(["-importcert", "-noprompt", "-alias", "ca", "-file", pki.caFile, "-keystore", file("trust.jks"), "-storepass", STORE_PASSWORD, "-storetype", "JKS"]);
  keytool([
    "-importkeystore",
    "-noprompt",
    "-srckeystore", file("client.p12"),
    "-srcstoretype", "PKCS12",
    "-srcstorepass", KEY_PASSWORD,
    "-destkeystore", file("client.jks"),
    "-deststoretype", "JKS",
    "-deststorepass", KEY_PASSWORD,
    "-destkeypass", KEY_PASSWORD,
  ]);
  fs.writeFileSync(file("garbage.bin"), Buffer.from("\x00\x01\x02 not a store at all \xff\xfe", "binary"));
  fs.writeFileSync(file("garbage-der.bin"), Buffer.from([0x30, 0x82, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]));
  fs.writeFileSync(file("garbage.jks"), Buffer.from([0xfe, 0xed, 0xfe, 0xed, 0x00, 0x00, 0x00, 0x02, 0x01, 0x02, 0x03]));
});

after(() => pki?.cleanup());

/** Checks that the material holds the client key with its certificate first, followed by the CA. */
function assertClientIdentity(material: LdapTlsMaterial): void {
  assert.ok(material.key, "no key");
  assert.ok(material.cert && material.cert.length >= 1, "no certificate");
  const leaf = new X509Certificate(material.cert[0]!);
  assert.equal(leaf.subject, "CN=portcullis-client");
  assert.ok(leaf.checkPrivateKey(createPrivateKey(material.key)), "the key does not belong to the first certificate");
  assert.equal(fingerprint(material.cert[0]!), fingerprint(client.cert));
  assert.equal(material.ca, undefined, "a keyStore alone sets no CAs");
}

describe("loadLdapTls: security.trustStore", () => {
  it("sets nothing when neither store is configured (Node's public CAs apply)", () => {
    assert.deepEqual(loadLdapTls(security({}), dir), {});
  });

  it("reads every CA of a PEM bundle", () => {
    const material = loadLdapTls(security({ trustStore: "bundle.pem" }), dir);
    assert.equal(material.ca?.length, 2);
    assert.deepEqual(material.ca.map(fingerprint), [fingerprint(pki.ca.cert), fingerprint(secondCa.cert)]);
    assert.equal(material.key, undefined);
    assert.equal(material.cert, undefined);
  });

  it("resolves a relative path against the given directory and accepts an absolute one", () => {
    assert.equal(loadLdapTls(security({ trustStore: "bundle.pem" }), dir).ca?.length, 2);
    assert.equal(loadLdapTls(security({ trustStore: file("bundle.pem") }), "/").ca?.length, 2);
  });

  it("reads the certificates of a PKCS#12 file holding a key and its chain", () => {
    const material = loadLdapTls(security({ trustStore: "client.p12", trustStorePassword: KEY_PASSWORD }), dir);
    assert.ok(material.ca, "no CAs");
    assert.ok(material.ca.map(fingerprint).includes(fingerprint(pki.ca.cert)), "the CA is missing");
    assert.equal(material.ca.length, 2);
    assert.equal(material.key, undefined, "a truststore hands out no key");
  });

  it("reads a certificate-only PKCS#12 truststore", () => {
    const material = loadLdapTls(security({ trustStore: "trust-only.p12", trustStorePassword: STORE_PASSWORD }), dir);
    assert.deepEqual(material.ca?.map(fingerprint), [fingerprint(pki.ca.cert)]);
  });

  it("reads a JKS truststore made by keytool", () => {
    const material = loadLdapTls(security({ trustStore: "trust.jks", trustStorePassword: STORE_PASSWORD }), dir);
    assert.deepEqual(material.ca?.map(fingerprint), [fingerprint(pki.ca.cert)]);
    assert.match(material.ca![0]!, /^-----BEGIN CERTIFICATE-----\n/);
  });
});

describe("loadLdapTls: security.keyStore", () => {
  it("reads the key and certificate of one PEM file", () => {
    const material = loadLdapTls(security({ keyStore: "client.pem" }), dir);
    assertClientIdentity(material);
    assert.equal(material.cert!.length, 1);
  });

  it("reads a PEM file with the key first and the chain after the certificate", () => {
    const material = loadLdapTls(security({ keyStore: "client-key-first.pem" }), dir);
    assertClientIdentity(material);
    assert.deepEqual(material.cert!.map(fingerprint), [fingerprint(client.cert), fingerprint(pki.ca.cert)]);
  });

  it("reads a PKCS#12 keystore: key, then its certificate, then the chain", () => {
    const material = loadLdapTls(security({ keyStore: "client.p12", keyStorePassword: KEY_PASSWORD }), dir);
    assertClientIdentity(material);
    assert.deepEqual(material.cert!.map(fingerprint), [fingerprint(client.cert), fingerprint(pki.ca.cert)]);
  });

  it("reads a JKS keystore made by keytool: key, then its certificate, then the chain", () => {
    const material = loadLdapTls(security({ keyStore: "client.jks", keyStorePassword: KEY_PASSWORD }), dir);
    assertClientIdentity(material);
    assert.deepEqual(material.cert!.map(fingerprint), [fingerprint(client.cert), fingerprint(pki.ca.cert)]);
  });

  it("reads a truststore and a keystore together", () => {
    const material = loadLdapTls(
      security({ trustStore: "trust.jks", trustStorePassword: STORE_PASSWORD, keyStore: "client.p12", keyStorePassword: KEY_PASSWORD }),
      dir,
    );
    assert.deepEqual(material.ca?.map(fingerprint), [fingerprint(pki.ca.cert)]);
    assert.ok(material.key);
    assert.equal(fingerprint(material.cert![0]!), fingerprint(client.cert));
  });
});

describe("loadLdapTls: unusable files", () => {
  it("says a missing truststore does not exist, naming security.trustStore", () => {
    const err = materialError(() => loadLdapTls(security({ trustStore: "missing.pem" }), dir));
    assert.equal(err.key, "security.trustStore");
    assert.ok(err.message.startsWith("security.trustStore:"), err.message);
    assert.match(err.message, /does not exist/);
    assert.ok(err.message.includes(file("missing.pem")), `the message names the resolved path: ${err.message}`);
  });

  it("says a missing keystore does not exist, naming security.keyStore", () => {
    const err = materialError(() => loadLdapTls(security({ keyStore: "missing.p12", keyStorePassword: "x" }), dir));
    assert.equal(err.key, "security.keyStore");
    assert.ok(err.message.startsWith("security.keyStore:"), err.message);
    assert.match(err.message, /does not exist/);
  });

  it("names security.trustStorePassword for a wrong PKCS#12 truststore password", () => {
    const err = materialError(() => loadLdapTls(security({ trustStore: "trust-only.p12", trustStorePassword: "wrong-password" }), dir));
    assert.equal(err.key, "security.trustStorePassword");
    assert.ok(err.message.startsWith("security.trustStorePassword:"), err.message);
    assert.match(err.message, /wrong password/);
  });

  it("names security.trustStorePassword for a PKCS#12 truststore given without its password", () => {
    const err = materialError(() => loadLdapTls(security({ trustStore: "trust-only.p12" }), dir));
    assert.equal(err.key, "security.trustStorePassword");
    assert.match(err.message, /protected by a password and none was given/);
  });

  it("names security.keyStorePassword for a wrong PKCS#12 keystore password", () => {
    const err = materialError(() => loadLdapTls(security({ keyStore: "client.p12", keyStorePassword: "wrong-password" }), dir));
    assert.equal(err.key, "security.keyStorePassword");
    assert.match(err.message, /^security\.keyStorePassword: wrong password/);
  });

  it("names security.trustStorePassword for a wrong JKS truststore password", () => {
    const err = materialError(() => loadLdapTls(security({ trustStore: "trust.jks", trustStorePassword: "wrong-password" }), dir));
    assert.equal(err.key, "security.trustStorePassword");
    assert.match(err.message, /^security\.trustStorePassword: wrong or missing password for the JKS file/);
  });

  it("names security.keyStorePassword for a wrong JKS keystore password", () => {
    const err = materialError(() => loadLdapTls(security({ keyStore: "client.jks", keyStorePassword: "wrong-password" }), dir));
    assert.equal(err.key, "security.keyStorePassword");
    assert.match(err.message, /^security\.keyStorePassword: wrong or missing password for the JKS file/);
  });

  for (const name of ["garbage.bin", "garbage-der.bin", "garbage.jks"]) {
    it(`names security.trustStore for a file of garbage bytes (${name})`, () => {
      const err = materialError(() => loadLdapTls(security({ trustStore: name, trustStorePassword: "x" }), dir));
      assert.equal(err.key, "security.trustStore");
      assert.ok(err.message.startsWith("security.trustStore:"), err.message);
      assert.ok(err.message.includes(file(name)), err.message);
    });
  }

  it("names security.keyStore for a keystore file of garbage bytes", () => {
    const err = materialError(() => loadLdapTls(security({ keyStore: "garbage.bin" }), dir));
    assert.equal(err.key, "security.keyStore");
  });

  it("says a PEM keystore holding only a certificate holds no private key", () => {
    const err = materialError(() => loadLdapTls(security({ keyStore: "second-ca.pem" }), dir));
    assert.equal(err.key, "security.keyStore");
    assert.match(err.message, /holds no private key/);
  });

  it("says a JKS keystore holding only a trusted certificate holds no private key", () => {
    const err = materialError(() => loadLdapTls(security({ keyStore: "trust.jks", keyStorePassword: STORE_PASSWORD }), dir));
    assert.equal(err.key, "security.keyStore");
    assert.match(err.message, /holds no private key/);
  });

  it("says a certificate-only PKCS#12 keystore holds no private key", () => {
    const err = materialError(() => loadLdapTls(security({ keyStore: "trust-only.p12", keyStorePassword: STORE_PASSWORD }), dir));
    assert.equal(err.key, "security.keyStore");
    assert.match(err.message, /holds no private key/);
  });

  it("refuses a truststore that holds only a private key", () => {
    fs.writeFileSync(file("only-key.pem"), client.key);
    const err = materialError(() => loadLdapTls(security({ trustStore: "only-key.pem" }), dir));
    assert.equal(err.key, "security.trustStore");
    assert.match(err.message, /no certificate/);
  });
});

describe("ldapTlsOptions", () => {
  it("verifies the chain and asks for TLS 1.2 or newer", () => {
    const options = ldapTlsOptions({}, "ldap.example.org");
    assert.equal(options.rejectUnauthorized, true);
    assert.equal(options.minVersion, "TLSv1.2");
    assert.equal(options.host, "ldap.example.org");
  });

  it("sends the host name as SNI servername", () => {
    assert.equal(ldapTlsOptions({}, "ldap.example.org").servername, "ldap.example.org");
  });

  for (const address of ["127.0.0.1", "::1", "2001:db8::10"]) {
    it(`sets no servername for the IP address ${address}`, () => {
      const options = ldapTlsOptions({}, address);
      assert.equal(options.servername, undefined);
      assert.ok(!("servername" in options), "servername must be absent, not empty");
      assert.equal(options.rejectUnauthorized, true);
    });
  }

  it("leaves ca, key and cert out when the material has none", () => {
    const options = ldapTlsOptions({}, "ldap.example.org");
    assert.equal(options.ca, undefined);
    assert.equal(options.key, undefined);
    assert.equal(options.cert, undefined);
  });

  it("passes the CAs, the key and the certificate chain through", () => {
    const material: LdapTlsMaterial = { ca: [pki.ca.cert, secondCa.cert], key: client.key, cert: [client.cert, pki.ca.cert] };
    const options = ldapTlsOptions(material, "ldap.example.org");
    assert.deepEqual(options.ca, [pki.ca.cert, secondCa.cert]);
    assert.equal(options.key, client.key);
    assert.equal(options.cert, client.cert + pki.ca.cert);
  });

  it("passes no client certificate when the material has a certificate but no key", () => {
    const options = ldapTlsOptions({ cert: [client.cert] }, "ldap.example.org");
    assert.equal(options.cert, undefined);
    assert.equal(options.key, undefined);
  });
});

describe("loadLdapTls + ldapTlsOptions against a TLS server that demands a client certificate", () => {
  let server: tls.Server;
  let port: number;
  const seen: string[] = [];

  before(async () => {
    const serverCert = pki.issue("ldap-server", { hosts: ["localhost", "127.0.0.1"] });
    server = tls.createServer({ key: serverCert.pem.key, cert: serverCert.pem.cert, ca: [pki.ca.cert], requestCert: true, rejectUnauthorized: true }, (socket) => {
      const cn = socket.getPeerCertificate().subject?.CN;
      seen.push(typeof cn === "string" ? cn : "?");
      socket.end("ok");
    });
    server.on("tlsClientError", () => {});
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Connects with the options for `host`; resolves with what the server answered, rejects with the TLS error. */
  function connect(material: LdapTlsMaterial, host: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ ...ldapTlsOptions(material, host), host: "127.0.0.1", port });
      let data = "";
      socket.setEncoding("utf8");
      socket.on("data", (d: string) => (data += d));
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
      socket.setTimeout(3000, () => socket.destroy(new Error("no answer within 3 s")));
    });
  }

  it("connects by name with the JKS truststore and the JKS client keystore, presenting the client certificate", async () => {
    const material = loadLdapTls(
      security({ trustStore: "trust.jks", trustStorePassword: STORE_PASSWORD, keyStore: "client.jks", keyStorePassword: KEY_PASSWORD }),
      dir,
    );
    assert.equal(await connect(material, "localhost"), "ok");
    assert.equal(seen.at(-1), "portcullis-client");
  });

  it("connects by IP address with the PEM truststore and the PKCS#12 client keystore", async () => {
    const material = loadLdapTls(security({ trustStore: "bundle.pem", keyStore: "client.p12", keyStorePassword: KEY_PASSWORD }), dir);
    assert.equal(await connect(material, "127.0.0.1"), "ok");
    assert.equal(seen.at(-1), "portcullis-client");
  });

  it("refuses a server whose CA is not in the truststore, classified as untrusted", async () => {
    const material = loadLdapTls(security({ trustStore: "second-ca.pem", keyStore: "client.pem" }), dir);
    const err = await connect(material, "localhost").then(
      () => assert.fail("connected although the server's CA is not trusted"),
      (e: unknown) => e,
    );
    assert.equal(classifyLdapError(err, "service connection").kind, "untrusted", String(err));
  });

  it("refuses a server whose certificate is not for the host name, classified as name-mismatch", async () => {
    const material = loadLdapTls(security({ trustStore: "trust.jks", trustStorePassword: STORE_PASSWORD, keyStore: "client.pem" }), dir);
    const err = await connect(material, "ldap.example.org").then(
      () => assert.fail("connected although the certificate is not for ldap.example.org"),
      (e: unknown) => e,
    );
    assert.equal(classifyLdapError(err, "service connection").kind, "name-mismatch", String(err));
  });
});
