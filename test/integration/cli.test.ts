/**
 * The `portcullis` command line (SPEC §3, §5, §9), run as a child process from fresh temporary
 * directories: config validate/get/set, certs init/inspect, firewall, serve.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import http from "node:http";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { createCa, issueCertificate, toPkcs12, type Pem } from "../../src/tls/dev-ca.js";
import { runCli, spawnCli, tempDir, waitForExit, type CliResult } from "../helpers/cli.js";
import { freePorts } from "../helpers/redis.js";

const SHIPPED_CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../config/portcullis.yaml");

const dirs: string[] = [];
function fresh(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI in `cwd` (a fresh empty directory unless given). */
function cli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): CliResult {
  return runCli(args, { cwd: options.cwd ?? fresh(), env: options.env });
}

function show(r: CliResult): string {
  return `status ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

function pemCertificates(text: string): X509Certificate[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]));
}

describe("portcullis config validate", () => {
  it("says the shipped config/portcullis.yaml is valid and exits 0", () => {
    const r = cli(["config", "validate", "-c", SHIPPED_CONFIG]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /valid/);
    assert.ok(r.stdout.includes(SHIPPED_CONFIG), show(r));
  });

  it("lists every problem of a broken file with its key path in one run and exits 2", () => {
    const dir = fresh();
    const file = path.join(dir, "broken.yaml");
    fs.writeFileSync(
      file,
      [
        "ports:",
        '  secure: "44x"',
        "  securr: 4064",
        "site:",
        "  sessionTimeout: soon",
        "bogus: 1",
        'trustedProxies: ["10.0.0.0/33"]',
        "workers: 2",
        "",
      ].join("\n"),
    );
    const r = cli(["config", "validate", "-c", file], { cwd: dir });
    assert.equal(r.status, 2, show(r));
    const expected: [string, RegExp][] = [
      ["ports.secure", /ports\.secure: must be a port number \(1-65535\), got "44x"/],
      ["ports.securr", /ports\.securr: is not a known key; did you mean "secure"/],
      ["site.sessionTimeout", /site\.sessionTimeout: .*"soon"/],
      ["bogus", /^\s*bogus: is not a known key/m],
      ["trustedProxies", /trustedProxies(\[0\])?: .*10\.0\.0\.0\/33/],
      ["workers", /workers: .*store\.redis/],
    ];
    for (const [key, pattern] of expected) assert.match(r.stderr, pattern, `${key} is not reported:\n${show(r)}`);
    assert.match(r.stderr, /6 problems/, show(r));
  });

  it("reports invalid YAML with a line number and a non-zero exit", () => {
    const dir = fresh();
    const file = path.join(dir, "bad.yaml");
    fs.writeFileSync(file, "ports:\n  secure: 4064\nrouter:\n  insecure: [redirect\nlogging:\n  level: info\n");
    const r = cli(["config", "validate", "-c", file], { cwd: dir });
    assert.notEqual(r.status, 0, show(r));
    assert.ok(r.stderr.includes("bad.yaml"), show(r));
    assert.match(r.stderr, /bad\.yaml:\d+(:\d+)?|line \d+/, show(r));
  });

  it("refuses a --config that names a missing file with a message and a non-zero exit", () => {
    const r = cli(["config", "validate", "--config", "nowhere/portcullis.yaml"]);
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /nowhere\/portcullis\.yaml does not exist/, show(r));
    assert.doesNotMatch(r.stdout, /valid/);
  });

  it("says the built-in defaults are valid when the working directory has no config file", () => {
    const r = cli(["config", "validate"]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /no configuration file at config\/portcullis\.yaml; the built-in defaults are valid/);
  });

  it("reports a bad PORTCULLIS_SITE_MAXFAILEDLOGINS from the environment with its key", () => {
    const r = cli(["config", "validate"], { env: { PORTCULLIS_SITE_MAXFAILEDLOGINS: "abc" } });
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /site\.maxFailedLogins: .*"abc"/, show(r));
  });
});

describe("portcullis config get", () => {
  it("prints 4064 for ports.secure on the defaults", () => {
    const r = cli(["config", "get", "ports.secure"]);
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, "4064\n");
  });

  it("prints the effective value, taking PORTCULLIS_PORTS_SECURE=8443 from the environment", () => {
    const r = cli(["config", "get", "ports.secure"], { env: { PORTCULLIS_PORTS_SECURE: "8443" } });
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, "8443\n");
  });

  it("prints upstream.url as URL text", () => {
    const r = cli(["config", "get", "upstream.url"]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout.trim(), /^http:\/\/127\.0\.0\.1:4080\/?$/);
  });

  it("prints a list key as YAML", () => {
    const r = cli(["config", "get", "trustedProxies"], { env: { PORTCULLIS_TRUSTEDPROXIES: "[10.0.0.0/8, 192.168.0.0/16]" } });
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, "- 10.0.0.0/8\n- 192.168.0.0/16\n");
  });

  it("prints store.redis as the redis:// URL it was given", () => {
    const r = cli(["config", "get", "store.redis"], { env: { PORTCULLIS_STORE_REDIS: "redis://127.0.0.1:6379" } });
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout.trim(), /^redis:\/\/127\.0\.0\.1:6379\/?$/, show(r));
  });

  it("prints intervals, rates and host:port in the notation of the file, for one key and for a section", () => {
    const env = { PORTCULLIS_UPSTREAM_TIMEOUT: "90 seconds", PORTCULLIS_REGULATION_MAXFAILURESPERIP: "20 per 5 minutes", PORTCULLIS_PORTS_ADMIN: "[::1]:9100" };
    const get = (key: string) => cli(["config", "get", key], { env });
    assert.equal(get("upstream.timeout").stdout, "1 minute 30 seconds\n");
    assert.equal(get("session.absoluteTimeout").stdout, "12 hours\n");
    assert.equal(get("regulation.maxFailuresPerIp").stdout, "20 per 5 minutes\n");
    assert.equal(get("ports.admin").stdout, "[::1]:9100\n");
    const limits = YAML.parse(get("limits").stdout) as Record<string, unknown>;
    assert.equal(limits.shutdownGrace, "10 seconds");
    assert.equal(limits.maxHeaderSize, 16384);
  });

  it("prints store.redis inside its section as the file writes it, with the Sentinel password masked", () => {
    const r = cli(["config", "get", "store"], { env: { PORTCULLIS_STORE_REDIS: '{sentinels: ["s1:26379", "s2:26379"], name: main, password: hunter2}' } });
    assert.equal(r.status, 0, show(r));
    assert.deepEqual((YAML.parse(r.stdout) as { redis: unknown }).redis, { sentinels: ["s1:26379", "s2:26379"], name: "main", password: "********" });
    assert.doesNotMatch(r.stdout, /hunter2/);
  });

  it("prints a value that config set takes back unchanged", () => {
    const dir = fresh();
    const file = path.join(dir, "c.yaml");
    fs.writeFileSync(file, "upstream:\n  timeout: 90 seconds\nregulation:\n  maxFailuresPerIp: 20 per 5 minutes\n");
    for (const key of ["upstream.timeout", "regulation.maxFailuresPerIp", "ports.admin", "limits.headersTimeout"]) {
      const before = cli(["config", "get", key, "-c", file], { cwd: dir }).stdout.trim();
      const set = cli(["config", "set", key, before, "-c", file], { cwd: dir });
      assert.equal(set.status, 0, show(set));
      assert.equal(cli(["config", "get", key, "-c", file], { cwd: dir }).stdout.trim(), before, key);
    }
  });

  it("says on stderr which port is listened on when ports.prefix is set", () => {
    const r = cli(["config", "get", "ports.secure"], { env: { PORTCULLIS_PORTS_PREFIX: "1" } });
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, "4064\n");
    assert.match(r.stderr, /14064/);
  });

  it("exits 2 saying an unknown key is not a known key, with a hint", () => {
    const r = cli(["config", "get", "ports.securr"]);
    assert.equal(r.status, 2, show(r));
    assert.match(r.stderr, /ports\.securr: is not a known key; did you mean "secure"/);
    assert.equal(r.stdout, "");
  });
});

describe("secrets on the command line", () => {
  const SECRET = "root:$6$saltsalt$Hash0fTheRootPassw0rd:19700:0:99999:7:::";
  /** A directory with a secret file and a config that reads an interval from it. */
  function withSecretFile(config = "site:\n  sessionTimeout: ${file:secret.txt}\n"): string {
    const dir = fresh();
    fs.writeFileSync(path.join(dir, "secret.txt"), `${SECRET}\ndaemon:*:19700:0:99999:7:::\n`);
    fs.writeFileSync(path.join(dir, "portcullis.yaml"), config);
    return dir;
  }
  const leaks = (r: CliResult) => /Hash0fTheRootPassw0rd|daemon:\*/.test(r.stdout + r.stderr);

  it("config validate names ${file:secret.txt} and never prints the file's content", () => {
    const r = cli(["config", "validate", "-c", "portcullis.yaml"], { cwd: withSecretFile() });
    assert.equal(r.status, 2, show(r));
    assert.match(r.stderr, /site\.sessionTimeout: .*the value read from \$\{file:secret\.txt\}/, show(r));
    assert.equal(leaks(r), false, show(r));
  });

  it("config validate names ${env:NAME} and never prints the variable's value", () => {
    const r = cli(["config", "validate", "-c", "portcullis.yaml"], { cwd: withSecretFile("ldap:\n  url: ${env:LDAP_URL}\n"), env: { LDAP_URL: "ldaps//svc:Hash0fTheRootPassw0rd@ldap" } });
    assert.equal(r.status, 2, show(r));
    assert.match(r.stderr, /ldap\.url: .*\$\{env:LDAP_URL\}/, show(r));
    assert.equal(leaks(r), false, show(r));
  });

  it("serve refuses such a config without printing the file's content", async () => {
    const child = spawnCli(["serve", "-c", "portcullis.yaml"], { cwd: withSecretFile() });
    const ended = await waitForExit(child, 20_000);
    const output = child.output();
    assert.equal(ended.killed, false, `still running after 20 s\n${output.stderr}`);
    assert.notEqual(ended.code, 0);
    assert.match(output.stderr, /\$\{file:secret\.txt\}/, output.stderr);
    assert.equal(leaks({ status: ended.code, signal: null, ...output }), false, output.stderr);
  });

  it("config set refuses a ${file:} value that does not validate without printing the content, and writes nothing", () => {
    const dir = withSecretFile("site:\n  sessionTimeout: 15 minutes\n");
    const r = cli(["config", "set", "site.sessionTimeout", "${file:secret.txt}", "-c", "portcullis.yaml"], { cwd: dir });
    assert.equal(r.status, 2, show(r));
    assert.match(r.stderr, /the value read from \$\{file:secret\.txt\}/, show(r));
    assert.equal(leaks(r), false, show(r));
    assert.equal(fs.readFileSync(path.join(dir, "portcullis.yaml"), "utf8"), "site:\n  sessionTimeout: 15 minutes\n");
  });

  it("config get masks passwords, keys and the password part of URLs, for one key and for a section; --show-secrets prints them", () => {
    const dir = withSecretFile(
      "tls:\n  keyStore: server.p12\n  keyStorePassword: ks-Secret-1\n" +
        "security:\n  trustStore: trust.jks\n  trustStorePassword: ts-Secret-2\n" +
        "ldap:\n  url: ldaps://ldap:636\n  userBase: dc=example\n  bindDn: cn=svc\n  bindPassword: ${file:secret.txt}\n" +
        "store:\n  redis: redis://:rd-Secret-3@cache:6379/0\n" +
        "mail:\n  smtp: smtp://mailer:sm-Secret-4@mail.example.org:587\n",
    );
    const get = (key: string, ...extra: string[]) => cli(["config", "get", key, "-c", "portcullis.yaml", ...extra], { cwd: dir });
    const secrets = /ks-Secret-1|ts-Secret-2|Hash0fTheRootPassw0rd|rd-Secret-3|sm-Secret-4/;
    const expected: Record<string, string> = {
      "tls.keyStorePassword": "********",
      "security.trustStorePassword": "********",
      "ldap.bindPassword": "********",
      "store.redis": "redis://:********@cache:6379/0",
      "mail.smtp": "smtp://mailer:********@mail.example.org:587",
    };
    for (const [key, shown] of Object.entries(expected)) {
      const r = get(key);
      assert.equal(r.status, 0, show(r));
      assert.equal(r.stdout.trim(), shown, key);
      assert.match(r.stderr, /--show-secrets/, key);
    }
    for (const section of ["tls", "ldap"]) {
      const r = get(section);
      assert.equal(r.status, 0, show(r));
      assert.doesNotMatch(r.stdout, secrets, section);
      assert.match(r.stdout, /\*{8}/, section);
    }
    assert.equal(get("ldap.bindPassword", "--show-secrets").stdout.split("\n")[0], SECRET);
    const shownLdap = get("ldap", "--show-secrets");
    assert.match(shownLdap.stdout, /Hash0fTheRootPassw0rd/);
    assert.doesNotMatch(shownLdap.stderr, /--show-secrets/);
    // Nothing secret: nothing masked, nothing said.
    const plain = get("ldap.bindDn");
    assert.equal(plain.stdout, "cn=svc\n");
    assert.equal(plain.stderr, "");
  });
});

describe("portcullis config set", () => {
  const original = fs.readFileSync(SHIPPED_CONFIG, "utf8");
  function copy(): { dir: string; file: string } {
    const dir = fresh();
    const file = path.join(dir, "copy.yaml");
    fs.writeFileSync(file, original);
    return { dir, file };
  }

  it("changes only ports.secure and leaves every other line, comments included, exactly as it was", () => {
    const { dir, file } = copy();
    const r = cli(["config", "set", "ports.secure", "8443", "-c", file], { cwd: dir });
    assert.equal(r.status, 0, show(r));
    const before = original.split("\n");
    const afterLines = fs.readFileSync(file, "utf8").split("\n");
    assert.equal(afterLines.length, before.length, "the number of lines changed");
    const differing = before.flatMap((line, i) => (line === afterLines[i] ? [] : [`${i + 1}: ${JSON.stringify(line)} -> ${JSON.stringify(afterLines[i])}`]));
    assert.deepEqual(differing, [`11: ${JSON.stringify("  secure: 4064")} -> ${JSON.stringify("  secure: 8443")}`]);
  });

  it("adds keys that are only commented out or absent, keeps the comments, and the file still validates", () => {
    const { dir, file } = copy();
    const a = cli(["config", "set", "site.maxFailedLogins", "3", "-c", file], { cwd: dir });
    assert.equal(a.status, 0, show(a));
    assert.match(a.stdout, /if site\.maxFailedLogins was changed at run time over REST, that value still wins .*portcullis config reset site\.maxFailedLogins/, "site.* keys name the run-time layer above the file");
    const b = cli(["config", "set", "store.redis", "redis://127.0.0.1:6379", "-c", file], { cwd: dir });
    assert.equal(b.status, 0, show(b));
    const text = fs.readFileSync(file, "utf8");
    const parsed = YAML.parse(text) as { site?: { maxFailedLogins?: unknown }; store?: { redis?: unknown }; ports?: { secure?: unknown } };
    assert.equal(parsed.site?.maxFailedLogins, 3);
    assert.equal(parsed.store?.redis, "redis://127.0.0.1:6379");
    assert.equal(parsed.ports?.secure, 4064);
    // Every line of the original is still there, in order and unindented or indented as it was: the
    // new keys are lines added, nothing else moved (a re-printed document re-indented comments).
    const added = text.split("\n");
    let at = 0;
    for (const line of original.split("\n")) {
      const found = added.indexOf(line, at);
      assert.ok(found >= 0, `line ${JSON.stringify(line)} is gone or changed`);
      at = found + 1;
    }
    assert.equal(added.length - original.split("\n").length, 6, text.slice(original.length - 200));
    const v = cli(["config", "validate", "-c", file], { cwd: dir });
    assert.equal(v.status, 0, show(v));
    assert.match(v.stdout, /valid/);
  });

  it("refuses ports.secure 44x with exit 2, prints the problem, says nothing was written and leaves the file byte for byte", () => {
    const { dir, file } = copy();
    const before = fs.readFileSync(file);
    const r = cli(["config", "set", "ports.secure", "44x", "-c", file], { cwd: dir });
    assert.equal(r.status, 2, show(r));
    assert.match(r.stderr, /ports\.secure: must be a port number \(1-65535\), got "44x"/);
    assert.match(r.stderr, /nothing was written/);
    assert.ok(fs.readFileSync(file).equals(before), "the file changed");
  });

  it("refuses a misspelt key with exit 2 and a did-you-mean hint, leaving the file unchanged", () => {
    const { dir, file } = copy();
    const before = fs.readFileSync(file);
    const r = cli(["config", "set", "ports.securr", "8443", "-c", file], { cwd: dir });
    assert.equal(r.status, 2, show(r));
    assert.match(r.stderr, /ports\.securr: is not a known key; did you mean "secure"/);
    assert.ok(fs.readFileSync(file).equals(before), "the file changed");
  });

  it("adds a key under an existing section right after that section's last entry, at its indentation", () => {
    const { dir, file } = copy();
    fs.writeFileSync(file, original.replace("  url: http://127.0.0.1:4080", "  url: https://app.internal:8443"));
    const source = fs.readFileSync(file, "utf8");
    assert.notEqual(source, original, "the shipped upstream.url moved: adjust this test");
    const r = cli(["config", "set", "upstream.ca", "certs/upstream-ca.pem", "-c", file], { cwd: dir });
    assert.equal(r.status, 0, show(r));
    const text = fs.readFileSync(file, "utf8");
    const timeoutLine = source.split("\n").findIndex((l) => /^ {2}timeout: /.test(l));
    assert.ok(timeoutLine > 0, "the shipped config has upstream.timeout");
    assert.equal(text.split("\n")[timeoutLine + 1], "  ca: certs/upstream-ca.pem", text);
    assert.equal(text.split("\n").filter((l) => l !== "  ca: certs/upstream-ca.pem").join("\n"), source);
    assert.equal((YAML.parse(text) as { upstream: { ca: string } }).upstream.ca, "certs/upstream-ca.pem");
  });

  it("keeps a file's CRLF line endings and a byte-order mark when it adds keys", () => {
    const dir = fresh();
    const file = path.join(dir, "c.yaml");
    fs.writeFileSync(file, "\uFEFFports:\r\n  secure: 4064\r\n");
    for (const [key, value] of [["ports.insecure", "4070"], ["site.maxFailedLogins", "3"]] as const) {
      const r = cli(["config", "set", key, value, "-c", file], { cwd: dir });
      assert.equal(r.status, 0, show(r));
    }
    const text = fs.readFileSync(file, "utf8");
    assert.equal(text, "\uFEFFports:\r\n  secure: 4064\r\n  insecure: 4070\r\n\r\nsite:\r\n  maxFailedLogins: 3\r\n");
  });

  it("fills a section written without a value (site:) instead of failing", () => {
    const dir = fresh();
    const file = path.join(dir, "c.yaml");
    fs.writeFileSync(file, "# mine\nports:\n  secure: 4064\nsite:\n");
    const r = cli(["config", "set", "site.maxFailedLogins", "3", "-c", file], { cwd: dir });
    assert.equal(r.status, 0, show(r));
    const parsed = YAML.parse(fs.readFileSync(file, "utf8")) as { site: { maxFailedLogins: number }; ports: { secure: number } };
    assert.equal(parsed.site.maxFailedLogins, 3);
    assert.equal(parsed.ports.secure, 4064);
    assert.match(fs.readFileSync(file, "utf8"), /^# mine$/m);
  });

  it("stores a flow list given for trustedProxies as a YAML list", () => {
    const { dir, file } = copy();
    const r = cli(["config", "set", "trustedProxies", "[10.0.0.0/8, 192.168.0.0/16]", "-c", file], { cwd: dir });
    assert.equal(r.status, 0, show(r));
    const parsed = YAML.parse(fs.readFileSync(file, "utf8")) as { trustedProxies?: unknown };
    assert.deepEqual(parsed.trustedProxies, ["10.0.0.0/8", "192.168.0.0/16"]);
  });
});

describe("portcullis certs init", () => {
  const dir = fresh();
  const certs = path.join(dir, "D");
  let first: CliResult;
  let firstCa: Buffer;
  let firstLeaf: X509Certificate;
  before(() => {
    first = cli(["certs", "init", "--dir", "D", "--hosts", "localhost,127.0.0.1,example.test"], { cwd: dir });
  });

  it("writes ca.pem, ca.key, server.pem and server.key, with the keys readable by the owner only", () => {
    assert.equal(first.status, 0, show(first));
    for (const name of ["ca.pem", "ca.key", "server.pem", "server.key"]) assert.ok(fs.existsSync(path.join(certs, name)), `${name} is missing`);
    for (const name of ["ca.key", "server.key"]) assert.equal(fs.statSync(path.join(certs, name)).mode & 0o777, 0o600, `${name} mode`);
    firstCa = fs.readFileSync(path.join(certs, "ca.pem"));
  });

  it("issues a server certificate that verifies against the CA and names localhost, 127.0.0.1 and example.test", () => {
    const [ca] = pemCertificates(fs.readFileSync(path.join(certs, "ca.pem"), "utf8"));
    const [leaf] = pemCertificates(fs.readFileSync(path.join(certs, "server.pem"), "utf8"));
    assert.ok(ca && leaf);
    assert.ok(ca.ca, "ca.pem is not a CA certificate");
    assert.equal(leaf.verify(ca.publicKey), true);
    assert.equal(leaf.checkIssued(ca), true);
    const sans = (leaf.subjectAltName ?? "").split(", ");
    for (const san of ["DNS:localhost", "IP Address:127.0.0.1", "DNS:example.test"]) assert.ok(sans.includes(san), `${san} missing from ${leaf.subjectAltName}`);
    firstLeaf = leaf;
  });

  it("tells how to trust the CA", () => {
    assert.match(first.stdout, /trust/i);
    assert.ok(first.stdout.includes(path.join("D", "ca.pem")), show(first));
  });

  it("suggests a curl command for the first host the certificate names, with the IP address in it too", () => {
    const other = fresh();
    const r = cli(["certs", "init", "--dir", "E", "--hosts", "gw.example.test,10.0.0.5"], { cwd: other });
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /curl --cacert \S+ca\.pem https:\/\/gw\.example\.test:4064\//, show(r));
    const [leaf] = pemCertificates(fs.readFileSync(path.join(other, "E", "server.pem"), "utf8"));
    assert.deepEqual((leaf!.subjectAltName ?? "").split(", ").sort(), ["DNS:gw.example.test", "IP Address:10.0.0.5"]);
  });

  it("reuses the same CA on a second run and writes a new server certificate signed by it", () => {
    assert.ok(firstCa && firstLeaf, "the first run did not produce files");
    const second = cli(["certs", "init", "--dir", "D", "--hosts", "localhost,127.0.0.1,example.test"], { cwd: dir });
    assert.equal(second.status, 0, show(second));
    assert.ok(fs.readFileSync(path.join(certs, "ca.pem")).equals(firstCa), "ca.pem changed");
    const [ca] = pemCertificates(firstCa.toString("utf8"));
    const [leaf] = pemCertificates(fs.readFileSync(path.join(certs, "server.pem"), "utf8"));
    assert.ok(ca && leaf);
    assert.notEqual(leaf.fingerprint256, firstLeaf.fingerprint256, "server.pem was not renewed");
    assert.equal(leaf.verify(ca.publicKey), true);
  });
});

describe("portcullis certs inspect", () => {
  const dir = fresh();
  let ca: Pem;
  let leaf: Pem;
  before(() => {
    ca = createCa("inspect test CA");
    leaf = issueCertificate(ca, { hosts: ["inspect.example.test", "127.0.0.1"], commonName: "inspect.example.test", days: 30 });
    fs.writeFileSync(path.join(dir, "chain.pem"), leaf.cert + ca.cert);
    fs.writeFileSync(path.join(dir, "store.p12"), toPkcs12(leaf, [ca.cert], "s3cret"));
    fs.writeFileSync(path.join(dir, "garbage.pem"), "this is not a certificate\n");
  });

  function daysLeft(pem: string): number {
    return Math.floor((new Date(new X509Certificate(pem).validTo).getTime() - Date.now()) / 86_400_000);
  }

  it("prints subject, SANs, issuer, validity and days left for each certificate of a PEM chain", () => {
    const r = cli(["certs", "inspect", "chain.pem"], { cwd: dir });
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /2 certificates/);
    const [leafPart, caPart] = r.stdout.split(/^\[1\]$/m);
    assert.ok(leafPart && caPart, show(r));
    assert.match(leafPart, /subject:.*CN=inspect\.example\.test/);
    assert.match(leafPart, /SANs:.*DNS:inspect\.example\.test.*IP Address:127\.0\.0\.1/);
    assert.match(leafPart, /issuer:.*CN=inspect test CA/);
    assert.ok(leafPart.includes(new Date(new X509Certificate(leaf.cert).validTo).toISOString()), "leaf validity end missing");
    assert.ok(leafPart.includes(`${daysLeft(leaf.cert)} days left`), show(r));
    assert.match(caPart, /subject:.*CN=inspect test CA/);
    assert.match(caPart, /issuer:.*CN=inspect test CA/);
    assert.ok(caPart.includes(new Date(new X509Certificate(ca.cert).validTo).toISOString()), "CA validity end missing");
    assert.ok(caPart.includes(`${daysLeft(ca.cert)} days left`), show(r));
  });

  it("prints the certificates of a PKCS#12 file opened with --password and says it holds a private key", () => {
    const r = cli(["certs", "inspect", "store.p12", "--password", "s3cret"], { cwd: dir });
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /2 certificates and a private key/);
    assert.match(r.stdout, /CN=inspect\.example\.test/);
    assert.match(r.stdout, /DNS:inspect\.example\.test/);
    assert.match(r.stdout, /days left/);
  });

  it("exits non-zero naming the password when the PKCS#12 password is wrong", () => {
    const r = cli(["certs", "inspect", "store.p12", "--password", "wrong"], { cwd: dir });
    assert.notEqual(r.status, 0, show(r));
    assert.equal(r.signal, null);
    assert.match(r.stderr, /password/i);
    assert.doesNotMatch(r.stdout, /certificate/);
  });

  it("exits non-zero saying the password is missing when a PKCS#12 file is given without --password", () => {
    const r = cli(["certs", "inspect", "store.p12"], { cwd: dir });
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /--password.*protected by a password and none was given/, show(r));
  });

  it("exits non-zero saying a missing file does not exist", () => {
    const r = cli(["certs", "inspect", "missing.pem"], { cwd: dir });
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /missing\.pem does not exist/);
  });

  it("exits non-zero on a file that holds no certificate", () => {
    const r = cli(["certs", "inspect", "garbage.pem"], { cwd: dir });
    assert.notEqual(r.status, 0, show(r));
    assert.equal(r.signal, null);
    assert.match(r.stderr, /garbage\.pem/);
  });
});

describe("portcullis firewall", () => {
  /** The TCP ports the rules accept, per syntax. */
  function openedPorts(format: string, text: string): number[] {
    const ports: number[] = [];
    if (format === "iptables") for (const m of text.matchAll(/^ip6?tables -A INPUT -p tcp.*--dport (\d+) .*-j ACCEPT$/gm)) ports.push(Number(m[1]));
    if (format === "pf") for (const m of text.matchAll(/^pass in .*proto tcp .* port (\d+)\s*$/gm)) ports.push(Number(m[1]));
    if (format === "nftables") for (const m of text.matchAll(/dport \{([^}]*)\}/g)) ports.push(...m[1]!.split(",").map((p) => Number(p.trim())));
    return ports.sort((a, b) => a - b);
  }
  const closedByDefault: Record<string, RegExp> = { iptables: /^iptables -P INPUT DROP$/m, pf: /^block in /m, nftables: /policy drop;/ };

  for (const format of ["iptables", "pf", "nftables"]) {
    it(`opens exactly 4063 and 4064 on the defaults in ${format} syntax, not the admin port 4065`, () => {
      const r = cli(["firewall", "--format", format]);
      assert.equal(r.status, 0, show(r));
      assert.deepEqual(openedPorts(format, r.stdout), [4063, 4064], r.stdout);
      assert.doesNotMatch(r.stdout, /4065/);
      assert.match(r.stdout, closedByDefault[format]!);
    });
  }

  it("sets each family's drop policy only after its accept rules, keeps ICMPv6, and leaves SSH to the admin, commented out", () => {
    const r = cli(["firewall", "--format", "iptables"]);
    assert.equal(r.status, 0, show(r));
    const lines = r.stdout.split("\n");
    for (const cmd of ["iptables", "ip6tables"]) {
      const policy = lines.indexOf(`${cmd} -P INPUT DROP`);
      assert.ok(policy > 0, r.stdout);
      const accepts = lines.flatMap((l, i) => (l.startsWith(`${cmd} -A INPUT`) ? [i] : []));
      assert.ok(accepts.length >= 2 && accepts.every((i) => i < policy), `${cmd}: an accept rule follows the drop policy\n${r.stdout}`);
      assert.ok(lines.includes(`# ${cmd} -A INPUT -p tcp --dport 22 -j ACCEPT`), r.stdout);
    }
    assert.ok(lines.includes("ip6tables -A INPUT -p ipv6-icmp -j ACCEPT"), r.stdout);
    assert.match(r.stdout, /SSH included/);
    const nft = cli(["firewall", "--format", "nftables"]);
    assert.match(nft.stdout, /^\s*meta l4proto ipv6-icmp accept$/m);
    assert.match(nft.stdout, /^\s*# tcp dport 22 accept$/m);
    assert.ok(lines.includes("ip6tables -A INPUT -p udp -d fe80::/64 --dport 546 -j ACCEPT"), `DHCPv6 answers\n${r.stdout}`);
    assert.match(nft.stdout, /^\s*ip6 daddr fe80::\/64 udp dport 546 accept$/m);
    const pf = cli(["firewall", "--format", "pf"]);
    assert.match(pf.stdout, /^pass in on \$ext_if inet6 proto icmp6 /m);
    // Without it, replies to the host's own connections would meet the block rule without a state.
    assert.match(pf.stdout, /^pass out on \$ext_if all keep state$/m);
  });

  it("opens both families without an address limit when ports.host is a name, and says so", () => {
    const r = cli(["firewall", "--format", "iptables"], { env: { PORTCULLIS_PORTS_HOST: "gw.example.test" } });
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /ports\.host is the name gw\.example\.test/);
    for (const cmd of ["iptables", "ip6tables"]) assert.match(r.stdout, new RegExp(`^${cmd} -A INPUT -p tcp --dport 4064 -j ACCEPT$`, "m"), r.stdout);
    assert.doesNotMatch(r.stdout, / -d gw\./);
  });

  it("opens the ports for IPv4 only on 0.0.0.0 and for both families on ::", () => {
    const v4 = cli(["firewall", "--format", "iptables"]);
    assert.doesNotMatch(v4.stdout, /^ip6tables .*--dport 406/m, v4.stdout);
    const both = cli(["firewall", "--format", "iptables"], { env: { PORTCULLIS_PORTS_HOST: "::" } });
    assert.equal(both.status, 0, show(both));
    for (const cmd of ["iptables", "ip6tables"]) {
      for (const port of [4063, 4064]) assert.match(both.stdout, new RegExp(`^${cmd} -A INPUT -p tcp --dport ${port} -j ACCEPT$`, "m"), both.stdout);
    }
    const nft = cli(["firewall", "--format", "nftables"]);
    assert.match(nft.stdout, /meta nfproto ipv4 tcp dport \{ 4063, 4064 \} accept/);
    const nftBoth = cli(["firewall", "--format", "nftables"], { env: { PORTCULLIS_PORTS_HOST: "::" } });
    assert.match(nftBoth.stdout, /^\s*tcp dport \{ 4063, 4064 \} accept$/m);
  });

  it("opens 14063 and 14064 and not 4063 or 4064 with PORTCULLIS_PORTS_PREFIX=1", () => {
    const r = cli(["firewall", "--format", "iptables"], { env: { PORTCULLIS_PORTS_PREFIX: "1" } });
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(openedPorts("iptables", r.stdout), [14063, 14064], r.stdout);
    assert.doesNotMatch(r.stdout, /\b406[345]\b/);
  });

  it("limits the iptables rules to PORTCULLIS_PORTS_HOST with -d", () => {
    const r = cli(["firewall", "--format", "iptables"], { env: { PORTCULLIS_PORTS_HOST: "192.0.2.10" } });
    assert.equal(r.status, 0, show(r));
    const accepts = r.stdout.split("\n").filter((l) => /^ip6?tables .*-p tcp.*--dport/.test(l));
    assert.equal(accepts.length, 2, r.stdout);
    for (const line of accepts) assert.match(line, / -d 192\.0\.2\.10 /);
  });

  it("exits non-zero on an unknown --format", () => {
    const r = cli(["firewall", "--format", "ufw"]);
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /ufw/);
    assert.equal(r.stdout, "");
  });
});

