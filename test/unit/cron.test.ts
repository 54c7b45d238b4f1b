import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cronProblem } from "../../src/config/cron.js";

describe("cronProblem", () => {
  for (const expr of ["0 0 * * * *", "0 0 1 * * ?", "* * * * * *", "0 */5 * * * ?", "0 0 1 ? * MON", "30 15 10 1 1 *", "  0 0 * * * *  "]) {
    it(`accepts the six-field expression ${JSON.stringify(expr)}`, () => {
      assert.equal(cronProblem(expr), null);
    });
  }

  it("refuses a five-field expression, saying how many fields it found", () => {
    assert.equal(
      cronProblem("0 0 * * *"),
      'must have six fields (second minute hour day-of-month month day-of-week), got 5: "0 0 * * *"',
    );
  });

  it("refuses a seven-field expression", () => {
    assert.equal(
      cronProblem("0 0 * * * * *"),
      'must have six fields (second minute hour day-of-month month day-of-week), got 7: "0 0 * * * * *"',
    );
  });

  it("refuses a single word", () => {
    assert.equal(cronProblem("garbage"), 'must have six fields (second minute hour day-of-month month day-of-week), got 1: "garbage"');
  });

  it("refuses a nickname such as @hourly, which is not six fields", () => {
    assert.match(cronProblem("@hourly") ?? "", /^must have six fields .*got 1/);
  });

  it("refuses six fields with an out-of-range value and quotes the expression", () => {
    const problem = cronProblem("60 0 * * * *");
    assert.ok(problem !== null);
    assert.ok(problem.startsWith('"60 0 * * * *" is not a valid cron expression ('), problem);
    assert.match(problem, /second/);
  });

  it("refuses six fields of nonsense", () => {
    const problem = cronProblem("a b c d e f");
    assert.ok(problem !== null);
    assert.ok(problem.startsWith('"a b c d e f" is not a valid cron expression ('), problem);
  });

  it("refuses an expression that never fires (the 31st of February)", () => {
    assert.equal(cronProblem("0 0 0 31 2 *"), '"0 0 0 31 2 *" never fires');
  });
});
