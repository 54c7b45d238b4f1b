/**
 * Names and identity headers (issue #15 item 10): a name a directory user can choose never reaches
 * the upstream as another user's name, neither after the upstream percent-decodes `X-Remote-User`
 * nor after it compares names without regard to case or accents. Checked over pairs: every name an
 * attacker can choose against every name it could collide with.
 */
import { Regulation } from "../../src/regulation/regulation.js";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import type http from "node:http";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { ManualClock } from "../../src/clock.js";
import { validate } from "../../src/config/load.js";
import { compileSite } from "../../src/config/site.js";
import { Accounts, nameKey } from "../../src/auth/local/accounts.js";
import { LoginService, type LoginResult } from "../../src/auth/login.js";
import type { Directory, DirectoryLogin } from "../../src/ldap/directory.js";
import { createLogger } from "../../src/log/logger.js";
import type { RequestScope } from "../../src/pipeline/scope.js";
import { headerSafe, identityHeaders } from "../../src/proxy/identity.js";
import type { Principal } from "../../src/sessions/session-service.js";
import { createEmbeddedStore } from "../../src/store/embedded/embedded-store.js";
import type { Store } from "../../src/store/store.js";

const VISIBLE_ASCII = /^[\x20-\x7e]*$/;

/** What an upstream makes of a header value: the percent-decoded text. */
const decoded = (header: string) => decodeURIComponent(header);

/** Names an attacker may hold in a directory, and the names they aim at. */
const CHOSEN = [
  "%61dmin", "%2561dmin", "%41DMIN", "%61%64%6d%69%6e", "admin%00", "admin%20",
  "Admin", "ADMIN", "admın", "admİn", "ädmin", "àdmin",
  "jsmith", "JSMITH", "jsmıth", "jšmith", "straße", "STRASSE",
  "jos%c3%a9", "jos%C3%A9", "jos%25c3%25a9", "jose%cc%81", "josé", "JOSÉ",
  "%", "%%", "%25", "100%", "a%2Fb", "a/b", "a+b", "bob@example.org", "bob%40example.org",
];
const TARGETS = ["admin", "JSmith", "Strasse", "josé", "jos%c3%a9", "a/b", "a b", "bob@example.org", "%", "guest"];

