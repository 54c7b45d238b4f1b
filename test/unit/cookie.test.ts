import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MAX_COOKIE_VALUES, clearedCookie, readCookies, sessionCookie, splitCookie, withoutCookie } from "../../src/sessions/cookie.js";
import type http from "node:http";

const NAME = "portcullis_session";
const req = (cookie: string | undefined) => ({ headers: { cookie } }) as unknown as http.IncomingMessage;

describe("splitCookie", () => {
  const cases: [string | undefined, string[], string | undefined][] = [
    [undefined, [], undefined],
    ["", [], undefined],
    [`${NAME}=abc`, ["abc"], undefined],
    [`a=1; ${NAME}=abc; b=2`, ["abc"], "a=1; b=2"],
    [`a=1;${NAME}=abc;b=2`, ["abc"], "a=1; b=2"],
    ["a=1; b=2", [], "a=1; b=2"],
    // A name alone, or a longer name that starts with ours, is not our cookie.
    [`${NAME}; x=1`, [], "x=1"],
    [`${NAME}x=evil; y=2`, [], `${NAME}x=evil; y=2`],
    [`x${NAME}=evil`, [], `x${NAME}=evil`],
    [`  ${NAME} =  spaced  ; ;; z=3 `, ["spaced"], "z=3"],
    [`${NAME}=`, [""], undefined],
    [`${NAME}=a=b`, ["a=b"], undefined],
  ];
  for (const [header, values, rest] of cases) {
    it(`${JSON.stringify(header)} → values ${JSON.stringify(values)}, rest ${JSON.stringify(rest)}`, () => {
      assert.deepEqual(splitCookie(header, NAME), { values, rest });
      assert.deepEqual(readCookies(req(header), NAME), values);
      if (header !== undefined) assert.equal(withoutCookie(header, NAME), rest);
    });
  }

  it("reads a header without ';' (the shortcut) as the general loop reads it with a ';' added", () => {
    const single = ["   ", `${NAME}=abc`, ` ${NAME} = v `, NAME, `${NAME}=`, `${NAME}=a=b`, `${NAME}x=evil`, `x${NAME}=1`, "other=1", " other ", "=v"];
    for (const header of single) assert.deepEqual(splitCookie(header, NAME), splitCookie(`${header};`, NAME), JSON.stringify(header));
  });

  it("finds the cookie after a first part of any length, so only a header without ';' takes the shortcut", () => {
    for (const first of ["", "a", "ab", "a=", "a=1", "abc=12"]) {
      const header = `${first};${NAME}=abc`;
      assert.deepEqual(splitCookie(header, NAME), { values: ["abc"], rest: first === "" ? undefined : first }, JSON.stringify(header));
    }
  });
});

