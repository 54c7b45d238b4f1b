/** `portcullis ldap test [--user NAME]`: checks each step of an LDAP login and explains what fails. */
import type { Command } from "commander";
import { createLogger } from "../log/logger.js";
import { diagnoseLdap } from "../ldap/diagnose.js";
import { loadConfigOrExit } from "./load-config.js";

export function registerLdap(program: Command): void {
  const ldap = program.command("ldap").description("the LDAP directory");
  ldap
    .command("test")
    .description("connect with the configured TLS settings, bind the service account, look a user up and list their groups")
    .option("-c, --config <file>", "configuration file")
    .option("--user <name>", "a user name to look up (no password is needed or sent)")
    .action(async (opts: { config?: string; user?: string }) => {
      const { config } = loadConfigOrExit(opts.config);
      const log = createLogger({ level: "silent" });
      const steps = await diagnoseLdap(config, { user: opts.user, cwd: process.cwd(), log });
      for (const s of steps) {
        const [first, ...rest] = s.detail.split("\n");
        console.log(`${s.ok ? "ok  " : "FAIL"} ${s.step}: ${first}`);
        for (const line of rest) console.log(`     ${line}`);
      }
      const failed = steps.some((s) => !s.ok);
      console.log(failed ? "\nLDAP logins will not work until the step marked FAIL is fixed." : `\nLDAP looks usable${opts.user ? "" : " (add --user NAME to look a user up)"}.`);
      process.exitCode = failed ? 1 : 0;
    });
}
