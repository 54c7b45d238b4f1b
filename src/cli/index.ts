/** The `portcullis` command line: one file per command group, registered here. */
import { Command } from "commander";
import { registerCerts } from "./certs.js";
import { registerConfig } from "./config.js";
import { registerFirewall } from "./firewall.js";
import { registerServe } from "./serve.js";

const program = new Command();
program.name("portcullis").description("authentication gateway and TLS-terminating reverse proxy").version("0.1.0");
registerServe(program);
registerConfig(program);
registerCerts(program);
registerFirewall(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`portcullis: ${(err as Error).message}`);
  process.exit(1);
});
