/**
 * The access decision (SPEC §6.2, §6.5, §7, §8.1, §8.3), as tables: policy × identity, each rule
 * field, browser or script, a store that cannot answer, the explain steps, and the identity passed
 * in left as it was. Pure: no listeners, no I/O.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ANONYMOUS, BASIC_FAILED, STORE_UNAVAILABLE, type Identity } from "../../src/auth/identity.js";
import { validate } from "../../src/config/load.js";
import { compileSite } from "../../src/config/site.js";
import type { ClientHeaders } from "../../src/pipeline/client-kind.js";
import { normaliseTarget } from "../../src/pipeline/path.js";
import { compileRules, type Policy } from "../../src/policy/access-rules.js";
import { withGuest } from "../../src/policy/access-stage.js";
import { decide, type Decision, type DecisionSettings, type DescribedRequest, type Outcome, type Step } from "../../src/policy/decide.js";
import { GUEST } from "../../src/policy/guest.js";
import type { Principal } from "../../src/sessions/session-service.js";
import type { SessionRecord } from "../../src/store/store.js";

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/** The default site: dataPaths /xapi/**, /data/**, /REST/**, /fs/**; browsers are Mozilla & co. */
const site = compileSite(validate({}, {}).site);

/** Rules compiled from an `access` section as a config file would give it, with the default site. */
function settingsFor(access: Record<string, unknown>): DecisionSettings {
  return { rules: compileRules(validate({ access }).access), site };
}

const principal = (user: string, ...roles: string[]): Principal => ({ user, roles, provider: "local" });

function record(p: Principal): SessionRecord {
  return { id: `id-${p.user}`, tag: p.user, user: p.user, provider: p.provider, roles: p.roles, createdAt: 1_000, lastSeenAt: 2_000, expiresAt: 3_000, absoluteExpiresAt: 4_000, encrypted: false, csrfToken: "t" };
}
const sessionOf = (p: Principal): Identity => ({ kind: "session", principal: p, session: record(p) });
const basicOf = (p: Principal): Identity => ({ kind: "basic", principal: p });

const EXPIRED_AT = 1_767_225_600_000;
const ALICE = principal("alice", "user");

/** One of each kind of identity; none of the principals holds the admin role. */
const IDENTITIES = {
  anonymous: ANONYMOUS,
  expired: { kind: "anonymous", expiredAt: EXPIRED_AT },
  session: sessionOf(ALICE),
  basic: basicOf(ALICE),
  guest: { kind: "guest", principal: { ...GUEST, roles: [...GUEST.roles] } },
  refused: BASIC_FAILED,
  storeDown: STORE_UNAVAILABLE,
} satisfies Record<string, Identity>;
type IdentityName = keyof typeof IDENTITIES;
const IDENTITY_NAMES = Object.keys(IDENTITIES) as IdentityName[];

/** A person's browser loading a page. */
const NAVIGATING: ClientHeaders = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", accept: "text/html,application/xhtml+xml", "sec-fetch-mode": "navigate" };
/** A script: no browser User-Agent, no Sec-Fetch-Mode. */
const CURL: ClientHeaders = { "user-agent": "curl/8.5.0", accept: "*/*" };

const request = (path: string, over: Partial<DescribedRequest> = {}): DescribedRequest => ({ methods: "GET", path, clientIp: "192.0.2.1", headers: NAVIGATING, ...over });

/** A request for a raw target, read the way the gateway reads it (its other readings included). */
function target(raw: string, over: Partial<DescribedRequest> = {}): DescribedRequest {
  const t = normaliseTarget(raw);
  return request(t.path, t.otherReadings ? { otherReadings: t.otherReadings, ...over } : over);
}

/** The whole decision expected; `challenge` false and no `expiredAt` unless given. */
function expected(
  outcome: Outcome,
  policy: Policy,
  rule: number | "default",
  identity: Identity,
  activity: boolean,
  extra: { challenge?: boolean; expiredAt?: number } = {},
): Decision {
  const d: Decision = { outcome, policy, rule, identity, challenge: extra.challenge ?? false, activity };
  if (extra.expiredAt !== undefined) d.expiredAt = extra.expiredAt;
  return d;
}

/** The rules of the policy × identity table: one rule per policy, the default for everything else. */
const POLICIES = settingsFor({
  defaultPolicy: "authenticated",
  rules: [
    { paths: ["/public/**"], policy: "bypass" }, // 0
    { paths: ["/admin/**"], policy: "admin" }, // 1
    { paths: ["/internal/**"], policy: "deny" }, // 2
    { paths: ["/app/**"], policy: "authenticated" }, // 3
  ],
});

