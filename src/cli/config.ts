/** `portcullis config validate|get|set` (SPEC §3). */
import type { Command } from "commander";
import { ConfigError } from "../errors.js";
import { DEFAULT_CONFIG_PATH } from "../config/load.js";
import { formatValue, getValue, setValue } from "../config/edit.js";
import { loadConfigOrExit } from "./load-config.js";

function printIssues(err: ConfigError): void {
  console.error(`portcullis: ${err.issues.length} problem${err.issues.length === 1 ? "" : "s"}:`);
  for (const issue of err.issues) console.error(`  ${issue.path ? `${issue.path}: ` : ""}${issue.message}`);
}

export function registerConfig(program: Command): void {
  const config = program.command("config").description("check and edit the configuration file");

  config
    .command("validate")
    .description("check the configuration and print every problem with its key path")
    .option("-c, --config <file>", "configuration file")
    .action((opts: { config?: string }) => {
      const { source } = loadConfigOrExit(opts.config);
      console.log(source ? `${source}: valid` : `no configuration file at ${DEFAULT_CONFIG_PATH}; the built-in defaults are valid`);
    });

  config
    .command("get <key>")
    .description("print a key's effective value (file, environment and defaults)")
    .option("-c, --config <file>", "configuration file")
    .action((key: string, opts: { config?: string }) => {
      const { config: loaded } = loadConfigOrExit(opts.config);
      try {
        console.log(formatValue(getValue(loaded, key)));
      } catch (err) {
        if (err instanceof ConfigError) {
          printIssues(err);
          process.exit(2);
        }
        throw err;
      }
    });

  config
    .command("set <key> <value>")
    .description("change one key in the file, keeping its comments; refused if the result is invalid")
    .option("-c, --config <file>", "configuration file", DEFAULT_CONFIG_PATH)
    .action((key: string, value: string, opts: { config: string }) => {
      try {
        setValue(opts.config, key, value, process.env);
        console.log(`${opts.config}: ${key} set`);
      } catch (err) {
        if (err instanceof ConfigError) {
          printIssues(err);
          console.error("nothing was written");
          process.exit(2);
        }
        throw err;
      }
    });
}
