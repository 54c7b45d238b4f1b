/** Validation of the six-field Spring/Quartz cron expressions (with seconds, `?` allowed) used by site schedules. */
import { Cron } from "croner";

/** Returns null when the expression is valid, else a sentence saying what is wrong. */
export function cronProblem(expression: string): string | null {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 6) {
    return `must have six fields (second minute hour day-of-month month day-of-week), got ${fields.length}: "${expression}"`;
  }
  try {
    const job = new Cron(expression, { paused: true });
    const next = job.nextRun();
    job.stop();
    if (next === null) return `"${expression}" never fires`;
    return null;
  } catch (err) {
    return `"${expression}" is not a valid cron expression (${(err as Error).message})`;
  }
}