// Issue #15: a cookie sent twice used to be read as no cookie at all, so the plaintext port revoked
// nothing and a junk cookie tossed in front of the real one logged the user out.
describe("splitCookie with the cookie sent more than once", () => {
  const twice: [string, string, string[], string | undefined][] = [
    ["the same value twice", `${NAME}=A; ${NAME}=A`, ["A"], undefined],
    ["the same value twice, the second spelled with a space before =", `${NAME}=A; ${NAME} =A`, ["A"], undefined],
    ["the same value twice with a space before each =", `${NAME} =A;${NAME}  =  A`, ["A"], undefined],
    ["a junk value tossed in front of the real one", `${NAME}=junk; ${NAME}=REAL`, ["junk", "REAL"], undefined],
    ["an empty value in front of the real one", `${NAME}=; ${NAME}=REAL`, ["", "REAL"], undefined],
    ["two values among other cookies", `${NAME}=one; x=1; ${NAME}=two; y=2`, ["one", "two"], "x=1; y=2"],
    ["the same value around another cookie", `${NAME}=same; x=1; ${NAME}=same`, ["same"], "x=1"],
    ["a name alone between two values", `${NAME}=one; ${NAME}; ${NAME}=two`, ["one", "two"], undefined],
    ["three values, one repeated", `${NAME}=a; ${NAME}=b; ${NAME}=a; ${NAME}=c`, ["a", "b", "c"], undefined],
  ];
  for (const [what, header, values, rest] of twice) {
    it(`reads every distinct value in the order sent and removes them all: ${what}`, () => {
      assert.deepEqual(splitCookie(header, NAME), { values, rest });
      assert.deepEqual(readCookies(req(header), NAME), values);
    });
  }

  it(`reads at most ${MAX_COOKIE_VALUES} distinct values, and still removes every one from what the upstream sees`, () => {
    const many = Array.from({ length: 50 }, (_, i) => `${NAME}=v${i}`).join("; ");
    const { values, rest } = splitCookie(`${many}; keep=1`, NAME);
    assert.deepEqual(values, Array.from({ length: MAX_COOKIE_VALUES }, (_, i) => `v${i}`));
    assert.equal(rest, "keep=1");
  });

  const cookieName = fc.constantFrom(NAME, `${NAME}x`, `x${NAME}`, "other", "a");
  const cookieValue = fc.stringMatching(/^[A-Za-z0-9._=-]{0,12}$/);
  const spaces = fc.constantFrom("", " ", "  ");
  const pair = fc.record({ name: cookieName, value: cookieValue, before: spaces, around: spaces, after: spaces });

  it("finds exactly the values a reference parser finds, first occurrence first, and never leaves one in the rest (fuzzed)", () => {
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 12 }), (pairs) => {
        const header = pairs.map((p) => `${p.before}${p.name}${p.around}=${p.around}${p.value}${p.after}`).join(";");
        const expected: string[] = [];
        for (const p of pairs) if (p.name === NAME && !expected.includes(p.value.trim())) expected.push(p.value.trim());
        const { values, rest } = splitCookie(header, NAME);
        assert.deepEqual(values, expected.slice(0, MAX_COOKIE_VALUES));
        const left = (rest ?? "").split(";").map((c) => c.split("=")[0]!.trim());
        assert.ok(!left.includes(NAME), `${JSON.stringify(header)} left ${JSON.stringify(rest)}`);
        // The other cookies keep their order.
        assert.deepEqual(left.filter((n) => n !== ""), pairs.filter((p) => p.name !== NAME).map((p) => p.name));
      }),
    );
  });
});

describe("sessionCookie and clearedCookie", () => {
  it("writes the session cookie HttpOnly, SameSite=Lax, Path=/ and Secure (SPEC §6.2)", () => {
    assert.equal(sessionCookie("tag.secret", { name: NAME, secure: true }), `${NAME}=tag.secret; Path=/; HttpOnly; SameSite=Lax; Secure`);
  });

  it("leaves Secure out only when asked to (an unlocked session in allow mode, SPEC §5)", () => {
    assert.equal(sessionCookie("v", { name: NAME, secure: false }), `${NAME}=v; Path=/; HttpOnly; SameSite=Lax`);
  });

  it("adds Max-Age when given, 0 included", () => {
    assert.equal(sessionCookie("v", { name: "n", secure: true, maxAge: 3600 }), "n=v; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=3600");
    assert.equal(sessionCookie("v", { name: "n", secure: false, maxAge: 0 }), "n=v; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
  });

  it("clears the cookie with an empty value, the same path and flags, and Max-Age=0", () => {
    assert.equal(clearedCookie(NAME, true), `${NAME}=; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=0`);
    assert.equal(clearedCookie("other", false), "other=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
  });

  it("writes what splitCookie reads back", () => {
    const line = sessionCookie("AbCdEfGhIjKl.secret-value_1", { name: NAME, secure: true });
    assert.deepEqual(splitCookie(line.split(";")[0], NAME).values, ["AbCdEfGhIjKl.secret-value_1"]);
  });
});
