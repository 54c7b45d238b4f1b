import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatInterval, IntervalSyntaxError, parseInterval } from "../../src/config/interval.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe("parseInterval", () => {
  const valid: [string, number][] = [
    ["15 minutes", 15 * MINUTE],
    ["1 day", DAY],
    ["2 days", 2 * DAY],
    ["3 hours", 3 * HOUR],
    ["1 hour", HOUR],
    ["60 seconds", 60 * SECOND],
    ["5 weeks", 35 * DAY],
    ["1 year", 365.25 * DAY],
    ["1 month", 30 * DAY],
    ["1 mon", 30 * DAY],
    ["1 day 2 hours", DAY + 2 * HOUR],
    ["1 day, 2 hours", DAY + 2 * HOUR],
    ["01:30:00", HOUR + 30 * MINUTE],
    ["1:30", HOUR + 30 * MINUTE],
    ["00:00:05.5", 5500],
    ["1 day 01:30", DAY + HOUR + 30 * MINUTE],
    ["10 s", 10 * SECOND],
    ["10 sec", 10 * SECOND],
    ["200 ms", 200],
    ["5 min", 5 * MINUTE],
    ["2 h", 2 * HOUR],
    ["3 d", 3 * DAY],
    ["15minutes", 15 * MINUTE],
    ["1.5 hours", 90 * MINUTE],
    ["1 DAY", DAY],
    ["  15 minutes  ", 15 * MINUTE],
    ["@ 1 hour", HOUR],
    ["1500 microseconds", 2], // 1.5 ms, rounded
    ["1 decade", 3652.5 * DAY],
  ];
  for (const [input, ms] of valid) {
    it(`reads ${JSON.stringify(input)} as ${ms} ms`, () => {
      assert.equal(parseInterval(input), ms);
    });
  }

  it("reads a bare number as seconds, as PostgreSQL does", () => {
    assert.equal(parseInterval("5"), 5000);
    assert.equal(parseInterval("0"), 0);
    assert.equal(parseInterval("90"), 90_000);
  });

  it("reads a negative amount as a negative interval", () => {
    assert.equal(parseInterval("-1 hour"), -HOUR);
    assert.equal(parseInterval("-01:00:00"), -HOUR);
  });

  it("rounds a fractional bare number to whole milliseconds like every other form", () => {
    assert.equal(parseInterval("1.2345 seconds"), 1235);
    assert.equal(parseInterval("1.2345"), 1235);
  });

  it("refuses a bare number too large to be a finite interval", () => {
    assert.throws(() => parseInterval("9".repeat(400)), IntervalSyntaxError);
  });

  const garbage: [string, RegExp][] = [
    ["", /it is empty/],
    ["   ", /it is empty/],
    ["15 minutez", /"minutez" is not a unit/],
    ["abc", /"abc" is not a number/],
    ["day", /"day" is not a number/],
    ["1 day banana", /"banana" is not a number/],
    ["1 day 2", /"2" has no unit/],
    ["00:60", /60 or more/],
    ["01:30:60", /60 or more/],
    ["1e3", /"1e3" is not a number/],
  ];
  for (const [input, reason] of garbage) {
    it(`refuses ${JSON.stringify(input)} with an IntervalSyntaxError that quotes it`, () => {
      assert.throws(
        () => parseInterval(input),
        (err: unknown) => {
          assert.ok(err instanceof IntervalSyntaxError);
          assert.equal(err.name, "IntervalSyntaxError");
          assert.equal(err.input, input);
          assert.ok(err.message.startsWith(`${JSON.stringify(input)} is not an interval (`), err.message);
          assert.match(err.message, reason);
          assert.match(err.message, /write it like "15 minutes", "1 day 2 hours" or "01:30:00"$/);
          return true;
        },
      );
    });
  }
});

describe("formatInterval", () => {
  it("writes zero as \"0 seconds\"", () => {
    assert.equal(formatInterval(0), "0 seconds");
  });

  it("writes the largest units first, singular for one", () => {
    assert.equal(formatInterval(1000), "1 second");
    assert.equal(formatInterval(DAY + 2 * HOUR), "1 day 2 hours");
    assert.equal(formatInterval(DAY + HOUR + MINUTE + SECOND + 1), "1 day 1 hour 1 minute 1 second 1 millisecond");
    assert.equal(formatInterval(15 * MINUTE), "15 minutes");
    assert.equal(formatInterval(365.25 * DAY), "365 days 6 hours");
  });

  it("writes a negative single-unit interval with a leading minus", () => {
    assert.equal(formatInterval(-HOUR), "-1 hour");
  });

  it("writes text that parseInterval reads back to the same milliseconds", () => {
    for (const ms of [1, 999, 1000, 15 * MINUTE, DAY + 2 * HOUR, 35 * DAY, 365.25 * DAY, DAY + HOUR + MINUTE + SECOND + 1, -HOUR]) {
      assert.equal(parseInterval(formatInterval(ms)), ms, `round trip of ${ms} via ${JSON.stringify(formatInterval(ms))}`);
    }
  });

  it("writes a negative multi-unit interval that parseInterval reads back to the same milliseconds", () => {
    const ms = -(DAY + 2 * HOUR);
    assert.equal(parseInterval(formatInterval(ms)), ms, `formatted as ${JSON.stringify(formatInterval(ms))}`);
  });
});
