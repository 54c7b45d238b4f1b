/** `portcullis certs inspect` on Java keystores (JKS) made by keytool, as OMERO admins have them. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { createCa, issueCertificate, toPkcs12, type Pem } from "../../src/tls/dev-ca.js";
import { runCli, tempDir, type CliResult } from "../helpers/cli.js";

const KEYTOOL = "/usr/bin/keytool";
const KEYSTORE_PASSWORD = "s3cret-ks";
const TRUSTSTORE_PASSWORD = "changeit";

function keytool(args: string[]): void {
  execFileSync(KEYTOOL, args, { stdio: "pipe" });
}

function show(r: CliResult): string {
  return `status ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

function daysLeft(pem: string): number {
  return Math.floor((new Date(new X509Certificate(pem).validTo).getTime() - Date.now()) / 86_400_000);
}

function validTo(pem: string): string {
  return new Date(new X509Certificate(pem).validTo).toISOString();
}

describe("portcullis certs inspect on JKS files", () => {
  let dir: string;
  let ca: Pem;
  let leaf: Pem;

  before(() => {
    dir = tempDir("portcullis-jks-");
    ca = createCa("jks test CA");
    leaf = issueCertificate(ca, { hosts: ["omero.example.test", "10.1.2.3"], commonName: "omero.example.test", days: 90 });
    fs.writeFileSync(path.join(dir, "ca.pem"), ca.cert);
    fs.writeFileSync(path.join(dir, "server.p12"), toPkcs12(leaf, [ca.cert], KEYSTORE_PASSWORD));
    // keytool is slow (a JVM per call): both stores are made once, here.
    keytool([
      "-importkeystore",
      "-noprompt",
      "-srckeystore", path.join(dir, "server.p12"),
      "-srcstoretype", "PKCS12",
      "-srcstorepass", KEYSTORE_PASSWORD,
      "-destkeystore", path.join(dir, "server.jks"),
      "-deststoretype", "JKS",
      "-deststorepass", KEYSTORE_PASSWORD,
      "-destkeypass", KEYSTORE_PASSWORD,
    ]);
    keytool(["-importcert", "-noprompt", "-alias", "ca", "-file", path.join(dir, "ca.pem"), "-keystore", path.join(dir, "trust.jks"), "-storepass", TRUSTSTORE_PASSWORD, "-storetype", "JKS"]);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  function inspect(...args: string[]): CliResult {
    return runCli(["certs", "inspect", ...args], { cwd: dir });
  }

  it("prints subject, SANs, issuer, validity and days left of the key entry's chain in a JKS keystore", () => {
    const r = inspect("server.jks", "--password", KEYSTORE_PASSWORD);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /^server\.jks: 2 certificates and a private key$/m);
    const [leafPart, caPart] = r.stdout.split(/^\[1\]$/m);
    assert.ok(leafPart && caPart, show(r));
    assert.match(leafPart, /^\[0\]$/m);
    assert.match(leafPart, /subject:\s+CN=omero\.example\.test$/m);
    assert.match(leafPart, /SANs:\s+DNS:omero\.example\.test, IP Address:10\.1\.2\.3$/m);
    assert.match(leafPart, /issuer:\s+CN=jks test CA, O=portcullis$/m);
    assert.ok(leafPart.includes(validTo(leaf.cert)), `leaf validity end missing\n${show(r)}`);
    assert.ok(leafPart.includes(`(${daysLeft(leaf.cert)} days left)`), show(r));
    assert.match(leafPart, /CA:\s+no$/m);
    assert.ok(leafPart.includes(new X509Certificate(leaf.cert).fingerprint256), "leaf fingerprint missing");
    assert.match(caPart, /subject:\s+CN=jks test CA, O=portcullis$/m);
    assert.match(caPart, /SANs:\s+\(none\)$/m);
    assert.match(caPart, /issuer:\s+CN=jks test CA, O=portcullis \(self-signed\)$/m);
    assert.ok(caPart.includes(`(${daysLeft(ca.cert)} days left)`), show(r));
    assert.match(caPart, /CA:\s+yes$/m);
    assert.equal(r.stderr.trim(), "", show(r));
  });

  it("prints the trusted CA of a JKS truststore and does not claim a private key", () => {
    const r = inspect("trust.jks", "--password", TRUSTSTORE_PASSWORD);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /^trust\.jks: 1 certificate$/m);
    assert.doesNotMatch(r.stdout, /private key/);
    assert.match(r.stdout, /subject:\s+CN=jks test CA, O=portcullis$/m);
    assert.match(r.stdout, /SANs:\s+\(none\)$/m);
    assert.match(r.stdout, /issuer:\s+CN=jks test CA, O=portcullis \(self-signed\)$/m);
    assert.ok(r.stdout.includes(validTo(ca.cert)), show(r));
    assert.ok(r.stdout.includes(`(${daysLeft(ca.cert)} days left)`), show(r));
    assert.match(r.stdout, /CA:\s+yes$/m);
  });

  it("reads a JKS truststore without --password (the integrity check is skipped, as keytool -list does)", () => {
    const r = inspect("trust.jks");
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /^trust\.jks: 1 certificate$/m);
    assert.match(r.stdout, /subject:\s+CN=jks test CA/);
  });

  it("exits 2 naming --password when the JKS keystore password is wrong, printing no certificate", () => {
    const r = inspect("server.jks", "--password", "wrong-password");
    assert.equal(r.status, 2, show(r));
    assert.equal(r.signal, null);
    assert.equal(r.stdout, "", show(r));
    assert.match(r.stderr, /^portcullis: --password: wrong or missing password for the JKS file server\.jks/m);
  });

  it("exits 2 naming --password when the JKS truststore password is wrong", () => {
    const r = inspect("trust.jks", "--password", "wrong-password");
    assert.equal(r.status, 2, show(r));
    assert.equal(r.stdout, "", show(r));
    assert.match(r.stderr, /--password: wrong or missing password for the JKS file trust\.jks/);
  });

  it("exits 2 without a stack trace when a JKS keystore is given without --password", () => {
    const r = inspect("server.jks");
    assert.equal(r.status, 2, show(r));
    assert.equal(r.signal, null);
    assert.equal(r.stdout, "", show(r));
    assert.match(r.stderr, /^portcullis: .*server\.jks/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "a stack trace was printed");
  });
});
