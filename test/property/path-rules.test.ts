/**
 * Property: whatever the spelling of a path (encoded slashes and dots, dot segments, Tomcat
 * parameters, encoded percent signs, case), the gateway either refuses it with 400 or judges it by
 * the rules its decoded, normalised readings meet, as an independent reference computes them.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import picomatch from "picomatch";
import { validate } from "../../src/config/load.js";
import { GatewayError } from "../../src/errors.js";
import { normaliseTarget, type NormalisedTarget } from "../../src/pipeline/path.js";
import { compileRules, type Policy } from "../../src/policy/access-rules.js";

const RULES = [
  { paths: ["/public/**"], policy: "bypass" },
  { paths: ["/admin/**"], policy: "admin" },
  { paths: ["/internal/**"], policy: "deny" },
  // One name below /x: only a reading that keeps an encoded slash inside a name meets it for /x/a%2Fb.
  { paths: ["/x/*"], policy: "authenticated" },
] as const;
// The laxest default, so that a path stepping around a rule would show.
const DEFAULT: Policy = "bypass";
const STRICTNESS: Record<Policy, number> = { bypass: 0, authenticated: 1, admin: 2, deny: 3 };

type Reference = { refused: true } | { refused: false; path: string; readings: Set<string> };
const REFUSED: Reference = { refused: true };

/**
 * The reference reading of a raw path, written apart from src/pipeline/path.ts:
 * - refused when it holds "\", "%5c" or "#"; when decoding it once fails, or gives a control
 *   character or an escape ("%252f" is "%2f" once decoded, "/" to an upstream that decodes twice);
 * - otherwise cut into names at "/" and at "%2F" in either case, each name decoded once;
 * - refused when a name next to an encoded slash is empty, "." or "..", or any name is a dot
 *   segment with a parameter (".;x", "..;x");
 * - normalised: empty and "." names dropped, ".." drops the name before it (never above the root),
 *   a path ending in an empty or dot name keeps a final "/";
 * - read four ways, as upstreams read it: encoded slashes as separators or kept in the name (shown
 *   as "%2F"), each with ";parameters" kept or, as Tomcat does, dropped from the ";" to the next real
 *   "/" (the names an encoded slash separates belong to one real segment). The generator never
 *   makes "%3B", so a decoded ";" is one that was sent as ";".
 */
