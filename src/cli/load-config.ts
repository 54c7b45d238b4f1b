/** Shared by the commands: load the config or print every problem and exit with status 2. */
import { ConfigError } from "../errors.js";
import { DEFAULT_CONFIG_PATH, loadConfig, type LoadedConfig } from "../config/load.js";

export function loadConfigOrExit(file: string | undefined): LoadedConfig {
  try {
    return loadConfig({ file: file ?? process.env.PORTCULLIS_CONFIG ?? DEFAULT_CONFIG_PATH, optional: file === undefined && !process.env.PORTCULLIS_CONFIG });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`portcullis: the configuration has ${err.issues.length} problem${err.issues.length === 1 ? "" : "s"}:`);
      for (const issue of err.issues) console.error(`  ${issue.path ? `${issue.path}: ` : ""}${issue.message}`);
      process.exit(2);
    }
    throw err;
  }
}
