/**
 * `GET /gateway/admin/explain` (SPEC §8.3) against a real gateway: who may ask it, what it answers
 * about accounts, and — the point of it — that for each described request its decision is what the
 * same request really meets (proxied with 2xx, sent to the login page, or refused with nothing sent
 * upstream). One gateway for the file, with a rule for every policy and every kind of condition.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../../src/clock.js";
import { startTestGateway, type TestGateway, type TestResponse } from "../helpers/gateway.js";
import { startTestUpstream, type Received, type TestUpstream } from "../helpers/upstream.js";
import { API, MINUTE, basic, login, tryLogin } from "../helpers/auth.js";

const EXPLAIN = "/gateway/admin/explain";
const ADMIN_PASSWORD = "admin-password-1";
const LOCK_MS = 30 * MINUTE;
const MAX_FAILURES = 3;

/** The rules, in the order they are tried (rule.index counts over them from 0). */
const RULES = [
  { paths: ["/public/**"], policy: "bypass" },
  { paths: ["/admin/**"], policy: "admin" },
  { paths: ["/private/**"], policy: "deny" },
  { paths: ["/api/**"], methods: ["DELETE"], policy: "deny" },
  { paths: ["/docs/**"], methods: ["GET"], policy: "bypass" },
  { paths: ["/local/**"], networks: ["127.0.0.0/8"], policy: "bypass" },
  { paths: ["/intranet/**"], networks: ["10.0.0.0/8"], policy: "bypass" },
  { paths: ["/team/**"], groups: ["staff"], policy: "authenticated" },
] as const;

/** Local users: password is `<name>-Password-1` (the first-run admin's is ADMIN_PASSWORD). */
const USERS = {
  ursula: ["user"], // a normal user
  stella: ["user", "staff"], // in the group of rule 7
  dora: ["user"], // disabled in before()
  lars: ["user"], // locked in before() by failed logins
} as const;
type Name = keyof typeof USERS | "admin";
const passwordOf = (name: Name) => (name === "admin" ? ADMIN_PASSWORD : `${name}-Password-1`);

const SCRIPT_AGENT = "curl/8.5";
const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
/** What each kind of client sends besides its credential: a script, or a browser navigating to a page. */
const CLIENT = {
  script: { "user-agent": SCRIPT_AGENT, accept: "*/*" },
  browser: {
    "user-agent": FIREFOX,
    accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "sec-fetch-mode": "navigate",
    "sec-fetch-dest": "document",
    "sec-fetch-site": "none",
  },
} as const;
const AGENT = { script: SCRIPT_AGENT, browser: FIREFOX } as const;

interface Explanation {
  decision: string;
  path: string;
  rule: { index: number; source: string; paths: string[]; policy: string } | null;
  principal: { user: string; roles: string[]; provider: string } | null;
  steps: { stage: string; outcome: string; why: string }[];
  account: { locked: boolean; lockEndsAt: string | null; failures: number; enabled: boolean } | null;
}

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
}

