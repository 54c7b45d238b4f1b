/**
 * LDAP as the second login provider, through the gateway (issue #4 §3): search-then-bind against a
 * real slapd over ldaps, groups to roles, identity to the upstream, the same failure answer and the
 * same lockouts as local accounts, a directory outage that leaves local accounts working.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../../src/clock.js";
import { TlsMaterialError } from "../../../src/errors.js";
import { startGateway } from "../../../src/main.js";
import { validate } from "../../../src/config/load.js";
import { makePki, type TestPki } from "../../helpers/certs.js";
import { startTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { PEOPLE, PEOPLE_SEED, startTestSlapd, type TestSlapd } from "../../helpers/slapd.js";
import { startTestUpstream, type TestUpstream } from "../../helpers/upstream.js";
import { API, HOUR, basic, failureReasons, formLogin, login, ownOrigin, tryLogin } from "../../helpers/auth.js";

const ALICE = PEOPLE_SEED.alice.password;
const BOB = PEOPLE_SEED.bob.password;

/** A group literally named "admin" (not in ldap.adminGroups) holding bob, and a person named like a local account. */
const EXTRA_LDIF = `dn: cn=admin,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: admin
member: uid=bob,${PEOPLE}

dn: cn=ops\\,admin,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: ops,admin
member: uid=bob,${PEOPLE}

dn: uid=dora,${PEOPLE}
objectClass: inetOrgPerson
uid: dora
cn: Dora Directory
sn: Directory
userPassword: dora-ldap-password-1
`;