describe("identity header values", () => {
  const every = [...new Set([...CHOSEN, ...TARGETS])];

  it("decode back to exactly the value, for every chosen and target name", () => {
    for (const name of every) {
      const header = headerSafe(name);
      assert.match(header, VISIBLE_ASCII, name);
      assert.equal(decoded(header), name, `${name} was sent as ${header}`);
    }
  });

  it("differ for any two different names, and no chosen name decodes to a target it is not", () => {
    for (const a of every) {
      for (const b of every) {
        if (a === b) continue;
        assert.notEqual(headerSafe(a), headerSafe(b), `${a} and ${b} are sent alike`);
        assert.notEqual(decoded(headerSafe(a)), b, `${a} is read upstream as ${b}`);
      }
    }
  });

  it("carry a value without % or non-ASCII as it is, and always encode one with %", () => {
    assert.equal(headerSafe("bob@example.org"), "bob@example.org");
    assert.equal(headerSafe("Alice Liddell"), "Alice Liddell");
    assert.equal(headerSafe("%61dmin"), "%2561dmin");
    assert.equal(headerSafe("100%"), "100%25");
    assert.equal(headerSafe("josé"), "jos%C3%A9");
    assert.equal(headerSafe("jos%C3%A9"), "jos%25C3%25A9");
  });

  it("decode back to the value and stay one-to-one for any text (property)", () => {
    const dense = fc.string({ unit: fc.constantFrom("%", "2", "5", "6", "1", "a", "A", "c", "3", "é", " ", "+"), maxLength: 8 });
    for (const text of [fc.string({ unit: "grapheme", maxLength: 16 }), dense]) {
      fc.assert(
        fc.property(text, text, (a, b) => {
          const ha = headerSafe(a);
          assert.match(ha, VISIBLE_ASCII);
          assert.equal(decoded(ha), a);
          if (a !== b) assert.notEqual(ha, headerSafe(b));
        }),
        { numRuns: 2_000 },
      );
    }
  });

  it("are written by the identity stage for user, groups, e-mail and name", () => {
    const stage = identityHeaders({ user: "X-Remote-User", groups: "X-Remote-Groups", email: "X-Remote-Email", provider: "X-Remote-Provider", name: "X-Remote-Name" });
    const req = { headers: {} } as http.IncomingMessage;
    const principal: Principal = { user: "%61dmin", roles: ["%61dmins", "ops"], email: "%61@x.org", name: "100% Ann", provider: "ldap" };
    stage.run({ req, res: {} as http.ServerResponse, scope: { identity: { kind: "basic", principal } } as RequestScope });
    assert.equal(req.headers["x-remote-user"], "%2561dmin");
    assert.equal(req.headers["x-remote-groups"], "%2561dmins,ops");
    assert.equal(req.headers["x-remote-email"], "%2561%40x.org");
    assert.equal(req.headers["x-remote-name"], "100%25%20Ann");
    assert.equal(req.headers["x-remote-provider"], "ldap");
  });

  it("encode + and , so a form decoder reads no space and a group named staff,admin stays one group", () => {
    assert.equal(headerSafe("jo+e"), "jo%2Be");
    assert.equal(headerSafe("staff,admin"), "staff%2Cadmin");
    const stage = identityHeaders({ user: "X-Remote-User", groups: "X-Remote-Groups", email: "X-Remote-Email", provider: "X-Remote-Provider", name: "X-Remote-Name" });
    const req = { headers: {} } as http.IncomingMessage;
    const principal: Principal = { user: "jo+e", roles: ["staff,admin", "ops"], provider: "ldap" };
    stage.run({ req, res: {} as http.ServerResponse, scope: { identity: { kind: "basic", principal } } as RequestScope });
    assert.equal(req.headers["x-remote-user"], "jo%2Be");
    const groups = String(req.headers["x-remote-groups"]).split(",").map(decodeURIComponent);
    assert.deepEqual(groups, ["staff,admin", "ops"]);
    assert.equal(decodeURIComponent(String(req.headers["x-remote-user"]).replace(/\+/g, " ")), "jo+e", "a form decoder reads the same name");
  });
});

/** A directory holding one entry for each name it is given (found by lower-cased name, as LDAP does). */
function fakeDirectory(names: readonly string[]): Directory {
  const entries = new Map(names.map((n) => [n.toLowerCase(), n]));
  return {
    async authenticate(user: string, password: string): Promise<DirectoryLogin> {
      const entry = entries.get(user.toLowerCase());
      if (entry === undefined) return { kind: "not-found" };
      if (password !== `${entry}-password`) return { kind: "bad-password" };
      return { kind: "ok", identity: { dn: `uid=${entry},ou=people,dc=example,dc=org`, groups: [], admin: false } };
    },
  } as unknown as Directory;
}

