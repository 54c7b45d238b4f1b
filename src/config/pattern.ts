/**
 * Regular expressions written by an admin (SPEC §2: `interactiveAgentIds`, `passwordComplexity`,
 * `ipsThatCanSendEmailsThroughRest`, rule `ipRegex`). A backtracking engine can spend seconds on one
 * match (`(a+)+$` against thirty `a`s and a `!`), and these patterns meet client-chosen input, so each
 * runs on RE2 (re2js: linear time, no backtracking) whenever RE2 can compile it. RE2's syntax is also
 * the closer one to Java's, which XNAT admins write (`\A`, `\z`, `(?i)`).
 *
 * Lookaround and backreferences (XNAT sites' `^(?=.*[A-Z])(?=.*\d).{10,}$`) do not compile on RE2.
 * Those run on V8 inside a `vm` script with a timeout: V8 interrupts the match when the budget is
 * spent (20 ms). A match over budget counts as no match for `test` (the safer reading for a browser's
 * User-Agent, a mail sender's address, a password's complexity) and is reported once per pattern;
 * `match` tells it apart for access rules, where either reading of an `ipRegex` can be the looser.
 * RE2 programs too large to be cheap (see LARGE_PROGRAM) run under the same budget.
 */
import fs from "node:fs";
import vm from "node:vm";
import { RE2JS } from "re2js";

/** `whole`: the pattern must match the entire input (Java's `matches`); `search`: anywhere in it. */
export type PatternMode = "whole" | "search";

/** A match's answer: `"over-budget"` when the time budget ran out before the engine could tell. */
export type MatchAnswer = boolean | "over-budget";

export interface Pattern {
  readonly source: string;
  readonly engine: "re2" | "v8";
  /** Whether the pattern matches; a match over budget counts as no match. */
  test(input: string): boolean;
  /** The same, telling an answer cut short by the budget apart, for callers where "no match" is not the safer reading. */
  match(input: string): MatchAnswer;
}

export interface PatternOptions {
  mode: PatternMode;
  /** Called once per pattern, the first time a match runs over budget. */
  onOverBudget?: (source: string, budgetMs: number) => void;
  /**
   * Remember up to a few hundred answers of a V8 pattern by input (User-Agents repeat; a V8 match
   * under a timeout costs ~0.1 ms). Never for secrets: the inputs stay in memory.
   */
  memo?: boolean;
}

/** Wall-clock budget of one budgeted match. Legitimate patterns finish in microseconds. */
export const V8_MATCH_BUDGET_MS = 20;
const MEMO_LIMIT = 512;
/** Further tries of a match that timed out while the scheduler kept it off the CPU. */
const DESCHEDULED_RETRIES = 4;

export class PatternSyntaxError extends Error {
  readonly code = "ERR_PATTERN_SYNTAX";
  constructor(readonly source: string, readonly reason: string) {
    super(`is not a valid regular expression (${reason})`);
    this.name = "PatternSyntaxError";
  }
}

