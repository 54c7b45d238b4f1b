/**
 * `portcullis ldap test` and `portcullis certs trust` (SPEC §9) run as child processes, the way an
 * operator runs them, against a real OpenLDAP slapd (ldaps:// and ldap:// with StartTLS) and a second
 * one whose certificate names another host. Each case has its own temp directory and config file.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import YAML from "yaml";
import { createCa, toPkcs12 } from "../../src/tls/dev-ca.js";
import { makePki, type TestPki } from "../helpers/certs.js";
import { tempDir } from "../helpers/cli.js";
import { runCliCommand } from "../helpers/process-gateway.js";
import { freePort } from "../helpers/redis.js";
import { PEOPLE, startTestSlapd, type TestSlapd } from "../helpers/slapd.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** At most a few CLI processes at once: each is a tsx start-up, and the machine may be small. */
let running = 0;
const queue: (() => void)[] = [];
async function cli(args: string[], cwd: string, stdin = "", env: Record<string, string> = {}): Promise<Run> {
  if (running >= 3) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  try {
    return await runCliCommand(args, { cwd, stdin, env, timeoutMs: 30_000 });
  } finally {
    running--;
    queue.shift()?.();
  }
}

/** The `ok  `/`FAIL` step lines of `ldap test`, as [status, step, first line of detail]. */
function steps(stdout: string): { ok: boolean; step: string; detail: string }[] {
  return [...stdout.matchAll(/^(ok {2}|FAIL) ([^:\n]+): (.*)$/gm)].map((m) => ({ ok: m[1] !== "FAIL", step: m[2]!, detail: m[3]! }));
}

/** The certificates (as X509Certificate) in a PEM file. */
function pemCerts(file: string): X509Certificate[] {
  const text = fs.readFileSync(file, "utf8");
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
}

const CA_SUBJECT = "CN=portcullis test CA, O=portcullis";

