/** The `portcullis` command line: one file per command group, registered here. */
// First, so that V8 is set up before the other modules are evaluated.
import "./v8-flags.js";
import { Command } from "commander";
import { registerCerts } from "./certs.js";
import { registerConfig } from "./config.js";
import { registerExplain } from "./explain.js";
import { registerFirewall } from "./firewall.js";
import { registerLdap } from "./ldap.js";
import { registerServe } from "./serve.js";
import { registerUsers } from "./users.js";

// `portcullis users list | head` closes the pipe early; that is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

const program = new Command();
program.name("portcullis").description("authentication gateway and TLS-terminating reverse proxy").version("0.1.0");
registerServe(program);
registerConfig(program);
registerCerts(program);
registerFirewall(program);
registerUsers(program);
registerLdap(program);
registerExplain(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`portcullis: ${(err as Error).message}`);
  process.exit(1);
});
