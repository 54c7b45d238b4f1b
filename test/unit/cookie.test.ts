import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readCookie, splitCookie, withoutCookie } from "../../src/sessions/cookie.js";
import type http from "node:http";

const NAME = "portcullis_session";
const req = (cookie: string | undefined) => ({ headers: { cookie } }) as unknown as http.IncomingMessage;

describe("splitCookie", () => {
  const cases: [string | undefined, string | null, string | undefined][] = [
    [undefined, null, undefined],
    ["", null, undefined],
    [`${NAME}=abc`, "abc", undefined],
    [`a=1; ${NAME}=abc; b=2`, "abc", "a=1; b=2"],
    [`a=1;${NAME}=abc;b=2`, "abc", "a=1; b=2"],
    ["a=1; b=2", null, "a=1; b=2"],
    // Sent twice (a cookie-tossing attempt from a sibling domain): neither is trusted, both removed.
    [`${NAME}=one; ${NAME}=two`, null, undefined],
    [`${NAME}=same; x=1; ${NAME}=same`, null, "x=1"],
    // A name alone, or a longer name that starts with ours, is not our cookie.
    [`${NAME}; x=1`, null, "x=1"],
    [`${NAME}x=evil; y=2`, null, `${NAME}x=evil; y=2`],
    [`x${NAME}=evil`, null, `x${NAME}=evil`],
    [`  ${NAME} =  spaced  ; ;; z=3 `, "spaced", "z=3"],
    [`${NAME}=`, "", undefined],
    [`${NAME}=a=b`, "a=b", undefined],
  ];
  for (const [header, value, rest] of cases) {
    it(`${JSON.stringify(header)} → value ${JSON.stringify(value)}, rest ${JSON.stringify(rest)}`, () => {
      assert.deepEqual(splitCookie(header, NAME), { value, rest });
      assert.equal(readCookie(req(header), NAME), value);
      if (header !== undefined) assert.equal(withoutCookie(header, NAME), rest);
    });
  }

  it("reads a header without ';' (the shortcut) as the general loop reads it with a ';' added", () => {
    const single = ["   ", `${NAME}=abc`, ` ${NAME} = v `, NAME, `${NAME}=`, `${NAME}=a=b`, `${NAME}x=evil`, `x${NAME}=1`, "other=1", " other ", "=v"];
    for (const header of single) assert.deepEqual(splitCookie(header, NAME), splitCookie(`${header};`, NAME), JSON.stringify(header));
  });
});
