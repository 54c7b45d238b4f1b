/**
 * `portcullis explain [--user U] [--ip A] [--agent UA] METHOD PATH` (SPEC §8.3): what the gateway
 * would do with such a request and why, from the config and the store the gateways share (the
 * site-config overrides in force, accounts, locks), by the same decision function as real requests.
 */
import type { Command } from "commander";
import { Accounts } from "../auth/local/accounts.js";
import { LoginService } from "../auth/login.js";
import { systemClock } from "../clock.js";
import { LiveSite } from "../admin/live-site.js";
import { openDirectory } from "../ldap/open-directory.js";
import { createLogger } from "../log/logger.js";
import { compileRules } from "../policy/access-rules.js";
import { explain, type Explanation } from "../policy/explain.js";
import { GuestPrincipal } from "../policy/guest.js";
import { Regulation } from "../regulation/regulation.js";
import { openStore } from "../store/open-store.js";
import { loadConfigOrExit } from "./load-config.js";

interface ExplainOptions {
  config?: string;
  user?: string;
  via: string;
  ip?: string;
  agent?: string;
  json?: boolean;
}

export function registerExplain(program: Command): void {
  program
    .command("explain <method> <path>")
    .description("what the gateway would do with a request, and why, without sending it")
    .option("-c, --config <file>", "configuration file")
    .option("--user <name>", "judge the request as this user, signed in")
    .option("--via <session|basic>", "how the user comes: a session they have (default) or Basic credentials", "session")
    .option("--ip <address>", "the client address (default 127.0.0.1)")
    .option("--agent <user-agent>", "the User-Agent (default none: a script)")
    .option("--json", "print the answer as JSON, as GET /gateway/admin/explain does")
    .action(async (method: string, path: string, opts: ExplainOptions) => {
      if (opts.via !== "session" && opts.via !== "basic") {
        console.error("portcullis: --via is session or basic");
        process.exitCode = 2;
        return;
      }
      const via = opts.via;
      const { config } = loadConfigOrExit(opts.config);
      const log = createLogger({ level: "silent" });
      const store = await openStore(config, log);
      const directory = openDirectory(config, log, process.cwd());
      try {
        const live = new LiveSite({ store, base: config.site, clock: systemClock, log });
        await live.load();
        const site = () => live.current();
        const accounts = new Accounts(store, systemClock);
        const regulation = new Regulation({ store, clock: systemClock, site, ipLimit: config.regulation.maxFailuresPerIp, audit: () => undefined });
        const logins = new LoginService({ regulation, accounts, clock: systemClock, site, log, directory });
        const answer = await explain(
          { method, path, user: opts.user, via, ip: opts.ip, agent: opts.agent },
          {
            rules: compileRules(config.access),
            site,
            guest: new GuestPrincipal({ accounts, clock: systemClock, site, log }),
            prefix: config.paths.prefix,
            caseInsensitivePaths: config.access.caseInsensitivePaths,
            lookup: (user) => logins.lookup(user),
            lockState: (user) => regulation.state(user),
          },
        );
        live.close();
        console.log(opts.json ? JSON.stringify(answer, null, 2) : describe(answer));
      } finally {
        await directory?.close();
        await store.close();
      }
    });
}

/** The answer for a person: the decision first, then why. */
function describe(a: Explanation): string {
  const lines = [`decision: ${a.decision}`, `path: ${a.path}`];
  if (a.decision !== "400" && a.decision !== "gateway") {
    lines.push(`rule: ${a.rule === null ? "none (the default policy)" : `${a.rule.index} (${a.rule.source}: ${a.rule.paths.join(", ")}) ${a.rule.policy}`}`);
  }
  if (a.principal) lines.push(`principal: ${a.principal.user} (${a.principal.provider}; roles: ${a.principal.roles.join(", ") || "none"})`);
  if (a.account) {
    const lock = a.account.locked ? `locked until ${a.account.lockEndsAt}` : "not locked";
    lines.push(`account: ${a.account.enabled ? "enabled" : "disabled"}, ${lock}, ${a.account.failures} failed login${a.account.failures === 1 ? "" : "s"}`);
  }
  lines.push("steps:");
  for (const s of a.steps) lines.push(`  ${s.stage}: ${s.outcome} — ${s.why}`);
  return lines.join("\n");
}