describe("LDAP logins through the gateway", () => {
  let pki: TestPki;
  let slapd: TestSlapd;
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();

  before(async () => {
    pki = makePki();
    slapd = await startTestSlapd({ pki, extraLdif: EXTRA_LDIF });
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      {
        upstream: { url: upstream.url },
        access: { defaultPolicy: "authenticated" },
        security: { trustStore: pki.caFile },
        ldap: slapd.ldapConfig(),
        site: { maxFailedLogins: 3, maxFailedLoginsLockoutDuration: "30 minutes" },
      },
      { pki, clock },
    );
    await gw.gateway.accounts.add({ name: "dora", password: "dora-Local-Password-1", roles: ["user"] });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
    await slapd.cleanup();
    pki.cleanup();
  });

  /** Moves past any per-IP window and lock left by the previous test. */
  const fresh = () => clock.advance(HOUR);

  it("logs a directory user in with groups as roles, admin through ldap.adminGroups, email and display name", async () => {
    fresh();
    const { res } = await login(gw, "alice", ALICE);
    const body = res.json<Record<string, unknown>>();
    assert.equal(body.user, "alice");
    assert.equal(body.provider, "ldap");
    assert.deepEqual(body.roles, ["admins", "scientists", "admin"]);
    assert.equal(body.email, "alice@example.org");
    assert.equal(body.name, "Alice Liddell");
  });

  it("passes the directory identity to the upstream in the identity headers", async () => {
    fresh();
    const { cookie } = await login(gw, "alice", ALICE);
    const res = await gw.https("/app", { headers: { cookie, ...API } });
    assert.equal(res.status, 200);
    const seen = upstream.received.at(-1)!.headers;
    assert.equal(seen["x-remote-user"], "alice");
    assert.equal(seen["x-remote-groups"], "admins,scientists,admin");
    assert.equal(seen["x-remote-email"], "alice@example.org");
    assert.equal(seen["x-remote-name"], "Alice Liddell");
    assert.equal(seen["x-remote-provider"], "ldap");
  });

  it("gives admin routes to members of ldap.adminGroups only; groups named admin or 'ops,admin' grant nothing", async () => {
    fresh();
    const alice = await login(gw, "alice", ALICE);
    assert.equal((await gw.https("/gateway/admin/sessions", { headers: { cookie: alice.cookie, ...API } })).status, 200);
    const bob = await login(gw, "bob", BOB);
    assert.deepEqual(bob.res.json<{ roles: string[] }>().roles, ["scientists"]);
    assert.equal((await gw.https("/gateway/admin/sessions", { headers: { cookie: bob.cookie, ...API } })).status, 403);
  });

  it("answers a wrong directory password and an unknown name with the same 401 as a local failure", async () => {
    fresh();
    const local = await tryLogin(gw, "admin", "wrong-password");
    const ldap = await tryLogin(gw, "alice", "wrong-password");
    const unknown = await tryLogin(gw, "nobody-here", "wrong-password");
    for (const o of [local, ldap, unknown]) assert.equal(o.res.status, 401);
    assert.equal(ldap.res.body, local.res.body);
    assert.equal(unknown.res.body, local.res.body);
    assert.deepEqual(failureReasons(gw, "alice").slice(-1), ["bad-password"]);
    assert.deepEqual(failureReasons(gw, "nobody-here").slice(-1), ["unknown-user"]);
  });

  it("refuses an empty password without a session", async () => {
    fresh();
    const from = gw.logs.lines.length;
    assert.equal((await tryLogin(gw, "alice", "")).res.status, 401);
    assert.deepEqual(failureReasons(gw, "alice", from), ["empty-password"]);
  });

  it("never lets filter syntax in the user name match someone else", async () => {
    for (const name of ["*", "*)(uid=*", "alice)(uid=*", "al*", "*)(|(uid=*", "alice\\2a"]) {
      fresh();
      const out = await tryLogin(gw, name, ALICE);
      assert.equal(out.res.status, 401, `${name} logged in`);
      assert.equal(out.cookie, "");
    }
  });

  it("counts directory failures toward the same lock as local ones: locked at maxFailedLogins, then unlocked by an admin", async () => {
    fresh();
    for (let i = 0; i < 3; i++) assert.equal((await tryLogin(gw, "bob", `wrong-${i}`)).res.status, 401);
    const from = gw.logs.lines.length;
    assert.equal((await tryLogin(gw, "bob", BOB)).res.status, 401, "the right password worked on a locked account");
    assert.deepEqual(failureReasons(gw, "bob", from), ["locked"]);
    const admin = await login(gw, "admin", "admin-password-1");
    const unlock = await gw.https("/gateway/admin/users/bob/unlock", {
      method: "POST",
      headers: { cookie: admin.cookie, "x-csrf-token": admin.csrfToken, origin: ownOrigin(gw), ...API },
    });
    assert.equal(unlock.status, 200, unlock.body);
    assert.equal((await tryLogin(gw, "bob", BOB)).res.status, 200);
  });

  it("folds the case of directory names: every spelling shares one lock, and the session names the user in lower case", async () => {
    fresh();
    const { res } = await login(gw, "ALICE", ALICE);
    assert.equal(res.json<{ user: string }>().user, "alice");
    fresh();
    await gw.gateway.store.clearLoginFailures("carol");
    for (const spelling of ["Carol", "CAROL", "carol"]) assert.equal((await tryLogin(gw, spelling, "wrong")).res.status, 401);
    const from = gw.logs.lines.length;
    assert.equal((await tryLogin(gw, "cArOl", PEOPLE_SEED.carol.password)).res.status, 401, "a fourth spelling got round the lock");
    assert.deepEqual(failureReasons(gw, "carol", from), ["locked"]);
    await gw.gateway.store.clearLoginFailures("carol");
  });

  it("lets a local account own its name: the directory entry of that name cannot log in, in any spelling or via ldap/NAME", async () => {
    fresh();
    assert.equal((await tryLogin(gw, "dora", "dora-ldap-password-1")).res.status, 401);
    assert.equal((await tryLogin(gw, "dora", "dora-Local-Password-1")).res.json<{ provider: string }>().provider, "local");
    const from = gw.logs.lines.length;
    for (const name of ["ldap/dora", "Dora", "DORA"]) assert.equal((await tryLogin(gw, name, "dora-ldap-password-1")).res.status, 401, name);
    assert.deepEqual(failureReasons(gw, "dora", from), ["local-name", "local-name", "local-name"]);
    assert.equal((await tryLogin(gw, "local/alice", ALICE)).res.status, 401);
  });

  it("never lets a directory password change a local account's password", async () => {
    fresh();
    await gw.gateway.store.clearLoginFailures("dora");
    for (const username of ["ldap/dora", "Dora", "alice"]) {
      const res = await gw.https("/gateway/password", {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", origin: ownOrigin(gw) },
        body: JSON.stringify({ username, password: username === "alice" ? ALICE : "dora-ldap-password-1", newPassword: "Taken-Over-Password-9!" }),
      });
      assert.equal(res.status, 401, `${username}: ${res.body}`);
    }
    await gw.gateway.store.clearLoginFailures("dora");
    assert.equal((await tryLogin(gw, "dora", "dora-Local-Password-1")).res.status, 200);
  });

  it("refuses names a directory would fold onto another person's (spaces, no-break spaces, full-width letters) without counting them against that person", async () => {
    fresh();
    for (const name of [" bob", "bob ", "bob\u00a0", "\uff42\uff4f\uff42"]) {
      assert.equal((await gw.https("/data", { headers: { authorization: basic(name, BOB), "user-agent": "curl/8" } })).status, 401, JSON.stringify(name));
    }
    assert.equal((await tryLogin(gw, "\uff42\uff4f\uff42", BOB)).res.status, 401);
    assert.equal((await tryLogin(gw, "bob", BOB)).res.status, 200);
  });

  it("offers the provider choice on the login page and honours it in the form", async () => {
    fresh();
    const page = await gw.https("/gateway/login", { headers: { accept: "text/html" } });
    assert.match(page.body, /<option value="ldap">/);
    const out = await formLogin(gw, { username: "carol", password: PEOPLE_SEED.carol.password, provider: "ldap" }, { origin: ownOrigin(gw) });
    assert.equal(out.res.status, 303);
    assert.ok(out.cookie);
  });

  it("authenticates Basic credentials of a directory user for a script, with the directory identity", async () => {
    fresh();
    const res = await gw.https("/data", { headers: { authorization: basic("bob", BOB), "user-agent": "curl/8" } });
    assert.equal(res.status, 200);
    assert.equal(upstream.received.at(-1)!.headers["x-remote-user"], "bob");
    assert.equal(upstream.received.at(-1)!.headers["x-remote-provider"], "ldap");
    assert.equal(upstream.received.at(-1)!.headers.authorization, undefined);
  });

  it("reports the directory in /readyz without making the gateway unready when it is down", async () => {
    const up = await fetch(`http://127.0.0.1:${gw.adminPort}/readyz`).then((r) => r.json() as Promise<{ ready: boolean; checks: Record<string, { ok: boolean }> }>);
    assert.equal(up.checks.ldap?.ok, true);
    await slapd.stop();
    try {
      const res = await fetch(`http://127.0.0.1:${gw.adminPort}/readyz`);
      const down = (await res.json()) as { ready: boolean; checks: Record<string, { ok: boolean; detail?: string }> };
      assert.equal(res.status, 200);
      assert.equal(down.checks.ldap?.ok, false);
      assert.match(down.checks.ldap?.detail ?? "", /refused/);
    } finally {
      await slapd.start();
    }
  });

  it("with the directory down: the usual failure, 'directory unavailable' in the log, local accounts still log in, and recovery once it is back", async () => {
    fresh();
    await login(gw, "alice", ALICE);
    await slapd.stop();
    try {
      const from = gw.logs.lines.length;
      const out = await tryLogin(gw, "alice", ALICE);
      assert.equal(out.res.status, 401);
      assert.equal(out.res.body, (await tryLogin(gw, "admin", "wrong-password")).res.body);
      assert.ok(gw.logs.lines.slice(from).some((l) => l.msg === "directory unavailable" && l.user === "alice"), "no 'directory unavailable' log line");
      assert.deepEqual(failureReasons(gw, "alice", from), ["directory-unavailable"]);
      await login(gw, "admin", "admin-password-1");
    } finally {
      await slapd.start();
    }
    await login(gw, "alice", ALICE);
  });

  it("does not count a directory outage toward the lock", async () => {
    fresh();
    await slapd.stop();
    try {
      for (let i = 0; i < 4; i++) assert.equal((await tryLogin(gw, "carol", PEOPLE_SEED.carol.password)).res.status, 401);
    } finally {
      await slapd.start();
    }
    assert.equal((await tryLogin(gw, "carol", PEOPLE_SEED.carol.password)).res.status, 200);
  });
});

describe("LDAP settings at startup", () => {
  let pki: TestPki;
  before(() => {
    pki = makePki();
  });
  after(() => pki.cleanup());

  const start = (security: Record<string, unknown>) => {
    const server = pki.issue("startup");
    const config = validate(
      {
        tls: { cert: server.certFile, key: server.keyFile },
        store: { dataDir: `${pki.dir}/store-startup` },
        security,
        ldap: { url: "ldaps://127.0.0.1:1", userBase: PEOPLE },
      },
      {},
    );
    return startGateway(config, { ports: { secure: 0, insecure: 0, admin: 0 }, adminPassword: false, schedule: false, watchTls: false, print: () => undefined });
  };

  it("refuses to start when security.trustStore does not exist, naming the key", async () => {
    await assert.rejects(start({ trustStore: `${pki.dir}/missing.pem` }), (err: unknown) => {
      assert.ok(err instanceof TlsMaterialError);
      assert.match(err.message, /^security\.trustStore: .*does not exist/);
      return true;
    });
  });

  it("refuses to start when security.keyStore holds no private key", async () => {
    await assert.rejects(start({ keyStore: pki.caFile }), /security\.keyStore: .*no private key/);
  });
});