describe("portcullis ldap test and certs trust against a real slapd", { timeout: 120_000 }, () => {
  let pki: TestPki;
  let slapd: TestSlapd;
  /** A slapd whose certificate is for ldap.example.org only. */
  let misnamed: TestSlapd;
  let closedPort: number;
  let caFingerprint: string;
  let leafFingerprint: string;
  let leafSubject: string;
  /** A CA that signed nothing the directories present. */
  let otherCa: { cert: string; key: string };
  const dirs: string[] = [];

  /** A fresh temp dir with `portcullis.yaml` holding `settings`; returns the dir. */
  function configDir(settings: Record<string, unknown>): string {
    const dir = tempDir("portcullis-ldapcli-");
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, "portcullis.yaml"), YAML.stringify(settings));
    return dir;
  }

  const ldapTest = (dir: string, user?: string) => cli(["ldap", "test", "--config", "portcullis.yaml", ...(user === undefined ? [] : ["--user", user])], dir);

  before(async () => {
    pki = makePki();
    [slapd, misnamed] = await Promise.all([startTestSlapd({ pki }), startTestSlapd({ pki, hosts: ["ldap.example.org"] })]);
    closedPort = await freePort();
    caFingerprint = new X509Certificate(pki.ca.cert).fingerprint256;
    const leaf = new X509Certificate(fs.readFileSync(path.join(pki.dir, `slapd-${path.basename(slapd.dir)}.pem`)));
    leafFingerprint = leaf.fingerprint256;
    leafSubject = leaf.subject.replace(/\n/g, ", ");
    assert.notEqual(leafFingerprint, caFingerprint);
    otherCa = createCa("another test CA");
  });

  after(async () => {
    await Promise.all([slapd?.cleanup(), misnamed?.cleanup()]);
    pki?.cleanup();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  describe("ldap test", { concurrency: true }, () => {
    it("says LDAP is off and names ldap.url when no URL is configured", async () => {
      const r = await ldapTest(configDir({}));
      assert.equal(r.code, 1, show(r));
      const s = steps(r.stdout);
      assert.equal(s.length, 1, show(r));
      assert.equal(s[0]!.ok, false);
      assert.match(s[0]!.detail, /LDAP is off/, show(r));
      assert.match(s[0]!.detail, /ldap\.url/, show(r));
    });

    it("without a truststore: FAIL TLS showing both certificates with fingerprints and the certs trust command", async () => {
      const r = await ldapTest(configDir({ ldap: slapd.ldapConfig() }));
      assert.equal(r.code, 1, show(r));
      const s = steps(r.stdout);
      assert.deepEqual(s.map((x) => [x.ok, x.step]), [[true, "trust and key stores"], [false, "TLS"]], show(r));
      assert.match(s[0]!.detail, /security\.trustStore is not set/);
      assert.match(s[1]!.detail, /not signed by a CA in the truststore/, show(r));
      // Both certificates of the chain, each with its subject and its real sha256 fingerprint.
      assert.ok(r.stdout.includes(`subject: ${leafSubject}`), `leaf subject ${leafSubject} missing:\n${show(r)}`);
      assert.ok(r.stdout.includes(`subject: ${CA_SUBJECT}`), show(r));
      assert.ok(r.stdout.includes(`sha256:  ${leafFingerprint}`), `leaf fingerprint missing:\n${show(r)}`);
      assert.ok(r.stdout.includes(`sha256:  ${caFingerprint}`), `CA fingerprint ${caFingerprint} missing:\n${show(r)}`);
      assert.ok(r.stdout.indexOf(leafFingerprint) < r.stdout.indexOf(caFingerprint), "the leaf is listed before the CA");
      assert.ok(r.stdout.includes(`portcullis certs trust 127.0.0.1:${slapd.ldapsPort}`), `no certs trust hint for the ldaps port:\n${show(r)}`);
      // Nothing after the failing step is tried.
      assert.doesNotMatch(r.stdout, /service bind/);
    });

    it("a certificate for another host name: FAIL TLS naming the host and listing the certificate's names", async () => {
      const r = await ldapTest(configDir({ security: { trustStore: pki.caFile }, ldap: misnamed.ldapConfig() }));
      assert.equal(r.code, 1, show(r));
      const s = steps(r.stdout);
      assert.deepEqual(s.map((x) => [x.ok, x.step]), [[true, "trust and key stores"], [false, "TLS"]], show(r));
      assert.match(s[1]!.detail, /not for this host name/, show(r));
      assert.ok(r.stdout.includes(`127.0.0.1:${misnamed.ldapsPort}`), show(r));
      assert.match(r.stdout, /names in the certificate: DNS:ldap\.example\.org; ldap\.url uses 127\.0\.0\.1/, show(r));
      // The CA is trusted: no advice to trust it.
      assert.doesNotMatch(r.stdout, /certs trust 127/);
    });

    it("a wrong bindPassword: FAIL service bind naming ldap.bindDn and ldap.bindPassword", async () => {
      const r = await ldapTest(configDir({ security: { trustStore: pki.caFile }, ldap: slapd.ldapConfig({ bindPassword: "not-the-password" }) }), "alice");
      assert.equal(r.code, 1, show(r));
      const s = steps(r.stdout);
      assert.deepEqual(s.map((x) => [x.ok, x.step]), [[true, "trust and key stores"], [true, "TLS"], [false, "service bind"]], show(r));
      assert.match(s[2]!.detail, /ldap\.bindDn/);
      assert.match(s[2]!.detail, /ldap\.bindPassword/);
      assert.doesNotMatch(r.stdout, /not-the-password/, "the password is printed");
    });

    it("a closed port: FAIL connection, connection refused", async () => {
      const r = await ldapTest(configDir({ security: { trustStore: pki.caFile }, ldap: slapd.ldapConfig({ url: `ldaps://127.0.0.1:${closedPort}` }) }));
      assert.equal(r.code, 1, show(r));
      const s = steps(r.stdout);
      assert.deepEqual(s.map((x) => [x.ok, x.step]), [[true, "trust and key stores"], [false, "connection"]], show(r));
      assert.match(s[1]!.detail, /connection refused/);
      assert.ok(s[1]!.detail.includes(`127.0.0.1:${closedPort}`), show(r));
    });

    it("a trustStore file that does not exist: FAIL trust and key stores naming security.trustStore", async () => {
      const dir = configDir({ security: { trustStore: "certs/missing.pem" }, ldap: slapd.ldapConfig() });
      const r = await ldapTest(dir);
      assert.equal(r.code, 1, show(r));
      const s = steps(r.stdout);
      assert.deepEqual(s.map((x) => [x.ok, x.step]), [[false, "trust and key stores"]], show(r));
      assert.match(s[0]!.detail, /security\.trustStore/);
      assert.match(s[0]!.detail, /does not exist/);
      // Resolved against the working directory.
      assert.ok(s[0]!.detail.includes(path.join(dir, "certs/missing.pem")), show(r));
    });

    it("with the CA as truststore: every step ok for alice, with her DN, email, groups and the admin role", async () => {
      const r = await ldapTest(configDir({ security: { trustStore: pki.caFile }, ldap: slapd.ldapConfig() }), "alice");
      assert.equal(r.code, 0, show(r));
      const s = steps(r.stdout);
      assert.deepEqual(s.map((x) => [x.ok, x.step]), [[true, "trust and key stores"], [true, "TLS"], [true, "service bind"], [true, "user search"], [true, "groups"]], show(r));
      assert.match(s[0]!.detail, /1 CA certificate\(s\) from security\.trustStore/);
      assert.match(s[1]!.detail, /verified against the truststore and the host name/);
      assert.ok(s[3]!.detail.includes(`uid=alice,${PEOPLE}`), show(r));
      assert.match(s[3]!.detail, /email alice@example\.org/);
      assert.match(s[3]!.detail, /Alice Liddell/);
      const groups = /^(.*?) \(/.exec(s[4]!.detail)?.[1]?.split(", ");
      assert.deepEqual(groups?.sort(), ["admins", "scientists"], show(r));
      const roles = /roles at login: (.*)$/.exec(s[4]!.detail)?.[1]?.split(", ");
      assert.ok(roles?.includes("admin"), `roles ${roles} lack admin`);
      assert.ok(roles?.includes("scientists"), `roles ${roles} lack scientists`);
      assert.match(r.stdout, /LDAP looks usable\./);
    });

    it("with the CA as truststore: an unknown user fails at user search", async () => {
      const r = await ldapTest(configDir({ security: { trustStore: pki.caFile }, ldap: slapd.ldapConfig() }), "nobody");
      assert.equal(r.code, 1, show(r));
      const s = steps(r.stdout);
      assert.deepEqual(s.map((x) => [x.ok, x.step]), [[true, "trust and key stores"], [true, "TLS"], [true, "service bind"], [false, "user search"]], show(r));
      assert.match(s[3]!.detail, /nothing found for \(uid=nobody\)/);
      assert.doesNotMatch(r.stdout, /groups:/);
    });

    it("over ldap:// with StartTLS: every step ok", async () => {
      const r = await ldapTest(configDir({ security: { trustStore: pki.caFile }, ldap: slapd.ldapConfig({ url: slapd.ldapUrl, startTls: true }) }), "bob");
      assert.equal(r.code, 0, show(r));
      const s = steps(r.stdout);
      assert.deepEqual(s.map((x) => [x.ok, x.step]), [[true, "trust and key stores"], [true, "TLS"], [true, "service bind"], [true, "user search"], [true, "groups"]], show(r));
      assert.ok(s[1]!.detail.includes(`ldap://127.0.0.1:${slapd.ldapPort} (StartTLS)`), show(r));
      assert.ok(s[3]!.detail.includes(`uid=bob,${PEOPLE}`), show(r));
      assert.match(s[4]!.detail, /^scientists \(/);
    });

    it("over StartTLS with a truststore of another CA: FAIL TLS suggesting certs trust with --starttls and that store", async () => {
      const dir = configDir({ security: { trustStore: "other.pem" }, ldap: slapd.ldapConfig({ url: slapd.ldapUrl, startTls: true }) });
      fs.writeFileSync(path.join(dir, "other.pem"), otherCa.cert);
      const r = await ldapTest(dir, "alice");
      assert.equal(r.code, 1, show(r));
      const s = steps(r.stdout);
      assert.deepEqual(s.map((x) => [x.ok, x.step]), [[true, "trust and key stores"], [false, "TLS"]], show(r));
      assert.ok(s[1]!.detail.includes(`ldap://127.0.0.1:${slapd.ldapPort} (StartTLS)`), show(r));
      assert.ok(r.stdout.includes(`sha256:  ${caFingerprint}`), show(r));
      assert.ok(r.stdout.includes(`portcullis certs trust 127.0.0.1:${slapd.ldapPort} --starttls --store other.pem`), show(r));
    });

    it("a wrong bindPassword over StartTLS fails at the service bind too", async () => {
      const r = await ldapTest(configDir({ security: { trustStore: pki.caFile }, ldap: slapd.ldapConfig({ url: slapd.ldapUrl, startTls: true, bindPassword: "nope" }) }));
      assert.equal(r.code, 1, show(r));
      assert.deepEqual(steps(r.stdout).map((x) => [x.ok, x.step]), [[true, "trust and key stores"], [true, "TLS"], [false, "service bind"]], show(r));
    });
  });

  describe("certs trust", { concurrency: true }, () => {
    const trust = (dir: string, args: string[], stdin = "", env: Record<string, string> = {}) => cli(["certs", "trust", ...args], dir, stdin, env);
    const emptyDir = () => {
      const dir = tempDir("portcullis-trust-");
      dirs.push(dir);
      return dir;
    };

    it("asks, adds only on yes, then the store makes ldap test pass and a second run finds it trusted", async () => {
      const dir = configDir({ security: { trustStore: "certs/trust.pem" }, ldap: slapd.ldapConfig() });
      const store = path.join(dir, "certs/trust.pem");
      const target = `127.0.0.1:${slapd.ldapsPort}`;

      const no = await trust(dir, [target, "--config", "portcullis.yaml", "--store", "certs/trust.pem"], "n\n");
      assert.equal(no.code, 1, show(no));
      assert.ok(no.stderr.includes(`Add it to ${store}? [y/N]`), show(no));
      assert.match(no.stdout, /Nothing was changed/);
      // The presented chain with both fingerprints, and the CA it proposes.
      assert.ok(no.stdout.includes(leafFingerprint) && no.stdout.includes(caFingerprint), show(no));
      assert.ok(no.stdout.includes(`CA to trust: ${CA_SUBJECT}\n     sha256: ${caFingerprint}`), show(no));
      assert.equal(fs.existsSync(store), false, "answering no created the store");
      assert.equal(fs.existsSync(path.join(dir, "certs")), false, "answering no created the directory");

      const yes = await trust(dir, [target, "--config", "portcullis.yaml", "--store", "certs/trust.pem"], "y\n");
      assert.equal(yes.code, 0, show(yes));
      assert.ok(yes.stdout.includes(`Added to ${store}.`), show(yes));
      const certs = pemCerts(store);
      assert.equal(certs.length, 1, fs.readFileSync(store, "utf8"));
      assert.equal(certs[0]!.fingerprint256, caFingerprint, "the store holds the CA, not the leaf");
      assert.equal(certs[0]!.toString(), new X509Certificate(pki.ca.cert).toString());
      // security.trustStore already names this file: no advice to point the gateway at it.
      assert.doesNotMatch(yes.stdout, /config set security\.trustStore/);

      const check = await ldapTest(dir, "alice");
      assert.equal(check.code, 0, show(check));
      assert.ok(steps(check.stdout).every((x) => x.ok), show(check));

      const before = fs.readFileSync(store);
      const again = await trust(dir, [target, "--config", "portcullis.yaml", "--store", "certs/trust.pem"], "y\n");
      assert.equal(again.code, 0, show(again));
      assert.match(again.stdout, /already trusted/, show(again));
      assert.doesNotMatch(again.stderr, /Add it to/, "asked although already trusted");
      assert.deepEqual(fs.readFileSync(store), before, "the store changed on the second run");
    });

    it("the configured directory's plain port: StartTLS and the store come from the config", async () => {
      const dir = configDir({ security: { trustStore: "certs/ldap.pem" }, ldap: slapd.ldapConfig({ url: slapd.ldapUrl, startTls: true }) });
      const r = await trust(dir, [`127.0.0.1:${slapd.ldapPort}`, "--config", "portcullis.yaml", "--yes"]);
      assert.equal(r.code, 0, show(r));
      assert.ok(r.stdout.includes(`127.0.0.1:${slapd.ldapPort} (StartTLS) presented 2 certificates`), show(r));
      assert.ok(r.stdout.includes(`Added to ${path.join(dir, "certs/ldap.pem")}.`), show(r));
      assert.doesNotMatch(r.stdout, /config set security\.trustStore/, "advised to configure the store the config already names");
      assert.deepEqual(pemCerts(path.join(dir, "certs/ldap.pem")).map((c) => c.fingerprint256), [caFingerprint]);
      const check = await ldapTest(dir, "bob");
      assert.equal(check.code, 0, show(check));
    });

    it("a directory whose CA Node trusts by default: the configured (not yet existing) store is still written, so ldap test passes", async () => {
      // NODE_EXTRA_CA_CERTS puts the test CA among Node's default CAs: the position of a directory
      // certificate from a public CA. security.trustStore REPLACES those CAs (src/ldap/tls.ts), so a
      // store that does not exist yet cannot be "already trusting" anything.
      const env = { NODE_EXTRA_CA_CERTS: pki.caFile };
      const dir = configDir({ security: { trustStore: "certs/ldap.pem" }, ldap: slapd.ldapConfig() });
      const store = path.join(dir, "certs/ldap.pem");
      const r = await trust(dir, [`127.0.0.1:${slapd.ldapsPort}`, "--config", "portcullis.yaml", "--yes"], "", env);
      assert.equal(r.code, 0, show(r));
      assert.ok(
        !/already trusted by/.test(r.stdout) || fs.existsSync(store),
        `certs trust says the chain is "already trusted by" ${store}, a file that does not exist:\n${show(r)}`,
      );
      const check = await ldapTest(dir, "alice");
      assert.equal(check.code, 0, `after certs trust, ldap test with the store it reported on fails:\n${show(check)}`);
    });

    it("--yes adds without reading standard input and says how to point the gateway at the store", async () => {
      const dir = emptyDir();
      const r = await trust(dir, [`127.0.0.1:${slapd.ldapsPort}`, "--store", "certs/yes.pem", "--yes"]);
      assert.equal(r.code, 0, show(r));
      assert.doesNotMatch(r.stderr, /Add it to/);
      assert.deepEqual(pemCerts(path.join(dir, "certs/yes.pem")).map((c) => c.fingerprint256), [caFingerprint]);
      assert.match(r.stdout, /portcullis config set security\.trustStore certs\/yes\.pem/, show(r));
    });

    it("an ldap:// target is fetched with StartTLS", async () => {
      const dir = emptyDir();
      const r = await trust(dir, [`ldap://127.0.0.1:${slapd.ldapPort}`, "--store", "s.pem", "--yes"]);
      assert.equal(r.code, 0, show(r));
      assert.ok(r.stdout.includes(`127.0.0.1:${slapd.ldapPort} (StartTLS) presented 2 certificates`), show(r));
      assert.deepEqual(pemCerts(path.join(dir, "s.pem")).map((c) => c.fingerprint256), [caFingerprint]);
    });

    it("an ldaps:// target works like HOST:PORT", async () => {
      const dir = emptyDir();
      const r = await trust(dir, [slapd.ldapsUrl, "--store", "s.pem", "--yes"]);
      assert.equal(r.code, 0, show(r));
      assert.deepEqual(pemCerts(path.join(dir, "s.pem")).map((c) => c.fingerprint256), [caFingerprint]);
    });

    it("the plain LDAP port as HOST:PORT without --starttls: exit 2 with a hint about --starttls; with it, it works", async () => {
      const dir = emptyDir();
      const target = `127.0.0.1:${slapd.ldapPort}`;
      const plain = await trust(dir, [target, "--store", "s.pem", "--yes"]);
      assert.equal(plain.code, 2, show(plain));
      assert.match(plain.stderr, /--starttls/, show(plain));
      assert.equal(fs.existsSync(path.join(dir, "s.pem")), false);

      const upgraded = await trust(dir, [target, "--starttls", "--store", "s.pem", "--yes"]);
      assert.equal(upgraded.code, 0, show(upgraded));
      assert.match(upgraded.stdout, /\(StartTLS\)/);
      assert.deepEqual(pemCerts(path.join(dir, "s.pem")).map((c) => c.fingerprint256), [caFingerprint]);
    });

    it("refuses a PKCS#12 or JKS store: only PEM bundles, the file untouched", async () => {
      const dir = emptyDir();
      const p12 = path.join(dir, "trust.p12");
      const leaf = pki.issue(`p12-${path.basename(dir)}`);
      fs.writeFileSync(p12, toPkcs12(leaf.pem, [pki.ca.cert], "store-password"));
      const jks = path.join(dir, "trust.jks");
      const made = spawnSync("keytool", ["-importcert", "-noprompt", "-alias", "ca", "-file", pki.caFile, "-keystore", jks, "-storepass", "store-password", "-storetype", "JKS"], { encoding: "utf8", timeout: 30_000 });
      // Without a JDK, a file with the JKS magic number stands in for a keytool one.
      if (made.status !== 0 || !fs.existsSync(jks)) fs.writeFileSync(jks, Buffer.from([0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0, 0, 0, 1]));
      for (const [file, kind] of [[p12, "PKCS#12"], [jks, "JKS"]] as const) {
        const before = fs.readFileSync(file);
        for (const args of [["--yes"], []]) {
          const r = await trust(dir, [`127.0.0.1:${slapd.ldapsPort}`, "--store", file, ...args], "y\n");
          assert.equal(r.code, 2, `${kind} ${args}: ${show(r)}`);
          assert.match(r.stderr, /only adds to PEM bundles/, show(r));
          assert.ok(r.stderr.includes(`is a ${kind} store`), show(r));
        }
        assert.deepEqual(fs.readFileSync(file), before, `${kind} store changed`);
      }
    });

    it("a target that is not HOST:PORT or an LDAP URL: exit 2", async () => {
      const dir = emptyDir();
      for (const target of ["nonsense", "https://127.0.0.1:443", "127.0.0.1:notaport"]) {
        const r = await trust(dir, [target, "--store", "s.pem", "--yes"]);
        assert.equal(r.code, 2, `${target}: ${show(r)}`);
        assert.match(r.stderr, /is not HOST:PORT, ldaps:\/\/HOST:PORT or ldap:\/\/HOST:PORT/, show(r));
      }
      assert.equal(fs.existsSync(path.join(dir, "s.pem")), false);
    });

    it("a closed port: exit 2, connection refused", async () => {
      const dir = emptyDir();
      const r = await trust(dir, [`127.0.0.1:${closedPort}`, "--store", "s.pem", "--yes"]);
      assert.equal(r.code, 2, show(r));
      assert.match(r.stderr, /connection refused/, show(r));
      assert.equal(fs.existsSync(path.join(dir, "s.pem")), false);
    });

    it("keeps another CA already in a PEM store and appends the new one", async () => {
      const dir = emptyDir();
      const other = otherCa;
      const otherFingerprint = new X509Certificate(other.cert).fingerprint256;
      const store = path.join(dir, "bundle.pem");
      // No newline at the end: the appended block must still start on a line of its own.
      const original = `# the CA we had\n${other.cert.trimEnd()}`;
      fs.writeFileSync(store, original);

      const r = await trust(dir, [`127.0.0.1:${slapd.ldapsPort}`, "--store", "bundle.pem"], "yes\n");
      assert.equal(r.code, 0, show(r));
      const after = fs.readFileSync(store, "utf8");
      assert.ok(after.startsWith(original), `the existing content was rewritten:\n${after}`);
      assert.deepEqual(pemCerts(store).map((c) => c.fingerprint256), [otherFingerprint, caFingerprint]);

      // The bundle works as a truststore: both CAs are read, the directory verifies.
      fs.writeFileSync(path.join(dir, "portcullis.yaml"), YAML.stringify({ security: { trustStore: "bundle.pem" }, ldap: slapd.ldapConfig() }));
      const check = await ldapTest(dir, "carol");
      assert.equal(check.code, 0, show(check));
      assert.match(check.stdout, /trusting 2 CA certificate\(s\) from security\.trustStore/, show(check));
    });
  });
});