// ---------------------------------------------------------------------------------------------
// Policy × identity
// ---------------------------------------------------------------------------------------------

/** What one identity meets on one path: the outcome, and who it goes on as when not itself. */
interface Cell {
  outcome: Outcome;
  as?: Identity;
  challenge?: boolean;
  expiredAt?: number;
}

const PROXY: Cell = { outcome: "proxy" };
const FORBIDDEN: Cell = { outcome: "403" };
const LOGIN: Cell = { outcome: "redirect-to-login" };
const LOGIN_EXPIRED: Cell = { outcome: "redirect-to-login", expiredAt: EXPIRED_AT };
/** A refused credential from a browser (it sends Sec-Fetch-Mode): 401 without the Basic challenge. */
const REFUSED: Cell = { outcome: "401", challenge: false };
const STORE_DOWN: Cell = { outcome: "503" };

const SIGNED_IN_ONLY: Record<IdentityName, Cell> = {
  anonymous: LOGIN,
  expired: LOGIN_EXPIRED,
  session: PROXY,
  basic: PROXY,
  guest: PROXY, // as the guest: any signed-in user would do here
  refused: REFUSED,
  storeDown: STORE_DOWN,
};

const MATRIX: { name: string; path: string; policy: Policy; rule: number | "default"; activity: boolean; cells: Record<IdentityName, Cell> }[] = [
  {
    name: "bypass",
    path: "/public/page",
    policy: "bypass",
    rule: 0,
    activity: false,
    cells: { anonymous: PROXY, expired: PROXY, session: PROXY, basic: PROXY, guest: { outcome: "proxy", as: ANONYMOUS }, refused: PROXY, storeDown: PROXY },
  },
  { name: "authenticated", path: "/app/page", policy: "authenticated", rule: 3, activity: true, cells: SIGNED_IN_ONLY },
  {
    name: "admin (no admin role)",
    path: "/admin/page",
    policy: "admin",
    rule: 1,
    activity: true,
    cells: { anonymous: LOGIN, expired: LOGIN_EXPIRED, session: FORBIDDEN, basic: FORBIDDEN, guest: { outcome: "redirect-to-login", as: ANONYMOUS }, refused: REFUSED, storeDown: STORE_DOWN },
  },
  {
    name: "deny",
    path: "/internal/page",
    policy: "deny",
    rule: 2,
    activity: false,
    cells: { anonymous: FORBIDDEN, expired: FORBIDDEN, session: FORBIDDEN, basic: FORBIDDEN, guest: FORBIDDEN, refused: FORBIDDEN, storeDown: FORBIDDEN },
  },
  { name: "default policy (authenticated)", path: "/elsewhere/page", policy: "authenticated", rule: "default", activity: true, cells: SIGNED_IN_ONLY },
];

