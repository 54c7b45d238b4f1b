/** The `portcullis` command line: one file per command group, registered here. */
import { Command } from "commander";
import { registerServe } from "./serve.js";

const program = new Command();
program.name("portcullis").description("authentication gateway and TLS-terminating reverse proxy").version("0.1.0");
registerServe(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`portcullis: ${(err as Error).message}`);
  process.exit(1);
});