describe("portcullis serve", () => {
  const children: ReturnType<typeof spawnCli>[] = [];
  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) await waitForExit(child, 0).catch(() => undefined);
  });

  it("exits non-zero quickly with a message naming tls.keyStore when the keystore file is missing", async () => {
    const dir = fresh();
    const [secure, insecure, admin] = await freePorts(3);
    fs.writeFileSync(
      path.join(dir, "portcullis.yaml"),
      `ports:\n  secure: ${secure}\n  insecure: ${insecure}\n  admin: 127.0.0.1:${admin}\ntls:\n  keyStore: missing.p12\n  keyStorePassword: secret\n`,
    );
    const child = spawnCli(["serve", "-c", "portcullis.yaml"], { cwd: dir });
    children.push(child);
    const ended = await waitForExit(child, 20_000);
    const { stdout, stderr } = child.output();
    assert.equal(ended.killed, false, `still running after 20 s\n${stdout}\n${stderr}`);
    assert.notEqual(ended.code, 0);
    assert.match(stderr, /tls\.keyStore/, `${stdout}\n${stderr}`);
    assert.match(stderr, /missing\.p12/);
  });

  describe("on a fresh directory with --demo-upstream", () => {
    const dir = fresh();
    let child: ReturnType<typeof spawnCli>;
    let ports: { secure: number; insecure: number; admin: number; upstream: number };
    let ca: Buffer | undefined;
    const password = "first-look-Passw0rd";

    function get(mod: typeof http | typeof https, port: number, pathname: string, options: https.RequestOptions = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
      return new Promise((resolve, reject) => {
        const req = mod.request({ host: "127.0.0.1", port, path: pathname, agent: false, timeout: 5000, ...options }, (res) => {
          let body = "";
          res.setEncoding("utf8").on("data", (c: string) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on("timeout", () => req.destroy(new Error("timed out")));
        req.on("error", reject);
        req.end();
      });
    }

    before(async () => {
      const [secure, insecure, admin, upstream] = await freePorts(4);
      ports = { secure, insecure, admin, upstream };
      child = spawnCli(["serve", "--demo-upstream"], {
        cwd: dir,
        env: {
          PORTCULLIS_PORTS_SECURE: String(ports.secure),
          PORTCULLIS_PORTS_INSECURE: String(ports.insecure),
          PORTCULLIS_PORTS_ADMIN: `127.0.0.1:${ports.admin}`,
          PORTCULLIS_UPSTREAM_URL: `http://127.0.0.1:${ports.upstream}`,
          PORTCULLIS_ADMIN_PASSWORD: password,
        },
      });
      children.push(child);
      // Ready when the plaintext listener answers (at most ~20 s).
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (child.exitCode !== null) break;
        try {
          await get(http, ports.insecure, "/gateway/healthz");
          break;
        } catch {
          if (Date.now() > deadline) break;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      ca = fs.existsSync(path.join(dir, "certs/ca.pem")) ? fs.readFileSync(path.join(dir, "certs/ca.pem")) : undefined;
    });
    after(async () => {
      if (child && child.exitCode === null && child.signalCode === null) await waitForExit(child, 0);
    });

    it("creates certs/ca.pem, certs/server.pem and certs/server.key on first start", () => {
      assert.equal(child.exitCode, null, `serve ended early\n${child.output().stdout}\n${child.output().stderr}`);
      for (const name of ["ca.pem", "server.pem", "server.key"]) assert.ok(fs.existsSync(path.join(dir, "certs", name)), `certs/${name} is missing`);
    });

    it("answers an https request on the secure port, trusted through certs/ca.pem, with the demo upstream's page", async () => {
      assert.ok(ca, "certs/ca.pem was not created");
      const res = await get(https, ports.secure, "/", {
        ca,
        servername: "localhost",
        headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString("base64")}`, accept: "text/html" },
      });
      assert.equal(res.status, 200, res.body);
      assert.match(String(res.headers["content-type"]), /text\/html/);
      assert.match(res.body, /demo upstream/);
    });

    it("answers the plaintext port with a 308 to the same path on https", async () => {
      const res = await get(http, ports.insecure, "/some/path?x=1");
      assert.equal(res.status, 308);
      assert.equal(res.headers.location, `https://127.0.0.1:${ports.secure}/some/path?x=1`);
    });

    it("exits with code 0 within 15 s of SIGTERM", async () => {
      assert.equal(child.exitCode, null, "serve is not running");
      child.kill("SIGTERM");
      const ended = await waitForExit(child, 15_000);
      assert.equal(ended.killed, false, "still running 15 s after SIGTERM");
      assert.equal(ended.code, 0, child.output().stderr);
    });
  });
});
