/**
 * The directory login provider (src/ldap/directory.ts) against a real OpenLDAP slapd: search-then-bind
 * over ldaps:// and ldap://+StartTLS, filter injection, ambiguity, certificate verification, client
 * certificates, timeouts, restarts, and that no socket outlives its login.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { BIND_POOL_SIZE, Directory, type DirectoryLogin, type DirectorySettings } from "../../../src/ldap/directory.js";
import type { LdapEndpoint } from "../../../src/ldap/connection.js";
import { loadLdapTls, type LdapTlsMaterial } from "../../../src/ldap/tls.js";
import { createLogger } from "../../../src/log/logger.js";
import { createCa, issueCertificate, toPkcs12 } from "../../../src/tls/dev-ca.js";
import { makePki, type TestPki } from "../../helpers/certs.js";
import { ownSocketsTo, startSilentServer, startStartTlsStallServer, waitForOwnSockets, type SilentServer } from "../../helpers/ldap-servers.js";
import { freePort } from "../../helpers/redis.js";
import { GROUPS, PEOPLE, PEOPLE_SEED, SERVICE_DN, SERVICE_PASSWORD, startTestSlapd, type TestSlapd } from "../../helpers/slapd.js";

const log = createLogger({ level: "silent" });
const ALICE_DN = `uid=alice,${PEOPLE}`;
const BOB_DN = `uid=bob,${PEOPLE}`;
const { alice, bob, carol } = PEOPLE_SEED;

/** Settings for `url` (ldap:// means StartTLS) with the seeded service account, groups and admin group. */
/** Sockets a Directory may hold between logins: the service connection and the idle bind pool. */
const AT_REST = 1 + BIND_POOL_SIZE;

function settingsFor(url: string, tls: LdapTlsMaterial, extra: Partial<DirectorySettings> = {}, endpoint: Partial<LdapEndpoint> = {}): DirectorySettings {
  const u = new URL(url);
  return {
    endpoint: { url: u, startTls: u.protocol === "ldap:", timeoutMs: 5000, connectTimeoutMs: 3000, tls, ...endpoint },
    bindDn: SERVICE_DN,
    bindPassword: SERVICE_PASSWORD,
    userBase: PEOPLE,
    userFilter: "(uid={username})",
    groupBase: GROUPS,
    groupFilter: "(member={dn})",
    adminGroups: ["admins"],
    ...extra,
  };
}

/** Directories opened by a test, closed after it whatever happened. */
const opened: Directory[] = [];
function directory(settings: DirectorySettings): Directory {
  const d = new Directory(settings, log);
  opened.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((d) => d.close()));
});

function assertOk(result: DirectoryLogin, dn: string): Extract<DirectoryLogin, { kind: "ok" }>["identity"] {
  assert.equal(result.kind, "ok", `expected ok, got ${JSON.stringify(result)}`);
  assert.ok(result.kind === "ok");
  assert.equal(result.identity.dn.toLowerCase(), dn.toLowerCase());
  return result.identity;
}

function assertUnavailable(result: DirectoryLogin, kind?: string): Extract<DirectoryLogin, { kind: "unavailable" }>["problem"] {
  assert.equal(result.kind, "unavailable", `expected unavailable, got ${JSON.stringify(result)}`);
  assert.ok(result.kind === "unavailable");
  if (kind) assert.equal(result.problem.kind, kind, `expected problem ${kind}, got ${JSON.stringify(result.problem)}`);
  return result.problem;
}

/** Runs the login checks shared by ldaps:// and StartTLS. */
async function assertSeededLogins(url: string, tls: LdapTlsMaterial): Promise<void> {
  const dir = directory(settingsFor(url, tls));
  const a = assertOk(await dir.authenticate("alice", alice.password), ALICE_DN);
  assert.equal(a.email, "alice@example.org");
  assert.equal(a.displayName, "Alice Liddell");
  assert.deepEqual([...a.groups].sort(), ["admins", "scientists"]);
  assert.equal(a.admin, true);

  const b = assertOk(await dir.authenticate("bob", bob.password), BOB_DN);
  assert.equal(b.email, "bob@example.org");
  assert.equal(b.displayName, "Bob Marley");
  assert.deepEqual(b.groups, ["scientists"]);
  assert.equal(b.admin, false);

  const c = assertOk(await dir.authenticate("carol", carol.password), `uid=carol,${PEOPLE}`);
  assert.equal(c.displayName, "Carol (Star) Danvers");
  assert.deepEqual(c.groups, []);
  assert.equal(c.admin, false);

  // Admin group names match whatever their case.
  const upper = directory(settingsFor(url, tls, { adminGroups: ["ADMINS"] }));
  assert.equal(assertOk(await upper.authenticate("alice", alice.password), ALICE_DN).admin, true);
  assert.equal(assertOk(await upper.authenticate("bob", bob.password), BOB_DN).admin, false);
}

