/**
 * `portcullis config validate|get|set` (SPEC §3), and `config overrides|reset` for the `site.*` values
 * admins changed at run time over REST, which the store keeps and which win over the file.
 */
import type { Command } from "commander";
import { systemClock } from "../clock.js";
import { ConfigError, SiteConfigError } from "../errors.js";
import { DEFAULT_CONFIG_PATH, effectivePortsOf } from "../config/load.js";
import { formatKey, MASK, setValue } from "./config-edit.js";
import { LiveSite } from "../admin/live-site.js";
import type { SiteKey } from "../config/schema.js";
import { createLogger } from "../log/logger.js";
import { openStore } from "../store/open-store.js";
import { loadConfigOrExit } from "./load-config.js";

/** Runs `fn` on the site-config of the configured store, then closes the store. */
async function withLiveSite<T>(configFile: string | undefined, fn: (live: LiveSite) => Promise<T>): Promise<T> {
  const { config } = loadConfigOrExit(configFile);
  const log = createLogger({ level: "error" });
  const store = await openStore(config, log);
  const live = new LiveSite({ store, base: config.site, clock: systemClock, log });
  try {
    return await fn(live);
  } finally {
    live.close();
    await store.close();
  }
}

const siteName = (key: string) => key.replace(/^site\./, "");

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
    .description("print a key's value from the file, environment and defaults (site.* values changed over REST: config overrides)")
    .option("-c, --config <file>", "configuration file")
    .option("--show-secrets", "print passwords and keys instead of masking them")
    .action((key: string, opts: { config?: string; showSecrets?: boolean }) => {
      const { config: loaded } = loadConfigOrExit(opts.config);
      try {
        const { text, masked } = formatKey(loaded, key, { showSecrets: opts.showSecrets === true });
        console.log(text);
        // Said on stderr, so that stdout stays the value alone.
        if (masked) console.error(`(secrets shown as ${MASK}; --show-secrets prints them)`);
        // The value is the key's own; the port listened on is the prefix's too (stderr keeps stdout scriptable).
        const listened = effectivePortsOf(loaded);
        const kind = key === "ports.secure" ? "secure" : key === "ports.insecure" ? "insecure" : null;
        if (kind && loaded.ports.prefix !== "") console.error(`(listens on ${listened[kind]} with ports.prefix "${loaded.ports.prefix}")`);
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
        // The file is the bottom layer for site.*: a value an admin wrote over REST stays in force.
        // Said as a condition: the store that would tell is not opened for a file edit.
        if (key.startsWith("site.")) {
          console.log(`if ${key} was changed at run time over REST, that value still wins (portcullis config overrides lists them); portcullis config reset ${key} returns to the file's`);
        }
      } catch (err) {
        if (err instanceof ConfigError) {
          printIssues(err);
          console.error("nothing was written");
          process.exit(2);
        }
        throw err;
      }
    });

  config
    .command("overrides")
    .description("list the site.* values admins changed at run time over REST (kept in the store; they win over the file)")
    .option("-c, --config <file>", "configuration file")
    .action(async (opts: { config?: string }) => {
      await withLiveSite(opts.config, async (live) => {
        const overrides = await live.overrides();
        if (overrides.length === 0) return console.log("no site.* value is overridden; the file's values hold");
        for (const o of overrides) {
          const file = live.base[o.name as SiteKey] ?? null;
          console.log(`site.${o.name} = ${JSON.stringify(o.value)} (file: ${JSON.stringify(file)}; by ${o.changedBy} at ${new Date(o.changedAt).toISOString()})`);
        }
      });
    });

  config
    .command("reset <keys...>")
    .description("remove run-time overrides of site.* keys, so the file's values hold again on every gateway sharing the store")
    .option("-c, --config <file>", "configuration file")
    .action(async (keys: string[], opts: { config?: string }) => {
      await withLiveSite(opts.config, async (live) => {
        try {
          const changes = await live.reset(keys.map(siteName), `cli:${process.env.USER ?? "unknown"}`);
          for (const key of keys) {
            const change = changes[siteName(key)];
            console.log(change ? `site.${siteName(key)}: ${JSON.stringify(change.from)} -> ${JSON.stringify(change.to)} (the file's value)` : `site.${siteName(key)}: not overridden; nothing to reset`);
          }
        } catch (err) {
          if (!(err instanceof SiteConfigError)) throw err;
          console.error(`portcullis: ${err.issues.map((i) => `${i.path}: ${i.message}`).join("\n  ")}\nnothing was reset`);
          process.exitCode = 2;
        }
      });
    });
}
