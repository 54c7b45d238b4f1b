/**
 * Scheduled sweeps on six-field cron expressions (croner). Each tick runs once across all gateway
 * processes: the first to take the tick's lock in the store runs it. Time comes from the clock; tests
 * call `runDue(now)` after moving it instead of waiting.
 */
import { randomBytes } from "node:crypto";
import { Cron } from "croner";
import type { Clock } from "../clock.js";
import type { Logger } from "../log/logger.js";
import type { Store } from "../store/store.js";

export interface Job {
  name: string;
  /** The cron expression in force now (it may change live). */
  schedule: () => string;
  run(now: number): Promise<void>;
}

export class Scheduler {
  private readonly next = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly owner = randomBytes(8).toString("hex");

  constructor(private readonly jobs: readonly Job[], private readonly store: Store, private readonly clock: Clock, private readonly log: Logger) {}

  private nextRun(job: Job, after: number): number {
    const cron = new Cron(job.schedule(), { paused: true });
    const at = cron.nextRun(new Date(after))?.getTime() ?? Number.POSITIVE_INFINITY;
    cron.stop();
    return at;
  }

  /** Runs every job whose time has come by `now`; returns the names of the jobs this process ran. */
  async runDue(now: number): Promise<string[]> {
    const ran: string[] = [];
    for (const job of this.jobs) {
      const due = this.next.get(job.name) ?? this.nextRun(job, now - 1);
      if (due > now) {
        this.next.set(job.name, due);
        continue;
      }
      this.next.set(job.name, this.nextRun(job, now));
      try {
        if (!(await this.store.tryLock(`job:${job.name}:${due}`, this.owner, 10 * 60_000, now))) continue;
        await job.run(now);
        ran.push(job.name);
      } catch (err) {
        this.log.error({ job: job.name, err: (err as Error).message }, "scheduled job failed");
      }
    }
    return ran;
  }

  /** Starts real timers: wakes at the earliest next run (at least every minute, to follow schedule changes). */
  start(): void {
    const now = this.clock.now();
    for (const job of this.jobs) this.next.set(job.name, this.nextRun(job, now));
    const arm = () => {
      const soonest = Math.min(...this.next.values(), this.clock.now() + 60_000);
      this.timer = setTimeout(async () => {
        await this.runDue(this.clock.now());
        arm();
      }, Math.max(0, soonest - this.clock.now()));
      this.timer.unref();
    };
    arm();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
