/**
 * `portcullis explain [--user U] [--ip A] [--agent UA] [--json] [-c config] METHOD PATH` (SPEC §8.3,
 * §9), run as a child process the way an operator runs it: against a config file with access rules
 * and the embedded store of a temp directory (accounts made with `portcullis users add`; no gateway
 * holds the store meanwhile), and against a Redis a running gateway shares, where its answer must be
 * the admin route's.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type CliResult, runCli, tempDir } from "../helpers/cli.js";
import { startTestGateway, type TestGateway } from "../helpers/gateway.js";
import { startTestRedis, type TestRedis } from "../helpers/redis.js";
import { startTestUpstream, type TestUpstream } from "../helpers/upstream.js";
import { API, basic, tryLogin } from "../helpers/auth.js";

interface Explanation {
  decision: string;
  path: string;
  rule: { index: number; source: string; paths: string[]; policy: string } | null;
  principal: { user: string; roles: string[]; provider: string } | null;
  steps: { stage: string; outcome: string; why: string }[];
  account: { locked: boolean; lockEndsAt: string | null; failures: number; enabled: boolean } | null;
}

const ACCESS = {
  defaultPolicy: "authenticated",
  rules: [
    { paths: ["/public/**"], policy: "bypass" },
    { paths: ["/admin/**"], policy: "admin" },
    { paths: ["/private/**"], policy: "deny" },
    { paths: ["/team/**"], groups: ["staff"], policy: "authenticated" },
  ],
};
const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const show = (r: CliResult) => `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
const pw = (name: string) => `${name}-password-long-1`;

/** Checks the answer has exactly SPEC §8.3's fields, each of its documented type. */
function assertShape(a: Explanation): void {
  assert.deepEqual(Object.keys(a).sort(), ["account", "decision", "path", "principal", "rule", "steps"]);
  assert.equal(typeof a.decision, "string");
  assert.equal(typeof a.path, "string");
  if (a.rule !== null) {
    assert.deepEqual(Object.keys(a.rule).sort(), ["index", "paths", "policy", "source"]);
    assert.equal(typeof a.rule.index, "number");
    assert.ok(Array.isArray(a.rule.paths));
  }
  if (a.principal !== null) for (const k of ["user", "roles", "provider"]) assert.ok(k in a.principal, `principal has no ${k}`);
  assert.ok(Array.isArray(a.steps) && a.steps.length > 0);
  for (const s of a.steps) assert.deepEqual(Object.keys(s).sort(), ["outcome", "stage", "why"]);
  if (a.account !== null) assert.deepEqual(Object.keys(a.account).sort(), ["enabled", "failures", "lockEndsAt", "locked"]);
}