function reference(rawPath: string): Reference {
  if (/[\\#]|%5c/i.test(rawPath)) return REFUSED;
  let once: string;
  try {
    once = decodeURIComponent(rawPath);
  } catch {
    return REFUSED;
  }
  if (/[\u0000-\u001f\u007f]/.test(once) || /%[0-9a-f]{2}/i.test(once)) return REFUSED;

  // [name, separator, name, separator, …, name]
  const tokens = rawPath.slice(1).split(/(\/|%2f)/i);
  const encoded = (sep: string | undefined) => sep !== undefined && sep !== "/";
  const names: { text: string; startsSegment: boolean }[] = [];
  let trailingSlash = false;
  for (let i = 0; i < tokens.length; i += 2) {
    const text = decodeURIComponent(tokens[i]!);
    const before = i === 0 ? "/" : tokens[i - 1];
    const after = tokens[i + 1];
    const isDot = text === "" || text === "." || text === "..";
    if (isDot && (encoded(before) || encoded(after))) return REFUSED;
    if (/^\.\.?;/.test(text)) return REFUSED;
    trailingSlash = isDot && i === tokens.length - 1;
    if (text === "..") names.pop();
    if (!isDot) names.push({ text, startsSegment: !encoded(before) });
  }
  const finish = (parts: string[], trailing: boolean) => (parts.length === 0 ? "/" : `/${parts.join("/")}${trailing ? "/" : ""}`);

  // Real segments, each the list of names that encoded slashes separate in it.
  const segments: string[][] = [];
  for (const n of names) {
    if (n.startsSegment || segments.length === 0) segments.push([n.text]);
    else segments.at(-1)!.push(n.text);
  }
  const read = (dropParams: boolean, splitEncoded: boolean): string => {
    const parts: string[] = [];
    let trailing = trailingSlash;
    segments.forEach((seg, k) => {
      let text = seg.join(splitEncoded ? "/" : "%2F");
      if (dropParams) text = text.replace(/;.*$/s, "");
      const pieces = splitEncoded ? text.split("/") : [text];
      parts.push(...pieces.filter((p) => p !== ""));
      if (k === segments.length - 1) trailing ||= pieces.at(-1) === "";
    });
    return finish(parts, trailing);
  };
  const path = finish(names.map((n) => n.text), trailingSlash);
  return { refused: false, path, readings: new Set([path, read(false, false), read(true, true), read(true, false)]) };
}

/** The policy the reference readings call for, and the rules that may be named for it. */
function expected(readings: Set<string>, nocase: boolean): { policy: Policy; rules: Set<number | "default"> } {
  const matchers = RULES.map((r) => picomatch([...r.paths], { dot: true, nocase }));
  const found = [...readings].map((p) => {
    const i = matchers.findIndex((m) => m(p));
    return i === -1 ? { policy: DEFAULT, rule: "default" as const } : { policy: RULES[i]!.policy as Policy, rule: i };
  });
  const policy = found.reduce<Policy>((a, f) => (STRICTNESS[f.policy] > STRICTNESS[a] ? f.policy : a), "bypass");
  return { policy, rules: new Set(found.filter((f) => f.policy === policy).map((f) => f.rule)) };
}

function attempt(target: string): NormalisedTarget | GatewayError {
  try {
    return normaliseTarget(target);
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

/** The rules' names, their case variants, the tails "%61" and "%49" complete, and random safe words (hex digits among them, for "%25"). */
const word = fc.oneof(
  { arbitrary: fc.constantFrom("admin", "internal", "public", "x"), weight: 4 },
  { arbitrary: fc.constantFrom("ADMIN", "Admin", "aDmIn", "Internal", "PUBLIC", "X", "dmin", "nternal"), weight: 2 },
  { arbitrary: fc.string({ unit: fc.constantFrom(..."abcdefx0123456789"), minLength: 1, maxLength: 4 }), weight: 1 },
);
const dot = fc.constantFrom(".", "..", "%2e", "%2E", "%2e%2e", "%2E%2E", ".%2e", "%2E.");
const param = fc.constantFrom(";", ";x=1", ";jsessionid=A1");
const escape = fc.constantFrom("%25", "%61", "%41", "%49", "%2e");
const encodedSlash = fc.constantFrom("%2f", "%2F");
const slash = fc.oneof({ arbitrary: fc.constant("/"), weight: 5 }, { arbitrary: encodedSlash, weight: 2 });
const token = fc.oneof({ arbitrary: word, weight: 4 }, { arbitrary: dot, weight: 2 }, { arbitrary: param, weight: 1 }, { arbitrary: escape, weight: 1 }, { arbitrary: slash, weight: 2 });
const join = (parts: string[]) => parts.join("");
/** One segment: mostly a name, else a dot segment, a name with a parameter, an escape before a name, or any few tokens. */
const segment = fc.oneof(
  { arbitrary: word, weight: 6 },
  { arbitrary: dot, weight: 2 },
  { arbitrary: fc.tuple(word, param).map(join), weight: 2 },
  { arbitrary: param, weight: 1 },
  { arbitrary: fc.tuple(escape, word).map(join), weight: 1 },
  { arbitrary: fc.array(token, { minLength: 1, maxLength: 3 }).map(join), weight: 2 },
);

/** Paths of segments, and (less often) paths of tokens strung together anyhow. */
const rawPath = fc.oneof(
  {
    arbitrary: fc.array(fc.tuple(slash, segment), { minLength: 1, maxLength: 6 }).map((segs) => "/" + segs.map(([sep, seg], i) => (i === 0 ? "" : sep) + seg).join("")),
    weight: 4,
  },
  { arbitrary: fc.array(token, { maxLength: 12 }).map((toks) => `/${toks.join("")}`), weight: 1 },
);

function check(nocase: boolean, runs: number): void {
  const rules = compileRules(validate({ access: { defaultPolicy: DEFAULT, caseInsensitivePaths: nocase, rules: RULES } }).access);
  fc.assert(
    fc.property(rawPath, (raw) => {
      const got = attempt(raw);
      const ref = reference(raw);
      if (ref.refused) {
        assert.ok(got instanceof GatewayError, `expected 400 for ${raw}, got ${JSON.stringify(got)}`);
        assert.equal(got.code, "ERR_BAD_PATH");
        assert.equal(got.status, 400);
        return;
      }
      assert.ok(!(got instanceof GatewayError), `${raw} was refused; the reference reads it as ${ref.path}`);
      assert.equal(got.path, ref.path, raw);
      assert.deepEqual(new Set([got.path, ...(got.otherReadings ?? [])]), ref.readings, raw);
      const decision = rules.decide(got.path, got.otherReadings, "GET", "192.0.2.1");
      const want = expected(ref.readings, nocase);
      assert.equal(decision.policy, want.policy, `${raw} (${[...ref.readings].join(", ")})`);
      assert.ok(want.rules.has(decision.rule), `${raw}: rule ${decision.rule}, expected one of ${[...want.rules].join(", ")}`);
      // What is forwarded is already normal: the upstream's reading of it is the one judged.
      assert.deepEqual(normaliseTarget(got.forwardPath), { ...got, query: "" }, raw);
      // The shortcut for plain paths agrees with the full reading ("/x/.." in front forces it).
      assert.deepEqual(normaliseTarget(`/x/..${raw}`), got, raw);
    }),
    { numRuns: runs },
  );
}

describe("paths and access rules (property)", () => {
  it("refuses a path with 400 or judges it by every decoded, normalised reading of it (10,000 paths)", () => {
    check(false, 10_000);
  });

  it("does the same when rules ignore case (5,000 paths)", () => {
    check(true, 5_000);
  });

  it("never lets a spelling of /admin, /internal or /x/a%2Fb reach the default policy", () => {
    const rules = compileRules(validate({ access: { defaultPolicy: DEFAULT, rules: RULES } }).access);
    for (const raw of ["/%2fadmin/x", "/%2Finternal/x", "/%2F%2Finternal/x", "/x/%2e%2e/admin", "/public/..;/admin", "/;x/admin/y", "/admin;x=1/y", "/%252fadmin", "/%2561dmin/x", "/x/a%2Fb"]) {
      const got = attempt(raw);
      if (got instanceof GatewayError) continue;
      assert.notEqual(rules.decide(got.path, got.otherReadings, "GET", "192.0.2.1").rule, "default", raw);
    }
  });
});
