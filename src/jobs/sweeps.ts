/**
 * The sweeps of SPEC §4/§6.4. They only clean up: locks and timeouts are checked when used, so they
 * end on time whatever the schedule (SPEC §12).
 */
import type { Accounts } from "../auth/local/accounts.js";
import type { PasswordResets } from "../auth/local/password-reset.js";
import type { Site } from "../config/site.js";
import type { Regulation } from "../regulation/regulation.js";
import { audit, type Logger } from "../log/logger.js";
import type { Store } from "../store/store.js";
import type { Job } from "./scheduler.js";

export interface SweepDeps {
  store: Store;
  accounts: Accounts;
  site: () => Site;
  log: Logger;
  resets: PasswordResets;
  regulation: Regulation;
}

/** `resetFailedLoginsSchedule`: clears the counters of accounts whose lock has ended; prunes sessions and spent reset links. */
export function resetFailedLoginsJob(d: SweepDeps): Job {
  return {
    name: "resetFailedLogins",
    schedule: () => d.site().raw.resetFailedLoginsSchedule,
    async run(now) {
      const cleared = await d.regulation.clearEndedLocks((await d.accounts.list()).map((u) => u.name), now);
      await d.store.prune(now);
      await d.resets.prune(now);
      if (cleared > 0) d.log.info({ job: "resetFailedLogins", cleared }, "cleared ended locks");
    },
  };
}

/** `inactivityBeforeLockoutSchedule`: disables accounts with no login for `inactivityBeforeLockout`. */
export function inactivityJob(d: SweepDeps): Job {
  return {
    name: "inactivityLockout",
    schedule: () => d.site().raw.inactivityBeforeLockoutSchedule,
    async run(now) {
      const limit = d.site().inactivityBeforeLockoutMs;
      for (const user of await d.accounts.list()) {
        const last = user.lastLoginAt ?? user.createdAt;
        if (user.enabled && last + limit <= now) {
          await d.accounts.setEnabled(user.name, false, "inactive");
          audit(d.log, "account.disabled", { user: user.name, reason: "inactive", lastLoginAt: new Date(last).toISOString() });
        }
      }
    },
  };
}