describe("portcullis explain on the embedded store", () => {
  const dir = tempDir("portcullis-explain-");
  const data = path.join(dir, "data");
  const config = path.join(dir, "portcullis.yaml");
  const lockFile = path.join(data, "store.json.lock");
  fs.writeFileSync(config, JSON.stringify({ store: { dataDir: data }, access: ACCESS }, null, 2));
  const cli = (args: string[], input = "") => runCli([...args, "-c", config], { cwd: dir, input });
  /** `portcullis explain …` that must exit 0. */
  const explain = (args: string[]): CliResult => {
    const r = cli(["explain", ...args]);
    assert.equal(r.status, 0, show(r));
    return r;
  };
  const explainJson = (args: string[]): Explanation => {
    const r = explain(["--json", ...args]);
    const a = JSON.parse(r.stdout) as Explanation;
    assertShape(a);
    return a;
  };

  before(() => {
    for (const [name, roles] of [["boss", "admin"], ["ursula", "user"], ["stella", "user,staff"], ["dora", "user"]] as const) {
      const r = cli(["users", "add", name, "--roles", roles], `${pw(name)}\n${pw(name)}\n`);
      assert.equal(r.status, 0, show(r));
    }
    const r = cli(["users", "disable", "dora"]);
    assert.equal(r.status, 0, show(r));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("prints 'decision: …' first, then the path and the rule, and exits 0", () => {
    const r = explain(["GET", "/public/x"]);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], "decision: proxy");
    assert.equal(lines[1], "path: /public/x");
    assert.match(lines[2]!, /^rule: 0 \(config: \/public\/\*\*\) bypass$/);
    assert.ok(lines.includes("steps:"), r.stdout);
  });

  it("names the default policy when no rule matched", () => {
    const lines = explain(["--user", "ursula", "GET", "/app/page"]).stdout.split("\n");
    assert.equal(lines[0], "decision: proxy");
    assert.ok(lines.includes("rule: none (the default policy)"), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("principal: ursula (local; roles: user)")), lines.join("\n"));
  });

  it("--json prints SPEC §8.3's answer: decision, normalised path, rule, principal, steps, account", () => {
    const a = explainJson(["--user", "ursula", "--ip", "10.1.2.3", "--agent", "curl/8.5", "get", "/x/../data/x"]);
    assert.equal(a.decision, "proxy");
    assert.equal(a.path, "/data/x");
    assert.equal(a.rule, null);
    assert.equal(a.principal?.user, "ursula");
    assert.deepEqual(a.principal?.roles, ["user"]);
    assert.equal(a.principal?.provider, "local");
    assert.deepEqual(a.account, { locked: false, lockEndsAt: null, failures: 0, enabled: true });
    assert.equal(a.steps[0]!.stage, "rules");
  });

  it("--json for a rule names its index, source, paths and policy", () => {
    const a = explainJson(["--user", "stella", "GET", "/team/x"]);
    assert.equal(a.decision, "proxy");
    assert.deepEqual(a.rule, { index: 3, source: "config", paths: ["/team/**"], policy: "authenticated" });
  });

  it("prints decision 400 for a path a request would be refused for", () => {
    const r = explain(["GET", "/%2fadmin/x"]);
    assert.equal(r.stdout.split("\n")[0], "decision: 400");
    const a = explainJson(["GET", "/%2fadmin/x"]);
    assert.equal(a.decision, "400");
    assert.equal(a.rule, null);
    assert.deepEqual(a.steps.map((s) => [s.stage, s.outcome]), [["path", "refused"]]);
  });

  it("gives 403 for an admin path as a normal --user, proxy as an admin, the login page for nobody", () => {
    assert.equal(explain(["--user", "ursula", "GET", "/admin/x"]).stdout.split("\n")[0], "decision: 403");
    const refused = explainJson(["--user", "ursula", "GET", "/admin/x"]);
    assert.equal(refused.decision, "403");
    assert.equal(refused.rule?.index, 1);
    assert.ok(refused.steps.some((s) => s.stage === "role" && s.outcome === "refused"), JSON.stringify(refused.steps));
    assert.equal(explainJson(["--user", "boss", "GET", "/admin/x"]).decision, "proxy");
    assert.equal(explainJson(["--agent", FIREFOX, "GET", "/admin/x"]).decision, "redirect-to-login");
  });

  it("tells a script from a browser on a data path without credentials: 401 and the login page", () => {
    assert.equal(explainJson(["--agent", "curl/8.5", "GET", "/data/x"]).decision, "401");
    assert.equal(explainJson(["GET", "/data/x"]).decision, "401");
    assert.equal(explainJson(["--agent", FIREFOX, "GET", "/data/x"]).decision, "redirect-to-login");
  });

  it("refuses every user on a deny path, and the groups rule to those outside the group", () => {
    assert.equal(explainJson(["--user", "boss", "GET", "/private/x"]).decision, "403");
    assert.equal(explainJson(["--user", "ursula", "GET", "/team/x"]).decision, "403");
  });

  it("judges a disabled user (users disable) as nobody, and an unknown user likewise", () => {
    const disabled = explainJson(["--user", "dora", "--agent", "curl/8.5", "GET", "/data/x"]);
    assert.equal(disabled.decision, "401");
    assert.equal(disabled.principal, null);
    assert.equal(disabled.account?.enabled, false);
    assert.ok(disabled.steps.some((s) => s.stage === "identity" && s.outcome === "disabled"), JSON.stringify(disabled.steps));
    const unknown = explainJson(["--user", "nobody-here", "--agent", "curl/8.5", "GET", "/data/x"]);
    assert.equal(unknown.decision, "401");
    assert.equal(unknown.account, null);
    assert.ok(unknown.steps.some((s) => s.stage === "identity" && s.outcome === "unknown-user"), JSON.stringify(unknown.steps));
  });

  it("answers 'gateway' for the gateway's own paths", () => {
    assert.equal(explain(["GET", "/gateway/login"]).stdout.split("\n")[0], "decision: gateway");
  });

  it("leaves no lock on the embedded store, and changes no account", () => {
    assert.equal(fs.existsSync(lockFile), false, "store.json.lock left behind");
    const before = fs.readFileSync(path.join(data, "store.json"), "utf8");
    explain(["--user", "ursula", "POST", "/admin/x"]);
    assert.equal(fs.existsSync(lockFile), false, "store.json.lock left behind");
    assert.equal(fs.readFileSync(path.join(data, "store.json"), "utf8"), before, "explain wrote to the store");
  });
});