const EXTRA_LDIF = `dn: uid=o(brien)*,${PEOPLE}
objectClass: inetOrgPerson
uid: o(brien)*
cn: Miles O'Brien
sn: O'Brien
mail: obrien@example.org
userPassword: obrien-password-1

dn: cn=irish,${GROUPS}
objectClass: groupOfNames
cn: irish
member: uid=o(brien)*,${PEOPLE}

dn: uid=twin1,${PEOPLE}
objectClass: inetOrgPerson
uid: twin1
cn: Twin One
sn: One
mail: twins@example.org
userPassword: twin-password-1

dn: uid=twin2,${PEOPLE}
objectClass: inetOrgPerson
uid: twin2
cn: Twin Two
sn: Two
mail: twins@example.org
userPassword: twin-password-1
`;

describe("Directory against slapd: search-then-bind", () => {
  let pki: TestPki;
  let slapd: TestSlapd;
  let trust: LdapTlsMaterial;
  before(async () => {
    pki = makePki();
    slapd = await startTestSlapd({ pki, extraLdif: EXTRA_LDIF });
    trust = { ca: [pki.ca.cert] };
  });
  after(async () => {
    await slapd?.cleanup();
    pki?.cleanup();
  });

  it("logs alice and bob in over ldaps:// with mail, display name, groups and admin", async () => {
    await assertSeededLogins(slapd.ldapsUrl, trust);
  });

  it("logs alice and bob in over ldap:// + StartTLS the same way", async () => {
    await assertSeededLogins(slapd.ldapUrl, trust);
  });

  for (const proto of ["ldaps", "starttls"] as const) {
    it(`refuses a wrong password and answers not-found for an unknown user (${proto})`, async () => {
      const dir = directory(settingsFor(proto === "ldaps" ? slapd.ldapsUrl : slapd.ldapUrl, trust));
      assert.deepEqual(await dir.authenticate("alice", "wrong-password"), { kind: "bad-password" });
      assert.deepEqual(await dir.authenticate("alice", bob.password), { kind: "bad-password" });
      assert.deepEqual(await dir.authenticate("alice", ""), { kind: "bad-password" });
      assert.deepEqual(await dir.authenticate("nobody", alice.password), { kind: "not-found" });
      assert.deepEqual(await dir.authenticate("", alice.password), { kind: "not-found" });
      // And the right password still works afterwards on the same Directory.
      assertOk(await dir.authenticate("alice", alice.password), ALICE_DN);
    });
  }

  it("answers bad-password for an empty password without contacting the directory", async () => {
    // A closed port: any attempt to reach it would turn into "unavailable".
    const closed = directory(settingsFor(`ldaps://127.0.0.1:${await freePort()}`, trust));
    assert.deepEqual(await closed.authenticate("alice", ""), { kind: "bad-password" });
    assert.deepEqual(await closed.authenticate("nobody", ""), { kind: "bad-password" });
    assertUnavailable(await closed.authenticate("alice", "x"), "refused");
    // And a listening server sees no connection at all.
    const silent = await startSilentServer();
    try {
      for (const url of [`ldaps://127.0.0.1:${silent.port}`, `ldap://127.0.0.1:${silent.port}`]) {
        const d = directory(settingsFor(url, trust));
        assert.deepEqual(await d.authenticate("alice", ""), { kind: "bad-password" });
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(silent.accepted, 0);
    } finally {
      await silent.close();
    }
  });

  it("searches anonymously when no bindDn is set", async () => {
    for (const url of [slapd.ldapsUrl, slapd.ldapUrl]) {
      const dir = directory(settingsFor(url, trust, { bindDn: undefined, bindPassword: undefined }));
      const a = assertOk(await dir.authenticate("alice", alice.password), ALICE_DN);
      assert.deepEqual([...a.groups].sort(), ["admins", "scientists"]);
      assert.equal(a.admin, true);
      assert.deepEqual(await dir.authenticate("bob", "nope"), { kind: "bad-password" });
      assert.deepEqual((await dir.check()).ok, true);
    }
  });

  it("reports a refused service account as unavailable, naming ldap.bindDn and ldap.bindPassword", async () => {
    for (const url of [slapd.ldapsUrl, slapd.ldapUrl]) {
      const dir = directory(settingsFor(url, trust, { bindPassword: "not-the-service-password" }));
      const problem = assertUnavailable(await dir.authenticate("alice", alice.password));
      assert.match(problem.message, /ldap\.bindDn/);
      assert.match(problem.message, /ldap\.bindPassword/);
      assert.ok(problem.message.includes(SERVICE_DN), problem.message);
      assert.ok(!problem.message.includes("not-the-service-password"), "the message must not carry the password");
      const check = await dir.check();
      assert.equal(check.ok, false);
    }
  });

  it("escapes filter values: injection attempts with alice's password find nobody", async () => {
    const dir = directory(settingsFor(slapd.ldapsUrl, trust));
    const attempts = ["*", "*)(uid=*", "alice)(uid=*", "al*", "*)(|(uid=*", "alice*", "*alice", "alice)", "(uid=alice)", "alice\\", "alice\u0000", "ALICE*"];
    for (const username of attempts) {
      const result = await dir.authenticate(username, alice.password);
      assert.deepEqual(result, { kind: "not-found" }, `username ${JSON.stringify(username)} gave ${JSON.stringify(result)}`);
    }
    // The same through a mail filter.
    const byMail = directory(settingsFor(slapd.ldapsUrl, trust, { userFilter: "(mail={username})" }));
    for (const username of ["*", "*@example.org", "alice@*", "*)(mail=*"]) {
      assert.deepEqual(await byMail.authenticate(username, alice.password), { kind: "not-found" }, username);
    }
    assertOk(await byMail.authenticate("alice@example.org", alice.password), ALICE_DN);
  });

  it("logs in a user whose uid holds filter specials with exactly that name", async () => {
    for (const url of [slapd.ldapsUrl, slapd.ldapUrl]) {
      const dir = directory(settingsFor(url, trust));
      const o = assertOk(await dir.authenticate("o(brien)*", "obrien-password-1"), `uid=o(brien)*,${PEOPLE}`);
      assert.equal(o.email, "obrien@example.org");
      assert.equal(o.displayName, "Miles O'Brien");
      // The group filter gets the DN escaped too: the membership is found.
      assert.deepEqual(o.groups, ["irish"]);
      assert.equal(o.admin, false);
      assert.deepEqual(await dir.authenticate("o(brien)*", "wrong"), { kind: "bad-password" });
      for (const near of ["o(brien)", "o(brien)**", "o*", "o(*", "O(BRIEN)"]) {
        const result = await dir.authenticate(near, "obrien-password-1");
        // uid matching is case-insensitive in the schema, so O(BRIEN)* would be the same entry; these are not.
        assert.notEqual(result.kind, "ok", `${near} must not log in as o(brien)*`);
      }
    }
  });

  it("refuses a user name that matches two entries as ambiguous, never ok", async () => {
    const dir = directory(settingsFor(slapd.ldapsUrl, trust, { userFilter: "(mail={username})" }));
    for (const password of ["twin-password-1", "wrong", alice.password]) {
      const result = await dir.authenticate("twins@example.org", password);
      assert.equal(result.kind, "ambiguous", JSON.stringify(result));
      assert.ok(result.kind === "ambiguous" && result.count === 2);
    }
    // A filter that matches everybody is cut at two and still refused.
    const wide = directory(settingsFor(slapd.ldapsUrl, trust, { userFilter: "(|(uid={username})(objectClass=inetOrgPerson))" }));
    const result = await wide.authenticate("alice", alice.password);
    assert.equal(result.kind, "ambiguous", JSON.stringify(result));
    // The twins one by one are fine.
    assertOk(await directory(settingsFor(slapd.ldapsUrl, trust)).authenticate("twin1", "twin-password-1"), `uid=twin1,${PEOPLE}`);
  });

  it("refuses a directory certificate signed by another CA as untrusted (ldaps and StartTLS)", async () => {
    const other = createCa("some other CA");
    for (const url of [slapd.ldapsUrl, slapd.ldapUrl]) {
      const dir = directory(settingsFor(url, { ca: [other.cert] }));
      const problem = assertUnavailable(await dir.authenticate("alice", alice.password), "untrusted");
      assert.match(problem.message, /trustStore/);
      const check = await dir.check();
      assert.ok(!check.ok && check.problem.kind === "untrusted", JSON.stringify(check));
    }
  });

  it("refuses the test CA's certificate with no trustStore (system CAs) as untrusted", async () => {
    for (const url of [slapd.ldapsUrl, slapd.ldapUrl]) {
      const dir = directory(settingsFor(url, {}));
      assertUnavailable(await dir.authenticate("alice", alice.password), "untrusted");
    }
    // Also through loadLdapTls with no stores configured.
    const material = loadLdapTls({ trustStore: undefined, trustStorePassword: undefined, keyStore: undefined, keyStorePassword: undefined });
    assert.deepEqual(material, {});
    assertUnavailable(await directory(settingsFor(slapd.ldapsUrl, material)).authenticate("alice", alice.password), "untrusted");
  });

  it("trusts the CA read from a trustStore file by loadLdapTls", async () => {
    const material = loadLdapTls({ trustStore: path.basename(pki.caFile), trustStorePassword: undefined, keyStore: undefined, keyStorePassword: undefined }, pki.dir);
    assertOk(await directory(settingsFor(slapd.ldapsUrl, material)).authenticate("alice", alice.password), ALICE_DN);
    assertOk(await directory(settingsFor(slapd.ldapUrl, material)).authenticate("alice", alice.password), ALICE_DN);
  });

  it("check() is ok while the directory is up", async () => {
    for (const url of [slapd.ldapsUrl, slapd.ldapUrl]) {
      assert.deepEqual(await directory(settingsFor(url, trust)).check(), { ok: true });
    }
  });
});

describe("Directory against slapd: certificate name mismatch", () => {
  let pki: TestPki;
  let slapd: TestSlapd;
  before(async () => {
    pki = makePki();
    slapd = await startTestSlapd({ pki, hosts: ["ldap.example.org"] });
  });
  after(async () => {
    await slapd?.cleanup();
    pki?.cleanup();
  });

  it("refuses a certificate not issued for 127.0.0.1 as name-mismatch (ldaps and StartTLS)", async () => {
    for (const url of [slapd.ldapsUrl, slapd.ldapUrl]) {
      const dir = directory(settingsFor(url, { ca: [pki.ca.cert] }));
      const problem = assertUnavailable(await dir.authenticate("alice", alice.password), "name-mismatch");
      assert.match(problem.message, /subjectAltName/);
    }
  });
});

describe("Directory against slapd: client certificates", () => {
  let pki: TestPki;
  let slapd: TestSlapd;
  before(async () => {
    pki = makePki();
    slapd = await startTestSlapd({ pki, requireClientCert: true });
  });
  after(async () => {
    await slapd?.cleanup();
    pki?.cleanup();
  });

  it("is unavailable without a client certificate", async () => {
    for (const url of [slapd.ldapsUrl, slapd.ldapUrl]) {
      const dir = directory(settingsFor(url, { ca: [pki.ca.cert] }, {}, { timeoutMs: 1000 }));
      const problem = assertUnavailable(await dir.authenticate("alice", alice.password));
      assert.ok(["tls-handshake", "connection-lost"].includes(problem.kind), `${url}: ${JSON.stringify(problem)}`);
      // Reported by the test run so the kind seen is on record.
      console.log(`# no client certificate, ${new URL(url).protocol}: problem.kind=${problem.kind} (${problem.message})`);
    }
  });

  // The directory drops the connection right after the (TLS 1.3) handshake: the login should fail at
  // once, as it does over ldaps://, not after ldap.timeout.
  for (const proto of ["ldaps", "starttls"] as const) {
    it(`fails fast without a client certificate, not after timeoutMs (${proto})`, async () => {
      const dir = directory(settingsFor(proto === "ldaps" ? slapd.ldapsUrl : slapd.ldapUrl, { ca: [pki.ca.cert] }, {}, { timeoutMs: 2000 }));
      const started = Date.now();
      assertUnavailable(await dir.authenticate("alice", alice.password));
      const took = Date.now() - started;
      assert.ok(took < 1000, `took ${took} ms with timeoutMs 2000: the closed connection went unnoticed until the operation timed out`);
    });
  }

  it("logs in with a client certificate given as PEM key and certificate", async () => {
    const client = pki.issue("client", { clientAuth: true });
    for (const url of [slapd.ldapsUrl, slapd.ldapUrl]) {
      const dir = directory(settingsFor(url, { ca: [pki.ca.cert], key: client.pem.key, cert: [client.pem.cert] }));
      const a = assertOk(await dir.authenticate("alice", alice.password), ALICE_DN);
      assert.equal(a.admin, true);
      assert.deepEqual(await dir.authenticate("alice", "wrong"), { kind: "bad-password" });
    }
  });

  it("logs in with a client certificate from a PKCS#12 keyStore read by loadLdapTls", async () => {
    const client = pki.issue("client-p12", { clientAuth: true });
    const p12 = path.join(pki.dir, "client.p12");
    fs.writeFileSync(p12, toPkcs12(client.pem, [pki.ca.cert], "keystore-password"));
    const material = loadLdapTls({ trustStore: pki.caFile, trustStorePassword: undefined, keyStore: "client.p12", keyStorePassword: "keystore-password" }, pki.dir);
    assert.ok(material.key && material.cert && material.cert.length >= 1);
    for (const url of [slapd.ldapsUrl, slapd.ldapUrl]) {
      assertOk(await directory(settingsFor(url, material)).authenticate("alice", alice.password), ALICE_DN);
    }
  });

  it("is refused with a client certificate from another CA", async () => {
    const other = createCa("rogue client CA");
    const rogue = issueCertificate(other, { hosts: ["127.0.0.1"], commonName: "rogue", clientAuth: true });
    const dir = directory(settingsFor(slapd.ldapsUrl, { ca: [pki.ca.cert], key: rogue.key, cert: [rogue.cert] }));
    const problem = assertUnavailable(await dir.authenticate("alice", alice.password));
    assert.ok(["tls-handshake", "connection-lost"].includes(problem.kind), JSON.stringify(problem));
  });
});

describe("Directory: unreachable and silent directories", () => {
  let silent: SilentServer;
  const trust: LdapTlsMaterial = {};
  before(async () => {
    silent = await startSilentServer();
  });
  after(async () => {
    await silent?.close();
  });

  it("honours connectTimeoutMs for ldaps:// to a server that never answers", async () => {
    for (const bind of [true, false]) {
      const dir = directory(
        settingsFor(`ldaps://127.0.0.1:${silent.port}`, trust, bind ? {} : { bindDn: undefined, bindPassword: undefined }, { connectTimeoutMs: 300, timeoutMs: 300 }),
      );
      const started = Date.now();
      assertUnavailable(await dir.authenticate("alice", alice.password), "timeout");
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
      const check = await dir.check();
      assert.ok(!check.ok && check.problem.kind === "timeout", JSON.stringify(check));
    }
  });

  it("honours timeoutMs for ldap:// + StartTLS to a server that never answers", async () => {
    const dir = directory(settingsFor(`ldap://127.0.0.1:${silent.port}`, trust, {}, { connectTimeoutMs: 300, timeoutMs: 300 }));
    const started = Date.now();
    assertUnavailable(await dir.authenticate("alice", alice.password), "timeout");
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
  });

  it("honours the timeouts when a StartTLS server accepts StartTLS and then stalls the TLS handshake", async () => {
    const stall = await startStartTlsStallServer();
    const dir = new Directory(settingsFor(`ldap://127.0.0.1:${stall.port}`, trust, {}, { connectTimeoutMs: 300, timeoutMs: 300 }), log);
    try {
      const started = Date.now();
      const pending = "still pending after 3 s";
      const result = await Promise.race([dir.authenticate("alice", alice.password), new Promise<string>((r) => setTimeout(() => r(pending), 3000))]);
      assert.notEqual(result, pending, "authenticate() never settled: the TLS handshake after StartTLS has no timeout");
      assertUnavailable(result as DirectoryLogin, "timeout");
      assert.ok(Date.now() - started < 2000);
      assert.ok(stall.accepted >= 1);
    } finally {
      // Closing the server's sockets first lets a stuck handshake fail, so that close() can finish.
      await stall.close();
      await dir.close();
    }
  });

  it("reports a closed port as refused", async () => {
    const port = await freePort();
    for (const url of [`ldaps://127.0.0.1:${port}`, `ldap://127.0.0.1:${port}`]) {
      const dir = directory(settingsFor(url, trust));
      const problem = assertUnavailable(await dir.authenticate("alice", alice.password), "refused");
      assert.equal(problem.code, "ECONNREFUSED");
      const check = await dir.check();
      assert.ok(!check.ok && check.problem.kind === "refused", JSON.stringify(check));
    }
  });
});

describe("Directory against slapd: restarts", () => {
  let pki: TestPki;
  let slapd: TestSlapd;
  before(async () => {
    pki = makePki();
    slapd = await startTestSlapd({ pki });
  });
  after(async () => {
    await slapd?.cleanup();
    pki?.cleanup();
  });

  for (const proto of ["ldaps", "starttls"] as const) {
    it(`recovers the service connection after slapd stops and starts again (${proto})`, async () => {
      const dir = directory(settingsFor(proto === "ldaps" ? slapd.ldapsUrl : slapd.ldapUrl, { ca: [pki.ca.cert] }));
      assertOk(await dir.authenticate("alice", alice.password), ALICE_DN);
      assert.deepEqual(await dir.check(), { ok: true });
      await slapd.stop();
      try {
        assertUnavailable(await dir.authenticate("alice", alice.password), "refused");
        const check = await dir.check();
        assert.equal(check.ok, false);
        assert.ok(!check.ok && check.problem.kind === "refused", JSON.stringify(check));
      } finally {
        await slapd.start();
      }
      assertOk(await dir.authenticate("alice", alice.password), ALICE_DN);
      assert.deepEqual(await dir.check(), { ok: true });
      // A restart between two logins costs no failed login.
      await slapd.stop();
      await slapd.start();
      assertOk(await dir.authenticate("bob", bob.password), BOB_DN);
      await slapd.stop();
      await slapd.start();
      assert.deepEqual(await dir.check(), { ok: true });
      // The connections that died with slapd are not held open either.
      const port = proto === "ldaps" ? slapd.ldapsPort : slapd.ldapPort;
      const open = await waitForOwnSockets(port, (s) => s.length <= AT_REST);
      assert.ok(open.length <= AT_REST, JSON.stringify(open));
      await dir.close();
      assert.deepEqual(await waitForOwnSockets(port, (s) => s.length === 0), []);
    });
  }

  it("answers unavailable after close()", async () => {
    const dir = directory(settingsFor(slapd.ldapsUrl, { ca: [pki.ca.cert] }));
    assertOk(await dir.authenticate("alice", alice.password), ALICE_DN);
    await dir.close();
    assertUnavailable(await dir.authenticate("alice", alice.password));
    assert.equal((await dir.check()).ok, false);
  });
});

const CROWD = Array.from({ length: 20 }, (_, i) => `user${String(i + 1).padStart(2, "0")}`);
const CROWD_LDIF = CROWD.map(
  (uid) => `dn: uid=${uid},${PEOPLE}
objectClass: inetOrgPerson
uid: ${uid}
cn: User ${uid}
sn: ${uid}
mail: ${uid}@example.org
userPassword: ${uid}-password
`,
).join("\n");

describe("Directory against slapd: sockets and concurrency", () => {
  let pki: TestPki;
  let slapd: TestSlapd;
  before(async () => {
    pki = makePki();
    slapd = await startTestSlapd({ pki, extraLdif: CROWD_LDIF });
  });
  after(async () => {
    await slapd?.cleanup();
    pki?.cleanup();
  });

  for (const proto of ["ldaps", "starttls"] as const) {
    it(`leaves no socket behind after 300 logins and close() (${proto})`, async () => {
      const url = proto === "ldaps" ? slapd.ldapsUrl : slapd.ldapUrl;
      const port = proto === "ldaps" ? slapd.ldapsPort : slapd.ldapPort;
      assert.deepEqual(ownSocketsTo(port), []);
      const dir = directory(settingsFor(url, { ca: [pki.ca.cert] }));
      const counts = { ok: 0, "bad-password": 0, "not-found": 0 };
      for (let i = 0; i < 300; i++) {
        const which = i % 3;
        if (which === 0) {
          assertOk(await dir.authenticate("alice", alice.password), ALICE_DN);
          counts.ok++;
        } else if (which === 1) {
          assert.deepEqual(await dir.authenticate("bob", `wrong-${i}`), { kind: "bad-password" });
          counts["bad-password"]++;
        } else {
          const user = CROWD[i % CROWD.length]!;
          const wrong = i % 2 === 0;
          const result = await dir.authenticate(i % 5 === 0 ? `ghost${i}` : user, wrong ? "nope" : `${user}-password`);
          if (i % 5 === 0) {
            assert.deepEqual(result, { kind: "not-found" });
            counts["not-found"]++;
          } else if (wrong) {
            assert.deepEqual(result, { kind: "bad-password" });
            counts["bad-password"]++;
          } else {
            assertOk(result, `uid=${user},${PEOPLE}`);
            counts.ok++;
          }
        }
      }
      assert.ok(counts.ok > 100 && counts["bad-password"] > 100 && counts["not-found"] > 10, JSON.stringify(counts));
      // Only the service connection and the idle bind pool stay open (closed sockets may take a moment to go).
      const during = await waitForOwnSockets(port, (s) => s.length <= AT_REST);
      assert.ok(during.length <= AT_REST, `sockets held open to ${port} before close(): ${JSON.stringify(during)}`);
      assert.ok(during.filter((s) => s.state === "01").length <= AT_REST);
      await dir.close();
      const afterClose = await waitForOwnSockets(port, (s) => s.length === 0);
      assert.deepEqual(afterClose, [], `sockets held open to ${port} after close()`);
    });
  }

  it("answers 20 parallel logins of different users correctly", async () => {
    for (const url of [slapd.ldapsUrl, slapd.ldapUrl]) {
      const dir = directory(settingsFor(url, { ca: [pki.ca.cert] }));
      const results = await Promise.all(CROWD.map((uid, i) => dir.authenticate(uid, i % 4 === 3 ? "wrong" : `${uid}-password`)));
      results.forEach((result, i) => {
        const uid = CROWD[i]!;
        if (i % 4 === 3) {
          assert.deepEqual(result, { kind: "bad-password" }, uid);
        } else {
          const identity = assertOk(result, `uid=${uid},${PEOPLE}`);
          assert.equal(identity.email, `${uid}@example.org`);
          assert.equal(identity.displayName, `User ${uid}`);
          assert.deepEqual(identity.groups, []);
          assert.equal(identity.admin, false);
        }
      });
      // A second wave with the seeded people mixed in, on the same (now open) service connection.
      const mixed = await Promise.all([
        dir.authenticate("alice", alice.password),
        dir.authenticate("bob", bob.password),
        dir.authenticate("carol", "wrong"),
        dir.authenticate("nobody", "x"),
        ...CROWD.slice(0, 16).map((uid) => dir.authenticate(uid, `${uid}-password`)),
      ]);
      assert.equal(assertOk(mixed[0]!, ALICE_DN).admin, true);
      assert.equal(assertOk(mixed[1]!, BOB_DN).admin, false);
      assert.deepEqual(mixed[2], { kind: "bad-password" });
      assert.deepEqual(mixed[3], { kind: "not-found" });
      mixed.slice(4).forEach((r, i) => assertOk(r, `uid=${CROWD[i]},${PEOPLE}`));
      const port = new URL(url).protocol === "ldaps:" ? slapd.ldapsPort : slapd.ldapPort;
      const sockets = await waitForOwnSockets(port, (s) => s.length <= AT_REST);
      assert.ok(sockets.length <= AT_REST, JSON.stringify(sockets));
    }
  });
});
