/** Admin-written patterns: linear time on RE2, lookaround on V8 under a budget, syntax errors named. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import { describe, it } from "node:test";
import { compilePattern, patternProblem, PatternSyntaxError, V8_MATCH_BUDGET_MS } from "../../src/config/pattern.js";
import { compileSite } from "../../src/config/site.js";
import { validate } from "../../src/config/load.js";

/** CPU time (user + system) spent by `fn`, in milliseconds. */
function cpuMs(fn: () => void): number {
  const before = process.cpuUsage();
  fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

const TEN_KB_OF_A = "a".repeat(10_000) + "!";

describe("admin-written patterns", () => {
  it("runs a nested quantifier on RE2, which answers a 10 kB hostile input in linear time", () => {
    for (const mode of ["whole", "search"] as const) {
      const p = compilePattern("(a+)+$", { mode });
      assert.equal(p.engine, "re2");
      let answer = true;
      const spent = cpuMs(() => (answer = p.test(TEN_KB_OF_A)));
      assert.equal(answer, false);
      assert.ok(spent < 50, `(a+)+$ in ${mode} mode cost ${spent} ms of CPU`);
    }
  });

  it("runs lookaround on V8 under a budget: a catastrophic lookahead costs under 50 ms of CPU and is no match", () => {
    const reports: string[] = [];
    const p = compilePattern("^(?=(a+)+$)a", { mode: "search", onOverBudget: (source) => reports.push(source) });
    assert.equal(p.engine, "v8");
    let answer = true;
    const spent = cpuMs(() => (answer = p.test(TEN_KB_OF_A)));
    assert.equal(answer, false);
    assert.ok(spent < 50, `the lookahead cost ${spent} ms of CPU (budget ${V8_MATCH_BUDGET_MS} ms of wall time)`);
    p.test(TEN_KB_OF_A);
    assert.deepEqual(reports, ["^(?=(a+)+$)a"], "reported once per pattern, not per match");
  });

  it("tells a match cut short by the budget apart through match(), and answers test() the same otherwise", () => {
    const p = compilePattern("^(?=(a+)+$)a", { mode: "search", memo: true, onOverBudget: () => {} });
    assert.equal(p.match(TEN_KB_OF_A), "over-budget");
    assert.equal(p.match(TEN_KB_OF_A), "over-budget", "an over-budget answer is not remembered as no match");
    assert.equal(p.test(TEN_KB_OF_A), false);
    assert.equal(p.match("aaa"), true);
    assert.equal(p.match("b"), false);
    const re2 = compilePattern("^10\\.", { mode: "search" });
    assert.equal(re2.match("10.0.0.1"), true);
    assert.equal(re2.match("192.0.2.1"), false);
  });

  it("does not take a match the scheduler kept off the CPU for one over budget: a process stopped mid-match still gets the pattern's answer", async () => {
    // A child matches a ~2 ms lookahead in a loop while this process stops it (SIGSTOP) for twice the
    // budget, five times: each stop makes V8 interrupt the match in progress with little CPU spent.
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", `
      import { compilePattern } from ${JSON.stringify(new URL("../../src/config/pattern.ts", import.meta.url).pathname)};
      const p = compilePattern("^(?=(a+)+$)a", { mode: "search", onOverBudget: () => {} });
      const input = "a".repeat(17) + "!";
      const counts = { false: 0, true: 0, "over-budget": 0 };
      let open = true;
      process.stdin.on("end", () => { open = false; }).resume();
      process.stdout.write("ready\\n");
      const loop = () => {
        const until = Date.now() + 50;
        while (Date.now() < until) counts[String(p.match(input))]++;
        if (open) setImmediate(loop); else process.stdout.write(JSON.stringify(counts) + "\\n");
      };
      loop();
    `], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    while (!out.includes("ready")) await once(child.stdout, "data");
    for (let i = 0; i < 5; i++) {
      await delay(120);
      child.kill("SIGSTOP");
      await delay(V8_MATCH_BUDGET_MS * 2);
      child.kill("SIGCONT");
    }
    child.stdin.end();
    await once(child, "exit");
    const counts = JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, number>;
    assert.ok(counts.false! > 100, `the child matched ${counts.false} times`);
    assert.deepEqual({ true: counts.true, overBudget: counts["over-budget"] }, { true: 0, overBudget: 0 });
  });

  it("runs an RE2 pattern whose program is huge under the budget too: 20,000 instructions against 15 kB cost under 50 ms of CPU", () => {
    const reports: string[] = [];
    const source = "[a-z]{1,1000}".repeat(10) + "!x";
    const p = compilePattern(source, { mode: "whole", onOverBudget: (s) => reports.push(s) });
    assert.equal(p.engine, "re2");
    const hostile = "a".repeat(15_000);
    let answer = true;
    const spent = cpuMs(() => (answer = p.test(hostile)));
    assert.equal(answer, false);
    assert.ok(spent < 50, `cost ${spent} ms of CPU`);
    assert.deepEqual(reports, [source]);
  });

  it("keeps XNAT's lookahead password rules working", () => {
    const p = compilePattern("^(?=.*[A-Z])(?=.*\\d).{10,}$", { mode: "whole" });
    assert.equal(p.engine, "v8");
    assert.equal(p.test("Abcdefgh12"), true);
    assert.equal(p.test("abcdefgh12"), false, "no capital");
    assert.equal(p.test("Abcdefghij"), false, "no digit");
    assert.equal(p.test("Abc12"), false, "too short");
  });

  it("matches the whole value in whole mode and anywhere in search mode, on both engines", () => {
    const re2Whole = compilePattern("b+", { mode: "whole" });
    const re2Search = compilePattern("b+", { mode: "search" });
    assert.equal(re2Whole.test("abba"), false);
    assert.equal(re2Whole.test("bb"), true);
    assert.equal(re2Search.test("abba"), true);
    assert.equal(re2Search.test("aaa"), false);
    const v8Whole = compilePattern("(b)\\1", { mode: "whole" });
    const v8Search = compilePattern("(b)\\1", { mode: "search" });
    assert.equal(v8Whole.engine, "v8");
    assert.equal(v8Whole.test("abba"), false);
    assert.equal(v8Whole.test("bb"), true);
    assert.equal(v8Search.test("abba"), true);
    assert.equal(v8Search.test("abab"), false);
  });

  it("lets . match line breaks, as the patterns did before (a User-Agent cannot hide behind a newline)", () => {
    assert.equal(compilePattern(".*Mozilla.*", { mode: "whole" }).test("x\nMozilla/5.0"), true);
    assert.equal(compilePattern("(?=.*Z).*Mozilla.*", { mode: "whole" }).test("Z\nMozilla/5.0"), true);
  });

  it("reads RE2 syntax that V8 would misread, as Java does (inline flags)", () => {
    assert.equal(compilePattern("(?i)mozilla.*", { mode: "whole" }).test("Mozilla/5.0"), true);
    assert.equal(patternProblem("(?i)abc"), null);
  });

  it("remembers V8 answers by input only when asked to, and still answers right after the memo fills", () => {
    const p = compilePattern("(?=.*Gecko).*", { mode: "whole", memo: true });
    for (let i = 0; i < 600; i++) assert.equal(p.test(`Agent ${i} Gecko`), true);
    assert.equal(p.test("Agent 1 Gecko"), true);
    assert.equal(p.test("curl/8.5"), false);
  });

  it("names a syntax error that neither engine accepts", () => {
    assert.match(patternProblem("([") ?? "", /./);
    assert.equal(patternProblem("(a)\\1"), null, "a backreference compiles on V8");
    assert.throws(() => compilePattern("([", { mode: "whole" }), (err: unknown) => err instanceof PatternSyntaxError && err.code === "ERR_PATTERN_SYNTAX");
  });

  it("refuses a broken pattern at config load under every admin-pattern key", () => {
    assert.throws(
      () =>
        validate(
          {
            site: { interactiveAgentIds: [".*Mozilla.*", "(*"], passwordComplexity: "([", ipsThatCanSendEmailsThroughRest: "[" },
            access: { rules: [{ paths: ["/x/**"], ipRegex: "(" }] },
          },
          {},
        ),
      (err: unknown) => {
        const text = String((err as Error).message) + JSON.stringify((err as { problems?: unknown }).problems ?? "");
        for (const key of ["site.interactiveAgentIds[1]", "site.passwordComplexity", "site.ipsThatCanSendEmailsThroughRest", "access.rules[0].ipRegex"]) {
          assert.ok(text.includes(key), `${key} is named in ${text}`);
        }
        return true;
      },
    );
  });

  it("compiles the site's patterns so a hostile User-Agent against (a+)+$ costs no time", () => {
    const config = validate({ site: { interactiveAgentIds: ["(a+)+$"], passwordComplexity: "^(?=(a+)+$)a.*" } }, {});
    const site = compileSite(config.site, () => undefined);
    const spent = cpuMs(() => {
      assert.equal(site.interactiveAgents[0]!.test("a".repeat(30) + "!"), false);
      assert.equal(site.passwordComplexity.test(TEN_KB_OF_A), false);
    });
    assert.ok(spent < 100, `cost ${spent} ms of CPU`);
    assert.equal(site.mailSenders.test("10.1.2.3"), true, "the default ^.*$ lets every address send");
  });
});