describe("portcullis explain on a Redis a gateway shares: the admin route's answer", () => {
  let redis: TestRedis;
  let upstream: TestUpstream;
  let gw: TestGateway;
  const dir = tempDir("portcullis-explain-redis-");
  const config = path.join(dir, "portcullis.yaml");
  const settings = () => ({ store: { redis: redis.url }, access: ACCESS, site: { maxFailedLogins: 3 } });

  before(async () => {
    redis = await startTestRedis();
    upstream = await startTestUpstream();
    gw = await startTestGateway({ upstream: { url: upstream.url }, ...settings() });
    fs.writeFileSync(config, JSON.stringify(settings(), null, 2));
    await gw.gateway.accounts.add({ name: "ursula", password: pw("ursula"), roles: ["user"] });
    await gw.gateway.accounts.add({ name: "lars", password: pw("lars"), roles: ["user", "staff"] });
    for (let i = 0; i < 3; i++) assert.equal((await tryLogin(gw, "lars", `wrong-${i}`)).res.status, 401);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
    await redis?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cases: { method: string; path: string; user?: string; agent?: string }[] = [
    { method: "GET", path: "/admin/x", user: "ursula" },
    { method: "GET", path: "/team/x", user: "lars", agent: "curl/8.5" },
    { method: "GET", path: "/data/x", agent: FIREFOX },
    { method: "POST", path: "/public/../private/x" },
    { method: "GET", path: "/%2fadmin/x" },
  ];
  for (const c of cases) {
    it(`${c.method} ${c.path} ${c.user ?? "anonymous"}: the CLI's --json equals GET /gateway/admin/explain`, async () => {
      const args = ["explain", "--json", ...(c.user ? ["--user", c.user] : []), ...(c.agent ? ["--agent", c.agent] : []), "-c", config, c.method, c.path];
      const r = runCli(args, { cwd: dir });
      assert.equal(r.status, 0, show(r));
      const fromCli = JSON.parse(r.stdout) as Explanation;
      assertShape(fromCli);
      const q = new URLSearchParams({ method: c.method, path: c.path, ...(c.user ? { user: c.user } : {}), ...(c.agent ? { agent: c.agent } : {}) });
      const res = await gw.https(`/gateway/admin/explain?${q}`, { headers: { ...API, authorization: basic("admin", "admin-password-1") } });
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(fromCli, res.json());
    });
  }

  it("reports the lock the gateway recorded: locked, its end, the failures", () => {
    const r = runCli(["explain", "--json", "--user", "lars", "-c", config, "GET", "/team/x"], { cwd: dir });
    assert.equal(r.status, 0, show(r));
    const a = JSON.parse(r.stdout) as Explanation;
    assert.equal(a.account?.locked, true);
    assert.equal(a.account?.failures, 3);
    assert.equal(a.account?.enabled, true);
    assert.ok(a.account?.lockEndsAt !== null && Date.parse(a.account!.lockEndsAt) > Date.now(), `lockEndsAt: ${a.account?.lockEndsAt}`);
    const human = runCli(["explain", "--user", "lars", "-c", config, "GET", "/team/x"], { cwd: dir });
    assert.equal(human.status, 0, show(human));
    assert.match(human.stdout, /^account: enabled, locked until \S+, 3 failed logins$/m);
  });
});