describe("directory logins against local names", () => {
  let store: Store;
  let accounts: Accounts;
  let logins: LoginService;
  const LOCAL = ["admin", "JSmith", "Strasse"];
  const DIRECTORY_TARGETS = ["josé", "jos%c3%a9", "a/b", "bob@example.org"];
  // Spellings of a target's own entry (`JOSÉ` finds `josé`, as LDAP matches names) are that user, not an attacker.
  const ATTACKERS = CHOSEN.filter((n) => !DIRECTORY_TARGETS.some((t) => t.toLowerCase() === n.toLowerCase()));

  before(async () => {
    store = await createEmbeddedStore({ dataDir: null });
    const clock = new ManualClock();
    accounts = new Accounts(store, clock);
    for (const name of LOCAL) await accounts.add({ name, password: `${name}-local-password`, roles: ["admin"] });
    const site = compileSite(validate({ site: { maxFailedLogins: -1 } }).site);
    const log = createLogger({ level: "silent", destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    logins = new LoginService({ regulation: new Regulation({ store, clock, site: () => site, ipLimit: { count: 1_000_000, windowMs: 60_000 }, audit: () => undefined }), accounts, clock, site: () => site, log, directory: fakeDirectory([...ATTACKERS, ...DIRECTORY_TARGETS]) });
  });
  after(() => store.close());

  const results = new Map<string, LoginResult>();
  const loginAs = async (name: string) => {
    let result = results.get(name);
    if (!result) {
      result = await logins.login(name, `${name}-password`, "10.0.0.1");
      results.set(name, result);
    }
    return result;
  };

  /** The pairs that must be refused: each spelling of a local name in another case or with accents. */
  const refusedPairs: [string, string][] = [
    ["Admin", "admin"],
    ["ADMIN", "admin"],
    ["admın", "admin"],
    ["admİn", "admin"],
    ["ädmin", "admin"],
    ["àdmin", "admin"],
    ["jsmith", "JSmith"],
    ["JSMITH", "JSmith"],
    ["jsmıth", "JSmith"],
    ["jšmith", "JSmith"],
    ["straße", "Strasse"],
    ["STRASSE", "Strasse"],
  ];
  for (const [chosen, local] of refusedPairs) {
    it(`refuses the directory user ${chosen} while a local ${local} exists`, async () => {
      const result = await loginAs(chosen);
      assert.equal(result.ok, false, `${chosen} logged in beside the local ${local}`);
      assert.equal(!result.ok && result.reason, "local-name");
    });
  }

  it("gives every other chosen name a session whose header no upstream reads as another user's, locally or in the directory", async () => {
    const refused = new Set(refusedPairs.map(([chosen]) => chosen));
    for (const chosen of ATTACKERS) {
      const result = await loginAs(chosen);
      if (refused.has(chosen)) continue;
      // A name a directory cannot hold in NFKC form (a decomposed accent) is refused outright.
      if (!result.ok) {
        assert.equal(result.reason, "unknown-user", chosen);
        assert.notEqual(chosen.normalize("NFKC"), chosen);
        continue;
      }
      const upstream = decoded(headerSafe(result.principal.user));
      for (const local of LOCAL) {
        assert.notEqual(upstream, local, `${chosen} is read upstream as the local ${local}`);
        assert.notEqual(nameKey(upstream), nameKey(local), `${chosen} is read upstream as the local ${local}, case and accents aside`);
      }
      for (const other of DIRECTORY_TARGETS) {
        assert.notEqual(upstream, other, `${chosen} is read upstream as the directory user ${other}`);
      }
    }
  });

  it("still lets the local accounts and the directory targets log in as themselves", async () => {
    for (const name of LOCAL) assert.equal((await logins.login(name, `${name}-local-password`, "10.0.0.2")).ok, true, name);
    for (const name of DIRECTORY_TARGETS) {
      const result = await loginAs(name);
      assert.ok(result.ok, name);
      assert.equal(decoded(headerSafe(result.principal.user)), name);
    }
  });
});

describe("local account names", () => {
  it("are one name whatever the case: a second spelling is refused, and a removed account frees it", async () => {
    const store = await createEmbeddedStore({ dataDir: null });
    const accounts = new Accounts(store, new ManualClock());
    await accounts.add({ name: "JSmith", password: "x-password-1" });
    await assert.rejects(accounts.add({ name: "jsmith", password: "x-password-2" }), (err: Error & { code?: string }) => err.code === "ERR_USER_EXISTS" && /JSmith/.test(err.message));
    assert.equal((await accounts.holderOf("jsmith"))?.name, "JSmith");
    assert.equal((await accounts.holderOf("JSMİTH"))?.name, "JSmith", "a dotted capital I is an i to Java's equalsIgnoreCase");
    assert.equal(await accounts.remove("JSmith"), true);
    assert.equal(await accounts.holderOf("jsmith"), null);
    await accounts.add({ name: "jsmith", password: "x-password-2" });
    assert.equal((await accounts.holderOf("JSMITH"))?.name, "jsmith");
    await store.close();
  });

  it("made before names were reserved are reserved at the gateway's start", async () => {
    const store = await createEmbeddedStore({ dataDir: null });
    // As a store written by an earlier version holds it: the account, no name entry.
    await store.putRecord("user", "JSmith", { name: "JSmith", roles: [], enabled: true, passwordHash: "", passwordChangedAt: 0, lastLoginAt: null, createdAt: 0, history: [] });
    const log = createLogger({ level: "silent", destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    assert.equal(await new Accounts(store, new ManualClock()).holderOf("jsmith"), null);
    const accounts = await Accounts.start(store, new ManualClock(), log);
    assert.equal((await accounts.holderOf("jsmith"))?.name, "JSmith");
    await store.close();
  });
});