/** Why `source` cannot be used as a pattern, or null when one of the two engines compiles it. */
export function patternProblem(source: string): string | null {
  if (re2Of(source) !== null) return null;
  try {
    new RegExp(source);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * RE2 runs in time linear in the input, but also in the size of the compiled program: `[a-z]{1,1000}`
 * ten times is 20,000 instructions, and half a second against a 15 kB header. Programs above this
 * size run under the same time budget as V8 patterns; ordinary patterns have a few dozen.
 */
const LARGE_PROGRAM = 1_000;

export function compilePattern(source: string, options: PatternOptions): Pattern {
  const re2 = re2Of(source);
  if (re2 !== null) {
    const test = options.mode === "whole" ? (input: string) => re2.matches(input) : (input: string) => re2.test(input);
    if (re2.re2().prog.inst.length <= LARGE_PROGRAM) return Object.freeze({ source, engine: "re2" as const, test, match: test });
    return budgeted(source, "re2", test, options);
  }
  let v8: RegExp;
  try {
    // `s`: `.` matches line breaks too, as RE2 is compiled with DOTALL below.
    v8 = options.mode === "whole" ? new RegExp(`^(?:${source})$`, "s") : new RegExp(source, "s");
  } catch (err) {
    throw new PatternSyntaxError(source, (err as Error).message);
  }
  return budgeted(source, "v8", (input) => {
    v8.lastIndex = 0;
    return v8.test(input);
  }, options);
}

function re2Of(source: string): RE2JS | null {
  try {
    return RE2JS.compile(source, RE2JS.DOTALL);
  } catch {
    return null;
  }
}

// One context for every budgeted match: the matcher and input are handed over as globals of it.
const context = vm.createContext(Object.create(null) as Record<string, unknown>);
const script = new vm.Script("m(s)");

/**
 * A matcher that runs inside a `vm` script with a timeout, so V8 interrupts it when the budget is spent.
 * The budget is wall-clock time; a match the scheduler kept off the CPU (a loaded machine) is tried
 * again, a few times, before it counts as over budget, so the answer does not depend on the
 * machine's load. A match that really is slow spends its CPU and is not retried.
 */
function budgeted(source: string, engine: Pattern["engine"], run: (input: string) => boolean, options: PatternOptions): Pattern {
  let reported = false;
  const memo = options.memo ? new Map<string, boolean>() : null;
  /** One try: the pattern's answer, or "timeout" when V8 interrupted it at the budget. */
  const once = (input: string, budgetMs: number): boolean | "timeout" => {
    context.m = run;
    context.s = input;
    try {
      return script.runInContext(context, { timeout: budgetMs }) === true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ERR_SCRIPT_EXECUTION_TIMEOUT") throw err;
      return "timeout";
    } finally {
      context.m = undefined;
      context.s = undefined;
    }
  };
  const timed = (input: string): MatchAnswer => {
    const budgetMs = V8_MATCH_BUDGET_MS;
    const processBefore = processCpuMs();
    for (let tries = 1; ; tries++) {
      const threadBefore = threadCpuMs();
      const answer = once(input, budgetMs);
      if (answer !== "timeout") return answer;
      // A try that timed out having spent little of this thread's CPU was kept off it by the
      // scheduler: the load's doing, not the pattern's, and it is tried again — while all tries
      // together cost the process (the garbage collector's threads included) under half a full
      // budget, so a pattern that really is slow costs at most about one and a half budgets.
      const descheduled = threadCpuMs() - threadBefore < budgetMs / 2;
      if (!descheduled || tries > DESCHEDULED_RETRIES || processCpuMs() - processBefore >= V8_MATCH_BUDGET_MS / 2) break;
    }
    if (!reported) {
      reported = true;
      (options.onOverBudget ?? warnOverBudget)(source, V8_MATCH_BUDGET_MS);
    }
    return "over-budget";
  };
  const match = memo
    ? (input: string): MatchAnswer => {
        const known = memo.get(input);
        if (known !== undefined) return known;
        const answer = timed(input);
        // An answer cut short by the budget is not the pattern's: not remembered.
        if (answer === "over-budget") return answer;
        if (memo.size >= MEMO_LIMIT) memo.clear();
        memo.set(input, answer);
        return answer;
      }
    : timed;
  return Object.freeze({ source, engine, match, test: (input: string) => match(input) === true });
}

/** CPU time of the process in ms: this thread's, and the garbage collector's and thread pool's beside it. */
function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

const SCHEDSTAT = "/proc/thread-self/schedstat";
const hasSchedstat = fs.existsSync(SCHEDSTAT);

/** CPU time of this thread in ms (Linux's schedstat: nanoseconds on the CPU); the process's elsewhere. */
function threadCpuMs(): number {
  return hasSchedstat ? Number(fs.readFileSync(SCHEDSTAT, "latin1").split(" ", 1)[0]) / 1e6 : processCpuMs();
}

function warnOverBudget(source: string, budgetMs: number): void {
  process.emitWarning(`the pattern ${JSON.stringify(source)} ran over its ${budgetMs} ms budget and was taken as no match`, { code: "PORTCULLIS_PATTERN_BUDGET" });
}