describe("explain (GET /gateway/admin/explain)", () => {
  let upstream: TestUpstream;
  let gw: TestGateway;
  const clock = new ManualClock();
  /** Session cookies of each user, made by a JSON login (dora's and lars's before the disable and the lock). */
  const cookies = new Map<Name, string>();
  let lockedAt = 0;

  before(async () => {
    upstream = await startTestUpstream();
    gw = await startTestGateway(
      {
        upstream: { url: upstream.url },
        access: { defaultPolicy: "authenticated", rules: RULES },
        site: { maxFailedLogins: MAX_FAILURES, maxFailedLoginsLockoutDuration: "30 minutes" },
      },
      { clock },
    );
    for (const [name, roles] of Object.entries(USERS)) await gw.gateway.accounts.add({ name, password: passwordOf(name as Name), roles: [...roles] });
    for (const name of ["admin", ...Object.keys(USERS)] as Name[]) cookies.set(name, (await login(gw, name, passwordOf(name))).cookie);
    await gw.gateway.accounts.setEnabled("dora", false, "test");
    lockedAt = clock.now();
    for (let i = 0; i < MAX_FAILURES; i++) assert.equal((await tryLogin(gw, "lars", `wrong-${i}`)).res.status, 401);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const asAdmin = { ...API, authorization: basic("admin", ADMIN_PASSWORD) };
  const explainUrl = (q: Record<string, string | undefined>) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, v);
    return `${EXPLAIN}?${params}`;
  };
  /** Asks explain as the admin (Basic) and checks it answered 200 JSON. */
  async function ask(q: Record<string, string | undefined>): Promise<Explanation> {
    const res = await gw.https(explainUrl(q), { headers: asAdmin });
    assert.equal(res.status, 200, `explain answered ${res.status}: ${res.body}`);
    assert.match(String(res.headers["content-type"]), /application\/json/);
    return res.json<Explanation>();
  }

  describe("who may ask", () => {
    const q = { method: "GET", path: "/data/x", user: "ursula", ip: "10.1.2.3", agent: "curl/8.5" };

    it("answers an anonymous JSON client 401 ERR_UNAUTHENTICATED, and no explanation", async () => {
      const res = await gw.https(explainUrl(q), { headers: API });
      assert.equal(res.status, 401);
      const body = res.json<{ error: string; decision?: unknown }>();
      assert.equal(body.error, "ERR_UNAUTHENTICATED");
      assert.equal(body.decision, undefined);
    });

    it("answers a wrong Basic password 401, not an explanation", async () => {
      const res = await gw.https(explainUrl(q), { headers: { ...API, authorization: basic("admin", "not-the-password") } });
      assert.equal(res.status, 401);
      assert.equal(res.json<{ decision?: unknown }>().decision, undefined);
    });

    for (const via of ["cookie", "basic"] as const) {
      it(`answers a signed-in non-admin (${via}) 403 ERR_FORBIDDEN`, async () => {
        const credential = via === "cookie" ? { cookie: cookies.get("stella")! } : { authorization: basic("stella", passwordOf("stella")) };
        const res = await gw.https(explainUrl(q), { headers: { ...API, ...credential } });
        assert.equal(res.status, 403);
        const body = res.json<{ error: string; decision?: unknown }>();
        assert.equal(body.error, "ERR_FORBIDDEN");
        assert.equal(body.decision, undefined);
      });
    }

    for (const via of ["cookie", "basic"] as const) {
      it(`answers an admin (${via}) 200 JSON with exactly the documented fields`, async () => {
        const credential = via === "cookie" ? { cookie: cookies.get("admin")! } : { authorization: basic("admin", ADMIN_PASSWORD) };
        const res = await gw.https(explainUrl(q), { headers: { ...API, ...credential } });
        assert.equal(res.status, 200, res.body);
        assert.match(String(res.headers["content-type"]), /application\/json/);
        const a = res.json<Explanation>();
        assert.deepEqual(Object.keys(a).sort(), ["account", "decision", "path", "principal", "rule", "steps"]);
        // /data/x meets no rule: the default policy (authenticated) decides, and ursula passes it.
        assert.equal(a.decision, "proxy");
        assert.equal(a.path, "/data/x");
        assert.equal(a.rule, null);
        assert.ok(a.principal);
        assert.deepEqual(Object.keys(a.principal).sort().filter((k) => ["provider", "roles", "user"].includes(k)), ["provider", "roles", "user"]);
        assert.equal(a.principal.user, "ursula");
        assert.deepEqual(a.principal.roles, ["user"]);
        assert.equal(a.principal.provider, "local");
        assert.ok(a.steps.length > 0);
        for (const s of a.steps) assert.deepEqual(Object.keys(s).sort(), ["outcome", "stage", "why"]);
        assert.deepEqual(a.steps[0]!.stage, "rules");
        assert.ok(a.account);
        assert.deepEqual(Object.keys(a.account).sort(), ["enabled", "failures", "lockEndsAt", "locked"]);
        assert.deepEqual(a.account, { locked: false, lockEndsAt: null, failures: 0, enabled: true });
      });
    }

    it("names the rule that decided with index, source, paths and policy", async () => {
      const a = await ask({ method: "GET", path: "/team/x", user: "stella", ip: "127.0.0.1" });
      assert.equal(a.decision, "proxy");
      assert.deepEqual(a.rule, { index: 7, source: "config", paths: ["/team/**"], policy: "authenticated" });
    });

    it("redirects a plaintext request to the TLS port with the same path and query, as other admin routes, and answers nothing", async () => {
      const url = explainUrl(q);
      const res = await gw.http(url, { headers: { ...API, host: "localhost" } });
      assert.equal(res.status, 308);
      assert.equal(res.headers.location, `https://localhost:${gw.securePort}${url}`);
      assert.doesNotMatch(res.body, /"decision"/);
    });

    it("answers 400 when path is missing or empty", async () => {
      for (const url of [`${EXPLAIN}?method=GET&user=ursula`, `${EXPLAIN}?path=`]) {
        const res = await gw.https(url, { headers: asAdmin });
        assert.equal(res.status, 400, `${url}: ${res.body}`);
        assert.equal(res.json<{ error: string }>().error, "ERR_BAD_REQUEST");
      }
    });
  });

  describe("accounts", () => {
    it("reports a locked user: locked, when the lock ends, and the failures", async () => {
      const a = await ask({ method: "GET", path: "/app/page", user: "lars", ip: "127.0.0.1" });
      assert.deepEqual(a.account, { locked: true, lockEndsAt: new Date(lockedAt + LOCK_MS).toISOString(), failures: MAX_FAILURES, enabled: true });
      assert.equal((await gw.gateway.store.getLoginFailures("lars")).failures, a.account.failures, "explain's failures are not the store's");
      assert.ok(a.steps.some((s) => s.stage === "identity" && s.outcome === "locked"), JSON.stringify(a.steps));
      assert.equal(a.principal?.user, "lars");
      // The lock is real: the right password is refused now (this attempt is counted too).
      assert.equal((await tryLogin(gw, "lars", passwordOf("lars"))).res.status, 401, "lars is not locked");
    });

    it("reports an unlocked user with no failures as such", async () => {
      const a = await ask({ method: "GET", path: "/app/page", user: "ursula" });
      assert.deepEqual(a.account, { locked: false, lockEndsAt: null, failures: 0, enabled: true });
      assert.ok(!a.steps.some((s) => s.outcome === "locked"));
    });

    it("judges a disabled user as nobody: step 'disabled', no principal, enabled false, sent to sign in", async () => {
      const a = await ask({ method: "GET", path: "/app/page", user: "dora", ip: "127.0.0.1", agent: FIREFOX });
      assert.ok(a.steps.some((s) => s.stage === "identity" && s.outcome === "disabled"), JSON.stringify(a.steps));
      assert.equal(a.principal, null);
      assert.equal(a.account?.enabled, false);
      assert.equal(a.account?.locked, false);
      assert.equal(a.decision, "redirect-to-login");
    });

    it("judges an unknown user as nobody, with a step 'unknown-user' and no account", async () => {
      const a = await ask({ method: "GET", path: "/data/x", user: "nobody-by-that-name", ip: "127.0.0.1", agent: SCRIPT_AGENT });
      assert.ok(a.steps.some((s) => s.stage === "identity" && s.outcome === "unknown-user"), JSON.stringify(a.steps));
      assert.equal(a.principal, null);
      assert.equal(a.account, null);
      assert.equal(a.decision, "401");
    });

    it("answers 'gateway' for a path the gateway serves itself, with no rule and no principal", async () => {
      for (const path of ["/gateway/login", "/gateway/admin/explain?path=/x"]) {
        const a = await ask({ method: "GET", path, user: "admin" });
        assert.equal(a.decision, "gateway", path);
        assert.equal(a.rule, null);
        assert.equal(a.principal, null);
        assert.deepEqual(a.steps.map((s) => s.stage), ["gateway"]);
      }
    });

    it("judges the client address it is given: a networks rule for 10.0.0.0/8 lets 10.1.2.3 in, not 127.0.0.1", async () => {
      const inside = await ask({ method: "GET", path: "/intranet/x", ip: "10.1.2.3", agent: FIREFOX });
      assert.equal(inside.decision, "proxy");
      assert.equal(inside.rule?.index, 6);
      const outside = await ask({ method: "GET", path: "/intranet/x", ip: "127.0.0.1", agent: FIREFOX });
      assert.equal(outside.decision, "redirect-to-login");
      assert.equal(outside.rule, null);
    });
  });

  /**
   * The main test: each row is asked of explain and then sent for real with the same facts (same
   * method, path, User-Agent, client 127.0.0.1, as the same user), and the two must agree.
   */
  describe("agrees with what the same request really meets", () => {
    type Decision = "proxy" | "redirect-to-login" | "401" | "403" | "400";
    interface Row {
      method: string;
      path: string;
      /** Who sends it, and how: Basic credentials or the session cookie of their login; none is anonymous. */
      user?: Name;
      via?: "basic" | "cookie";
      agent: keyof typeof CLIENT;
      expect: Decision;
      /** The rule explain must name (index), or null for the default policy; undefined: not checked (400). */
      rule?: number | null;
    }
    const rows: Row[] = [
      // bypass
      { method: "GET", path: "/public/x", agent: "script", expect: "proxy", rule: 0 },
      { method: "GET", path: "/public/x", agent: "browser", expect: "proxy", rule: 0 },
      { method: "GET", path: "/public/x", user: "ursula", via: "basic", agent: "script", expect: "proxy", rule: 0 },
      // admin
      { method: "GET", path: "/admin/x", user: "admin", via: "basic", agent: "script", expect: "proxy", rule: 1 },
      { method: "GET", path: "/admin/x", user: "admin", via: "cookie", agent: "browser", expect: "proxy", rule: 1 },
      { method: "GET", path: "/admin/x", user: "ursula", via: "basic", agent: "script", expect: "403", rule: 1 },
      { method: "GET", path: "/admin/x", user: "ursula", via: "cookie", agent: "browser", expect: "403", rule: 1 },
      { method: "GET", path: "/admin/x", agent: "browser", expect: "redirect-to-login", rule: 1 },
      { method: "GET", path: "/admin/x", agent: "script", expect: "redirect-to-login", rule: 1 },
      // deny
      { method: "GET", path: "/private/x", user: "admin", via: "basic", agent: "script", expect: "403", rule: 2 },
      { method: "GET", path: "/private/x", agent: "browser", expect: "403", rule: 2 },
      // the default policy (authenticated)
      { method: "GET", path: "/app/page", agent: "browser", expect: "redirect-to-login", rule: null },
      { method: "GET", path: "/app/page", agent: "script", expect: "redirect-to-login", rule: null },
      { method: "GET", path: "/app/page", user: "ursula", via: "cookie", agent: "browser", expect: "proxy", rule: null },
      // groups: in and out of the group
      { method: "GET", path: "/team/x", user: "stella", via: "basic", agent: "script", expect: "proxy", rule: 7 },
      { method: "GET", path: "/team/x", user: "stella", via: "cookie", agent: "browser", expect: "proxy", rule: 7 },
      { method: "GET", path: "/team/x", user: "ursula", via: "basic", agent: "script", expect: "403", rule: 7 },
      { method: "GET", path: "/team/x", user: "admin", via: "cookie", agent: "browser", expect: "403", rule: 7 },
      { method: "GET", path: "/team/x", agent: "browser", expect: "redirect-to-login", rule: 7 },
      // methods: a GET-only bypass, a DELETE-only deny
      { method: "GET", path: "/docs/x", agent: "script", expect: "proxy", rule: 4 },
      { method: "DELETE", path: "/docs/x", agent: "browser", expect: "redirect-to-login", rule: null },
      { method: "DELETE", path: "/docs/x", user: "ursula", via: "basic", agent: "script", expect: "proxy", rule: null },
      { method: "GET", path: "/api/x", user: "ursula", via: "basic", agent: "script", expect: "proxy", rule: null },
      { method: "DELETE", path: "/api/x", user: "ursula", via: "basic", agent: "script", expect: "403", rule: 3 },
      { method: "DELETE", path: "/api/x", user: "admin", via: "cookie", agent: "browser", expect: "403", rule: 3 },
      // a POST with no body is judged as every method it could become
      { method: "POST", path: "/api/x", user: "ursula", via: "basic", agent: "script", expect: "403", rule: 3 },
      { method: "POST", path: "/api/x", user: "admin", via: "cookie", agent: "script", expect: "403", rule: 3 },
      { method: "POST", path: "/docs/x", agent: "browser", expect: "redirect-to-login", rule: null },
      { method: "POST", path: "/docs/x", user: "ursula", via: "cookie", agent: "script", expect: "proxy", rule: null },
      // networks (the client is 127.0.0.1)
      { method: "GET", path: "/local/x", agent: "script", expect: "proxy", rule: 5 },
      { method: "GET", path: "/intranet/x", agent: "browser", expect: "redirect-to-login", rule: null },
      // paths read as requests' are
      { method: "GET", path: "/%2fadmin/x", agent: "browser", expect: "400" },
      { method: "GET", path: "/%2fadmin/x", user: "admin", via: "basic", agent: "script", expect: "400" },
      { method: "GET", path: "/admin/../public/x", agent: "browser", expect: "proxy", rule: 0 },
      { method: "GET", path: "/public/../admin/x", user: "ursula", via: "basic", agent: "script", expect: "403", rule: 1 },
      { method: "GET", path: "/public/x;jsessionid=1", agent: "script", expect: "proxy", rule: 0 },
      { method: "GET", path: "/team;jsessionid=1/x", user: "ursula", via: "basic", agent: "script", expect: "403" },
      { method: "GET", path: "/team;jsessionid=1/x", user: "stella", via: "basic", agent: "script", expect: "proxy" },
      { method: "GET", path: "/admin;jsessionid=1/x", user: "ursula", via: "cookie", agent: "browser", expect: "403", rule: 1 },
      // a data path (default dataPaths: /data/** among them) without credentials: scripts 401, browsers to the login page
      { method: "GET", path: "/data/x", agent: "script", expect: "401", rule: null },
      { method: "GET", path: "/data/x", agent: "browser", expect: "redirect-to-login", rule: null },
      { method: "GET", path: "/data/x", user: "ursula", via: "basic", agent: "script", expect: "proxy", rule: null },
      // accounts: a locked user's session made before the lock keeps working; a disabled user's has ended
      { method: "GET", path: "/app/page", user: "lars", via: "cookie", agent: "browser", expect: "proxy", rule: null },
      { method: "GET", path: "/app/page", user: "dora", via: "cookie", agent: "browser", expect: "redirect-to-login", rule: null },
      { method: "GET", path: "/data/x", user: "dora", via: "basic", agent: "script", expect: "401", rule: null },
      // Basic credentials of a disabled or a locked account (via=basic): a new sign-in, refused.
      {
        method: "GET",
        path: "/app/page",
        user: "dora",
        via: "basic",
        agent: "browser",
        expect: "401",
        rule: null,
      },
      {
        method: "GET",
        path: "/data/x",
        user: "lars",
        via: "basic",
        agent: "script",
        expect: "401",
        rule: null,
      },
    ];

    const label = (r: Row) => `${r.method} ${r.path} ${r.user ? `as ${r.user} (${r.via})` : "anonymous"}, ${r.agent}`;

    for (const row of rows) {
      it(`${label(row)}: explain says ${row.expect}, and the request meets it`, async () => {
        const seen = upstream.received.length;
        const a = await ask({ method: row.method, path: row.path, user: row.user, via: row.via === "basic" ? "basic" : undefined, ip: "127.0.0.1", agent: AGENT[row.agent] });
        assert.equal(upstream.received.length, seen, "explain itself sent something upstream");
        assert.equal(a.decision, row.expect, `explain: ${JSON.stringify(a)}`);
        if (row.rule !== undefined) assert.equal(a.rule?.index ?? null, row.rule, `rule: ${JSON.stringify(a.rule)}`);

        const credential: Record<string, string> =
          row.user === undefined ? {} : row.via === "cookie" ? { cookie: cookies.get(row.user)! } : { authorization: basic(row.user, passwordOf(row.user)) };
        const res = await gw.https(row.path, { method: row.method, headers: { ...CLIENT[row.agent], ...credential } });
        const arrived = upstream.received.slice(seen);
        agree(a, row, res, arrived);
      });
    }

    /** explain's decision ⇔ what the real request met. */
    function agree(a: Explanation, row: Row, res: TestResponse, arrived: Received[]): void {
      const what = `explain said ${a.decision}; the request met ${res.status} ${res.headers.location ?? ""} with ${arrived.length} request(s) upstream`;
      if (a.decision === "proxy") {
        assert.ok(res.status >= 200 && res.status < 300, what);
        assert.equal(res.headers["x-upstream"], "yes", what);
        assert.equal(arrived.length, 1, what);
        assert.equal(arrived[0]!.method, row.method);
        assert.equal(decodeURIComponent(arrived[0]!.url.split("?")[0]!), a.path, "explain's path is not the one the upstream got");
        // The principal explain names is the one the upstream is told about (none for nobody).
        const echo = res.json<Echo>();
        assert.equal(echo.headers["x-remote-user"], a.principal?.user, what);
        return;
      }
      assert.equal(arrived.length, 0, `${what}: nothing may reach the upstream`);
      if (a.decision === "redirect-to-login") {
        assert.equal(res.status, row.method === "GET" || row.method === "HEAD" ? 302 : 303, what);
        assert.match(String(res.headers.location), /^\/gateway\/login\?/, what);
        return;
      }
      assert.equal(String(res.status), a.decision, what);
      assert.equal(res.headers.location, undefined, what);
    }

    it("explain calls alone never reach the upstream", async () => {
      const seen = upstream.received.length;
      for (const row of rows) await ask({ method: row.method, path: row.path, user: row.user, ip: "127.0.0.1", agent: AGENT[row.agent] });
      assert.equal(upstream.received.length, seen);
    });
  });
});