describe("decide: every policy × every identity", () => {
  for (const row of MATRIX) {
    it(`${row.name} (${row.path})`, () => {
      for (const name of IDENTITY_NAMES) {
        const identity = IDENTITIES[name];
        const cell = row.cells[name];
        const want = expected(cell.outcome, row.policy, row.rule, cell.as ?? identity, row.activity, cell);
        assert.deepEqual(decide(request(row.path), identity, POLICIES), want, `${row.name} × ${name}`);
      }
    });
  }

  it("hands on the very identity it was given, except a guest it stands down", () => {
    for (const row of MATRIX) {
      for (const name of IDENTITY_NAMES) {
        if (row.cells[name].as) continue;
        assert.equal(decide(request(row.path), IDENTITIES[name], POLICIES).identity, IDENTITIES[name], `${row.name} × ${name}`);
      }
    }
  });

  const DEFAULTS: { defaultPolicy: Policy; identity: Identity; who: string; outcome: Outcome; activity: boolean }[] = [
    { defaultPolicy: "bypass", identity: ANONYMOUS, who: "anonymous", outcome: "proxy", activity: false },
    { defaultPolicy: "authenticated", identity: ANONYMOUS, who: "anonymous", outcome: "redirect-to-login", activity: true },
    { defaultPolicy: "authenticated", identity: sessionOf(ALICE), who: "alice", outcome: "proxy", activity: true },
    { defaultPolicy: "admin", identity: sessionOf(ALICE), who: "alice", outcome: "403", activity: true },
    { defaultPolicy: "admin", identity: sessionOf(principal("root", "admin")), who: "root (admin)", outcome: "proxy", activity: true },
    { defaultPolicy: "deny", identity: sessionOf(principal("root", "admin")), who: "root (admin)", outcome: "403", activity: false },
  ];
  it("falls back to access.defaultPolicy, naming the rule \"default\", whatever that policy is", () => {
    for (const row of DEFAULTS) {
      const settings = settingsFor({ defaultPolicy: row.defaultPolicy, rules: [{ paths: ["/other/**"], policy: "deny" }] });
      const want = expected(row.outcome, row.defaultPolicy, "default", row.identity, row.activity);
      assert.deepEqual(decide(request("/page"), row.identity, settings), want, `defaultPolicy ${row.defaultPolicy}, ${row.who}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Rule fields
// ---------------------------------------------------------------------------------------------

const FIELDS = settingsFor({
  defaultPolicy: "authenticated",
  rules: [
    { paths: ["/public/**", "/assets/*.css"], policy: "bypass" }, // 0
    { paths: ["/api/**"], methods: ["DELETE"], policy: "deny" }, // 1
    { paths: ["/api/**"], methods: ["GET"], policy: "bypass" }, // 2
    { paths: ["/reports/**"], networks: ["10.0.0.0/8", "2001:db8::/32"], policy: "bypass" }, // 3
    { paths: ["/mail/**"], ipRegex: "^192\\.0\\.2\\.", policy: "bypass" }, // 4
    { paths: ["/mail/**"], policy: "deny" }, // 5
    { paths: ["/legacy/**"], users: ["carol"], groups: ["scientists"], policy: "authenticated" }, // 6
    { paths: ["/ops/**"], groups: ["ops"], policy: "admin" }, // 7
    { paths: ["/admin/**"], policy: "admin" }, // 8
  ],
});

/** Every method an upstream may run a form POST as (./method-readings.ts), its own first. */
const POST_READINGS = ["POST", "PUT", "PATCH", "DELETE", "GET", "HEAD", "OPTIONS"];

interface FieldRow {
  name: string;
  request: DescribedRequest;
  identity: Identity;
  outcome: Outcome;
  policy: Policy;
  rule: number | "default";
}

const FIELD_TABLES: Record<string, FieldRow[]> = {
  paths: [
    { name: "a ** pattern", request: request("/public/a/b"), identity: ANONYMOUS, outcome: "proxy", policy: "bypass", rule: 0 },
    { name: "the rule's second pattern", request: request("/assets/site.css"), identity: ANONYMOUS, outcome: "proxy", policy: "bypass", rule: 0 },
    { name: "a * pattern does not cross a slash", request: request("/assets/img/site.css"), identity: ANONYMOUS, outcome: "redirect-to-login", policy: "authenticated", rule: "default" },
    { name: "a prefix is not a path", request: request("/publicity"), identity: ANONYMOUS, outcome: "redirect-to-login", policy: "authenticated", rule: "default" },
    { name: "a name with a dot meets **", request: request("/admin/.env"), identity: sessionOf(ALICE), outcome: "403", policy: "admin", rule: 8 },
    { name: "another reading of the path meets a stricter rule (/admin;x=1/y)", request: target("/admin;x=1/y"), identity: sessionOf(ALICE), outcome: "403", policy: "admin", rule: 8 },
  ],
  methods: [
    { name: "DELETE meets the DELETE rule", request: request("/api/items", { methods: "DELETE" }), identity: sessionOf(ALICE), outcome: "403", policy: "deny", rule: 1 },
    { name: "GET meets the GET rule", request: request("/api/items"), identity: ANONYMOUS, outcome: "proxy", policy: "bypass", rule: 2 },
    { name: "HEAD meets the GET rule", request: request("/api/items", { methods: "HEAD" }), identity: ANONYMOUS, outcome: "proxy", policy: "bypass", rule: 2 },
    { name: "POST meets neither", request: request("/api/items", { methods: "POST" }), identity: ANONYMOUS, outcome: "redirect-to-login", policy: "authenticated", rule: "default" },
    { name: "[GET, POST]: the POST reading's default is stricter than the GET rule", request: request("/api/items", { methods: ["GET", "POST"] }), identity: ANONYMOUS, outcome: "redirect-to-login", policy: "authenticated", rule: "default" },
    { name: "[GET, POST] signed in: authenticated, not bypass", request: request("/api/items", { methods: ["GET", "POST"] }), identity: sessionOf(ALICE), outcome: "proxy", policy: "authenticated", rule: "default" },
    { name: "a form POST's readings include DELETE: deny wins", request: request("/api/items", { methods: POST_READINGS }), identity: sessionOf(ALICE), outcome: "403", policy: "deny", rule: 1 },
  ],
  networks: [
    { name: "an IPv4 client in the CIDR", request: request("/reports/q", { clientIp: "10.1.2.3" }), identity: ANONYMOUS, outcome: "proxy", policy: "bypass", rule: 3 },
    { name: "an IPv4-mapped IPv6 client in the CIDR", request: request("/reports/q", { clientIp: "::ffff:10.1.2.3" }), identity: ANONYMOUS, outcome: "proxy", policy: "bypass", rule: 3 },
    { name: "an IPv6 client in the CIDR", request: request("/reports/q", { clientIp: "2001:db8::7" }), identity: ANONYMOUS, outcome: "proxy", policy: "bypass", rule: 3 },
    { name: "a client outside", request: request("/reports/q", { clientIp: "192.0.2.1" }), identity: ANONYMOUS, outcome: "redirect-to-login", policy: "authenticated", rule: "default" },
    { name: "a client address that is no address", request: request("/reports/q", { clientIp: "unknown" }), identity: ANONYMOUS, outcome: "redirect-to-login", policy: "authenticated", rule: "default" },
  ],
  ipRegex: [
    { name: "an address the expression matches", request: request("/mail/send", { clientIp: "192.0.2.55" }), identity: ANONYMOUS, outcome: "proxy", policy: "bypass", rule: 4 },
    { name: "an address it does not match falls to the next rule", request: request("/mail/send", { clientIp: "198.51.100.1" }), identity: ANONYMOUS, outcome: "403", policy: "deny", rule: 5 },
  ],
  "users and groups": [
    { name: "a principal in users", request: request("/legacy/x"), identity: sessionOf(principal("carol")), outcome: "proxy", policy: "authenticated", rule: 6 },
    { name: "a principal in groups", request: request("/legacy/x"), identity: basicOf(principal("dave", "user", "scientists")), outcome: "proxy", policy: "authenticated", rule: 6 },
    { name: "a principal in neither", request: request("/legacy/x"), identity: sessionOf(principal("erin", "user")), outcome: "403", policy: "authenticated", rule: 6 },
    { name: "a role named like the user is not the user", request: request("/legacy/x"), identity: sessionOf(principal("frank", "carol")), outcome: "403", policy: "authenticated", rule: 6 },
    { name: "the guest, in neither", request: request("/legacy/x"), identity: IDENTITIES.guest, outcome: "403", policy: "authenticated", rule: 6 },
    { name: "nobody signed in", request: request("/legacy/x"), identity: ANONYMOUS, outcome: "redirect-to-login", policy: "authenticated", rule: 6 },
    // The literal reading meets no rule and is as strict, so it names the rule ("default"); the groups condition still holds.
    { name: "only Tomcat's reading meets the groups rule (/legacy;x/data)", request: target("/legacy;x/data"), identity: sessionOf(principal("erin", "user")), outcome: "403", policy: "authenticated", rule: "default" },
    { name: "…and a principal in groups still passes it", request: target("/legacy;x/data"), identity: sessionOf(principal("dave", "scientists")), outcome: "proxy", policy: "authenticated", rule: "default" },
  ],
  admin: [
    { name: "a session with the admin role", request: request("/admin/x"), identity: sessionOf(principal("root", "user", "admin")), outcome: "proxy", policy: "admin", rule: 8 },
    { name: "Basic credentials with the admin role", request: request("/admin/x"), identity: basicOf(principal("root", "admin")), outcome: "proxy", policy: "admin", rule: 8 },
    { name: "a principal without it", request: request("/admin/x"), identity: basicOf(ALICE), outcome: "403", policy: "admin", rule: 8 },
    { name: "a user named admin is not the role", request: request("/admin/x"), identity: sessionOf(principal("admin", "user")), outcome: "403", policy: "admin", rule: 8 },
    { name: "an admin rule with groups: admin and in the group", request: request("/ops/x"), identity: sessionOf(principal("olga", "admin", "ops")), outcome: "proxy", policy: "admin", rule: 7 },
    { name: "an admin rule with groups: admin, not in the group", request: request("/ops/x"), identity: sessionOf(principal("root", "admin")), outcome: "403", policy: "admin", rule: 7 },
    { name: "an admin rule with groups: in the group, not admin", request: request("/ops/x"), identity: sessionOf(principal("oscar", "ops")), outcome: "403", policy: "admin", rule: 7 },
  ],
};

describe("decide: every rule field", () => {
  for (const [field, rows] of Object.entries(FIELD_TABLES)) {
    it(field, () => {
      for (const row of rows) {
        const d = decide(row.request, row.identity, FIELDS);
        assert.deepEqual({ outcome: d.outcome, policy: d.policy, rule: d.rule }, { outcome: row.outcome, policy: row.policy, rule: row.rule }, `${field}: ${row.name}`);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Browser or script
// ---------------------------------------------------------------------------------------------

/** No rules: everything is the default `authenticated`, so only the client decides the answer. */
const NO_RULES = settingsFor({ defaultPolicy: "authenticated" });

const CLIENTS: { name: string; path: string; headers: ClientHeaders; identity: Identity; outcome: Outcome; challenge?: boolean; expiredAt?: number }[] = [
  // A data path (SPEC §7: dataPaths, interactiveAgentIds).
  { name: "a script on /data/**", path: "/data/projects", headers: CURL, identity: ANONYMOUS, outcome: "401", challenge: true },
  { name: "a script on /xapi/**", path: "/xapi/users", headers: CURL, identity: ANONYMOUS, outcome: "401", challenge: true },
  { name: "a script on /REST/**", path: "/REST/projects", headers: CURL, identity: ANONYMOUS, outcome: "401", challenge: true },
  { name: "a script on /fs/**", path: "/fs/archive/x", headers: CURL, identity: ANONYMOUS, outcome: "401", challenge: true },
  { name: "no User-Agent on a data path", path: "/data/projects", headers: { accept: "text/html" }, identity: ANONYMOUS, outcome: "401", challenge: true },
  { name: "a script UA with Sec-Fetch-Mode: cors", path: "/data/projects", headers: { ...CURL, "sec-fetch-mode": "cors" }, identity: ANONYMOUS, outcome: "401", challenge: false },
  { name: "a browser's fetch (cors) on a data path", path: "/data/projects", headers: { ...NAVIGATING, "sec-fetch-mode": "cors" }, identity: ANONYMOUS, outcome: "401", challenge: false },
  { name: "a browser UA asking for JSON, without Sec-Fetch-Mode", path: "/data/projects", headers: { "user-agent": NAVIGATING["user-agent"], accept: "application/json" }, identity: ANONYMOUS, outcome: "401", challenge: true },
  { name: "a browser navigating on a data path", path: "/data/projects", headers: NAVIGATING, identity: ANONYMOUS, outcome: "redirect-to-login" },
  { name: "a browser UA without Sec-Fetch-Mode on a data path", path: "/data/projects", headers: { "user-agent": NAVIGATING["user-agent"], accept: "text/html" }, identity: ANONYMOUS, outcome: "redirect-to-login" },
  { name: "dataPaths are matched case-sensitively (/DATA is not /data)", path: "/DATA/projects", headers: CURL, identity: ANONYMOUS, outcome: "redirect-to-login" },
  // Not a data path: every other unauthenticated request goes to the login page (SPEC §7)...
  { name: "a script on a non-data path, no session", path: "/app/page", headers: CURL, identity: ANONYMOUS, outcome: "redirect-to-login" },
  { name: "JSON Accept on a non-data path, no session", path: "/app/page", headers: { ...NAVIGATING, accept: "application/json" }, identity: ANONYMOUS, outcome: "redirect-to-login" },
  // ...unless a timed-out session says an API client is calling (SPEC §6.2).
  { name: "expired session, JSON Accept", path: "/app/page", headers: { accept: "application/json" }, identity: IDENTITIES.expired, outcome: "401", challenge: true },
  { name: "expired session, JSON and HTML Accept is a page", path: "/app/page", headers: { accept: "application/json, text/html" }, identity: IDENTITIES.expired, outcome: "redirect-to-login", expiredAt: EXPIRED_AT },
  { name: "expired session, X-Requested-With", path: "/app/page", headers: { ...NAVIGATING, "sec-fetch-mode": undefined, "x-requested-with": "XMLHttpRequest" }, identity: IDENTITIES.expired, outcome: "401", challenge: true },
  { name: "expired session, a browser's fetch (cors)", path: "/app/page", headers: { ...NAVIGATING, "sec-fetch-mode": "cors" }, identity: IDENTITIES.expired, outcome: "401", challenge: false },
  { name: "expired session, a browser's XHR with Sec-Fetch-Mode", path: "/app/page", headers: { ...NAVIGATING, "x-requested-with": "XMLHttpRequest" }, identity: IDENTITIES.expired, outcome: "401", challenge: false },
  { name: "expired session, navigating", path: "/app/page", headers: NAVIGATING, identity: IDENTITIES.expired, outcome: "redirect-to-login", expiredAt: EXPIRED_AT },
  { name: "expired session, a script on a data path", path: "/data/projects", headers: CURL, identity: IDENTITIES.expired, outcome: "401", challenge: true },
  { name: "expired session, a browser navigating on a data path", path: "/data/projects", headers: NAVIGATING, identity: IDENTITIES.expired, outcome: "redirect-to-login", expiredAt: EXPIRED_AT },
  // Refused credentials: 401 whatever the path, the challenge only for scripts (SPEC §6.5).
  { name: "refused Basic from a script, non-data path", path: "/app/page", headers: CURL, identity: BASIC_FAILED, outcome: "401", challenge: true },
  { name: "refused Basic from a browser navigating", path: "/app/page", headers: NAVIGATING, identity: BASIC_FAILED, outcome: "401", challenge: false },
];

describe("decide: browser or script", () => {
  it("answers an unauthenticated client by its kind", () => {
    for (const row of CLIENTS) {
      const want = expected(row.outcome, "authenticated", "default", row.identity, true, row);
      assert.deepEqual(decide(request(row.path, { headers: row.headers }), row.identity, NO_RULES), want, row.name);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The store cannot answer
// ---------------------------------------------------------------------------------------------

const STORE_ROWS: { path: string; headers: ClientHeaders; outcome: Outcome; policy: Policy; rule: number | "default"; activity: boolean }[] = [
  { path: "/app/page", headers: NAVIGATING, outcome: "503", policy: "authenticated", rule: 3, activity: true },
  { path: "/admin/page", headers: NAVIGATING, outcome: "503", policy: "admin", rule: 1, activity: true },
  { path: "/data/projects", headers: CURL, outcome: "503", policy: "authenticated", rule: "default", activity: true },
  { path: "/public/page", headers: CURL, outcome: "proxy", policy: "bypass", rule: 0, activity: false },
  { path: "/internal/page", headers: NAVIGATING, outcome: "403", policy: "deny", rule: 2, activity: false },
];

describe("decide: the store could not be asked", () => {
  it("fails closed with 503 where a user is needed, and only there", () => {
    for (const row of STORE_ROWS) {
      const want = expected(row.outcome, row.policy, row.rule, STORE_UNAVAILABLE, row.activity);
      assert.deepEqual(decide(request(row.path, { headers: row.headers }), STORE_UNAVAILABLE, POLICIES), want, row.path);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Steps (explain)
// ---------------------------------------------------------------------------------------------

const ruleStep = (index: number, paths: string, policy: Policy): Step => ({ stage: "rules", outcome: policy, why: `rule ${index} (config: ${paths}) matched` });
const defaultStep = (policy: Policy): Step => ({ stage: "rules", outcome: policy, why: `no rule matched; access.defaultPolicy is ${policy}` });
const identityStep = (outcome: string, why: string): Step => ({ stage: "identity", outcome, why });

const STEPS: { name: string; settings: DecisionSettings; request: DescribedRequest; identity: Identity; steps: Step[] }[] = [
  { name: "bypass: the rule alone", settings: POLICIES, request: request("/public/x"), identity: sessionOf(ALICE), steps: [ruleStep(0, "/public/**", "bypass")] },
  { name: "deny: the rule alone", settings: POLICIES, request: request("/internal/x"), identity: sessionOf(ALICE), steps: [ruleStep(2, "/internal/**", "deny")] },
  {
    name: "a rule with two paths names both",
    settings: FIELDS,
    request: request("/assets/a.css"),
    identity: ANONYMOUS,
    steps: [ruleStep(0, "/public/**, /assets/*.css", "bypass")],
  },
  { name: "authenticated, a session", settings: POLICIES, request: request("/app/x"), identity: sessionOf(ALICE), steps: [ruleStep(3, "/app/**", "authenticated"), identityStep("session", "a live session of alice")] },
  { name: "authenticated, Basic", settings: POLICIES, request: request("/app/x"), identity: basicOf(ALICE), steps: [ruleStep(3, "/app/**", "authenticated"), identityStep("basic", "Basic credentials of alice")] },
  {
    name: "authenticated, the guest",
    settings: POLICIES,
    request: request("/app/x"),
    identity: IDENTITIES.guest,
    steps: [ruleStep(3, "/app/**", "authenticated"), identityStep("guest", "nobody signed in, and requireLogin is false: the guest")],
  },
  {
    name: "default, nobody, a browser",
    settings: POLICIES,
    request: request("/elsewhere"),
    identity: ANONYMOUS,
    steps: [defaultStep("authenticated"), identityStep("anonymous", "nobody signed in"), { stage: "client", outcome: "browser", why: "a page a person can sign in from" }],
  },
  {
    name: "default, nobody, a script on a data path",
    settings: POLICIES,
    request: request("/data/x", { headers: CURL }),
    identity: ANONYMOUS,
    steps: [
      defaultStep("authenticated"),
      identityStep("anonymous", "nobody signed in"),
      { stage: "client", outcome: "script", why: "a data path, and not a browser navigating with an interactiveAgentIds User-Agent" },
    ],
  },
  {
    name: "default, timed out, not navigating",
    settings: POLICIES,
    request: request("/elsewhere", { headers: { accept: "application/json" } }),
    identity: IDENTITIES.expired,
    steps: [
      defaultStep("authenticated"),
      identityStep("anonymous", "the session sent had timed out"),
      { stage: "client", outcome: "not-navigating", why: "the session timed out, and the client is not a page being loaded" },
    ],
  },
  { name: "refused credentials", settings: POLICIES, request: request("/app/x"), identity: BASIC_FAILED, steps: [ruleStep(3, "/app/**", "authenticated"), identityStep("refused", "the credentials sent were refused")] },
  {
    name: "store unavailable",
    settings: POLICIES,
    request: request("/app/x"),
    identity: STORE_UNAVAILABLE,
    steps: [ruleStep(3, "/app/**", "authenticated"), identityStep("store-unavailable", "the store could not be asked about the credential sent")],
  },
  {
    name: "admin, the guest stands down",
    settings: POLICIES,
    request: request("/admin/x"),
    identity: IDENTITIES.guest,
    steps: [ruleStep(1, "/admin/**", "admin"), identityStep("anonymous", "nobody signed in"), { stage: "client", outcome: "browser", why: "a page a person can sign in from" }],
  },
  {
    name: "admin, no admin role",
    settings: POLICIES,
    request: request("/admin/x"),
    identity: sessionOf(ALICE),
    steps: [
      ruleStep(1, "/admin/**", "admin"),
      identityStep("session", "a live session of alice"),
      { stage: "role", outcome: "refused", why: "the rule is for administrators, and this principal has no admin role" },
    ],
  },
  {
    name: "users and groups, in neither",
    settings: FIELDS,
    request: request("/legacy/x"),
    identity: sessionOf(principal("erin", "user")),
    steps: [
      ruleStep(6, "/legacy/**", "authenticated"),
      identityStep("session", "a live session of erin"),
      { stage: "role", outcome: "refused", why: "the rule admits only user carol or group scientists" },
    ],
  },
  {
    name: "a groups rule only Tomcat's reading meets: the default named, the rule's condition given",
    settings: FIELDS,
    request: target("/legacy;x/data"),
    identity: sessionOf(principal("erin", "user")),
    steps: [
      defaultStep("authenticated"),
      identityStep("session", "a live session of erin"),
      { stage: "role", outcome: "refused", why: "the rule admits only user carol or group scientists" },
    ],
  },
];

describe("decide: steps", () => {
  it("gives the rule step first, then who the request is and why it ends as it does", () => {
    for (const row of STEPS) {
      const steps: Step[] = [];
      decide(row.request, row.identity, row.settings, steps);
      assert.deepEqual(steps, row.steps, row.name);
    }
  });

  it("decides the same with and without a steps array", () => {
    for (const row of STEPS) {
      assert.deepEqual(decide(row.request, row.identity, row.settings, []), decide(row.request, row.identity, row.settings), row.name);
    }
  });

  it("appends to the array it is given, keeping what is there", () => {
    const earlier: Step = { stage: "client", outcome: "earlier", why: "put there by the caller" };
    const steps: Step[] = [earlier];
    decide(request("/public/x"), ANONYMOUS, POLICIES, steps);
    assert.deepEqual(steps, [earlier, ruleStep(0, "/public/**", "bypass")]);
  });
});

// ---------------------------------------------------------------------------------------------
// The identity passed in
// ---------------------------------------------------------------------------------------------

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

describe("decide: the identity passed in", () => {
  it("is never changed, on any path, by any client", () => {
    for (const row of MATRIX) {
      for (const name of IDENTITY_NAMES) {
        for (const headers of [NAVIGATING, CURL]) {
          // Frozen: a write throws (ES modules are strict); compared with a copy too.
          const identity = deepFreeze(structuredClone(IDENTITIES[name]) as Identity);
          const before = structuredClone(identity);
          decide(request(row.path, { headers }), identity, POLICIES, []);
          assert.deepEqual(identity, before, `${row.name} × ${name} × ${headers["user-agent"]}`);
        }
      }
    }
  });

  it("gives a guest it stands down a new anonymous identity, not the guest changed", () => {
    const guest = deepFreeze(structuredClone(IDENTITIES.guest) as Identity);
    const d = decide(request("/admin/x"), guest, POLICIES);
    assert.deepEqual(d.identity, { kind: "anonymous" });
    assert.deepEqual(guest, IDENTITIES.guest);
  });
});

// ---------------------------------------------------------------------------------------------
// As real requests ask it: withGuest first (access-stage.ts)
// ---------------------------------------------------------------------------------------------

const OPEN_SITE = compileSite(validate({ site: { requireLogin: false } }, {}).site);
const OPEN = { rules: POLICIES.rules, site: OPEN_SITE };
const guestSource = { get: () => GUEST };

/** withGuest never waits here: the guest source answers at once. */
function asRequestsAsk(req: DescribedRequest, identity: Identity, settings: DecisionSettings, realSite = OPEN_SITE): Decision {
  const who = withGuest(identity, realSite, guestSource);
  assert.ok(!(who instanceof Promise));
  return decide(req, who, settings);
}

const GUEST_IDENTITY: Identity = { kind: "guest", principal: { ...GUEST, roles: ["guest"] } };

const OPEN_ROWS: { name: string; request: DescribedRequest; identity: Identity; want: Decision }[] = [
  { name: "nobody, authenticated path: on as the guest", request: request("/app/x"), identity: ANONYMOUS, want: expected("proxy", "authenticated", 3, GUEST_IDENTITY, true) },
  { name: "nobody, bypass path: on as nobody", request: request("/public/x"), identity: ANONYMOUS, want: expected("proxy", "bypass", 0, ANONYMOUS, false) },
  { name: "nobody, admin path: the login page", request: request("/admin/x"), identity: ANONYMOUS, want: expected("redirect-to-login", "admin", 1, ANONYMOUS, true) },
  { name: "a session stays a session", request: request("/admin/x"), identity: sessionOf(ALICE), want: expected("403", "admin", 1, sessionOf(ALICE), true) },
  { name: "refused Basic is not the guest", request: request("/app/x", { headers: CURL }), identity: BASIC_FAILED, want: expected("401", "authenticated", 3, BASIC_FAILED, true, { challenge: true }) },
  { name: "store unavailable is not the guest", request: request("/app/x"), identity: STORE_UNAVAILABLE, want: expected("503", "authenticated", 3, STORE_UNAVAILABLE, true) },
  {
    name: "timed out, authenticated path: on as the guest, still carrying the timeout",
    request: request("/app/x"),
    identity: IDENTITIES.expired,
    want: expected("proxy", "authenticated", 3, { ...GUEST_IDENTITY, expiredAt: EXPIRED_AT }, true),
  },
  {
    name: "timed out, admin path, navigating: the login page mentions the timeout (SPEC §6.2)",
    request: request("/admin/x"),
    identity: IDENTITIES.expired,
    want: expected("redirect-to-login", "admin", 1, IDENTITIES.expired, true, { expiredAt: EXPIRED_AT }),
  },
  {
    name: "timed out, admin path, a JSON client: 401, not the login page (SPEC §6.2)",
    request: request("/admin/x", { headers: { accept: "application/json" } }),
    identity: IDENTITIES.expired,
    want: expected("401", "admin", 1, IDENTITIES.expired, true, { challenge: true }),
  },
];

describe("decide after withGuest (requireLogin: false)", () => {
  for (const row of OPEN_ROWS) {
    it(row.name, () => {
      assert.deepEqual(asRequestsAsk(row.request, row.identity, OPEN), row.want, row.name);
    });
  }

  it("leaves nobody as nobody while requireLogin is true", () => {
    assert.deepEqual(asRequestsAsk(request("/app/x"), ANONYMOUS, POLICIES, site), expected("redirect-to-login", "authenticated", 3, ANONYMOUS, true));
  });
});
