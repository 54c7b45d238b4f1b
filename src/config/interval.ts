/**
 * Parses PostgreSQL interval input ("15 minutes", "1 day 2 hours", "5 weeks", "1 year", "01:30:00")
 * into milliseconds. `postgres-interval` reads PostgreSQL's *output* format and silently misreads
 * these, hence this parser (SPEC §2).
 *
 * Months and years follow PostgreSQL's epoch conversion: 1 month = 30 days, 1 year = 365.25 days.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const UNITS: ReadonlyMap<string, number> = new Map(
  (
    [
      [["microsecond", "microseconds", "us", "usec", "usecs"], 0.001],
      [["millisecond", "milliseconds", "ms", "msec", "msecs"], 1],
      [["second", "seconds", "s", "sec", "secs"], SECOND],
      [["minute", "minutes", "m", "min", "mins"], MINUTE],
      [["hour", "hours", "h", "hr", "hrs"], HOUR],
      [["day", "days", "d"], DAY],
      [["week", "weeks", "w"], 7 * DAY],
      [["month", "months", "mon", "mons"], 30 * DAY],
      [["year", "years", "y", "yr", "yrs"], 365.25 * DAY],
      [["decade", "decades"], 3652.5 * DAY],
      [["century", "centuries"], 36525 * DAY],
      [["millennium", "millennia", "millenniums"], 365250 * DAY],
    ] as const
  ).flatMap(([names, ms]) => names.map((n) => [n, ms] as const)),
);

export class IntervalSyntaxError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`"${input}" is not an interval (${reason}); write it like "15 minutes", "1 day 2 hours" or "01:30:00"`);
    this.name = "IntervalSyntaxError";
  }
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const CLOCK = /^([+-])?(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d+)?))?$/;

/** Returns the interval in milliseconds; throws IntervalSyntaxError on anything it does not understand. */
export function parseInterval(input: string): number {
  const text = input.trim().toLowerCase().replace(/^@\s*/, "");
  if (text === "") throw new IntervalSyntaxError(input, "it is empty");
  // PostgreSQL accepts a bare number as seconds.
  if (NUMBER.test(text)) return finite(input, Number(text) * SECOND);

  const tokens = text.split(/[\s,]+/).filter(Boolean);
  let total = 0;
  let sawPart = false;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const clock = CLOCK.exec(token);
    if (clock) {
      const sign = clock[1] === "-" ? -1 : 1;
      const [h, m, s] = [Number(clock[2]), Number(clock[3]), Number(clock[4] ?? 0)];
      if (m >= 60 || s >= 60) throw new IntervalSyntaxError(input, `"${token}" has minutes or seconds of 60 or more`);
      total += sign * (h * HOUR + m * MINUTE + s * SECOND);
      sawPart = true;
      continue;
    }
    // "15minutes" or "15 minutes"
    const glued = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([a-z]+)$/.exec(token);
    let amount: string;
    let unit: string | undefined;
    if (glued) {
      amount = glued[1]!;
      unit = glued[2];
    } else if (NUMBER.test(token)) {
      amount = token;
      unit = tokens[++i];
      if (unit === undefined) throw new IntervalSyntaxError(input, `"${token}" has no unit`);
    } else {
      throw new IntervalSyntaxError(input, `"${token}" is not a number`);
    }
    const ms = UNITS.get(unit!);
    if (ms === undefined) throw new IntervalSyntaxError(input, `"${unit}" is not a unit`);
    total += Number(amount) * ms;
    sawPart = true;
  }
  if (!sawPart) throw new IntervalSyntaxError(input, "it has no amount");
  return finite(input, total);
}

function finite(input: string, ms: number): number {
  if (!Number.isFinite(ms) || Math.abs(ms) > Number.MAX_SAFE_INTEGER) throw new IntervalSyntaxError(input, "it is too large");
  return Math.round(ms);
}

/** Formats milliseconds back into interval notation, largest units first ("1 day 2 hours"). */
export function formatInterval(ms: number): string {
  if (ms === 0) return "0 seconds";
  const parts: string[] = [];
  let rest = Math.abs(ms);
  for (const [name, size] of [
    ["day", DAY],
    ["hour", HOUR],
    ["minute", MINUTE],
    ["second", SECOND],
    ["millisecond", 1],
  ] as const) {
    const n = Math.floor(rest / size);
    // PostgreSQL signs each field, so a negative interval is written with every part negative.
    if (n > 0) parts.push(`${ms < 0 ? "-" : ""}${n} ${name}${n === 1 ? "" : "s"}`);
    rest -= n * size;
  }
  return parts.join(" ");
}
