/** `portcullis serve`: load the config, make development certificates on a first run, start the gateway. */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { DEFAULT_CONFIG_PATH } from "../config/load.js";
import { startDemoUpstream } from "../demo/upstream.js";
import { createLogger } from "../log/logger.js";
import { startGateway } from "../main.js";
import { writeDevCertificates } from "../tls/dev-files.js";
import { loadConfigOrExit } from "./load-config.js";

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("run the gateway")
    .option("-c, --config <file>", "configuration file", undefined)
    .option("--demo-upstream", "also start a small demo application on the upstream port")
    .action(async (opts: { config?: string; demoUpstream?: boolean }) => {
      const { config, source } = loadConfigOrExit(opts.config);
      const log = createLogger({ level: config.logging.level });
      if (source === null) log.warn({ file: DEFAULT_CONFIG_PATH }, "no configuration file found; running on the built-in defaults");
      else log.info({ file: source }, "configuration loaded");

      if (!config.tls.keyStore && !fs.existsSync(config.tls.cert) && !fs.existsSync(config.tls.key)) {
        const written = writeDevCertificates(path.dirname(config.tls.cert), ["localhost", "127.0.0.1", "::1"], { cert: config.tls.cert, key: config.tls.key });
        log.warn({ ca: written.caCert, cert: written.cert }, "no certificate found: created a development CA and a server certificate for localhost (trust the CA in your browser, or replace them)");
      }

      const demo = opts.demoUpstream ? await startDemoUpstream(Number(config.upstream.url.port || 80), config.upstream.url.hostname.replace(/^\[|\]$/g, "")) : undefined;
      if (demo) log.info({ url: config.upstream.url.href }, "demo upstream started");

      let gateway;
      try {
        gateway = await startGateway(config, { log, adminPassword: process.env.PORTCULLIS_ADMIN_PASSWORD });
      } catch (err) {
        log.fatal({ err: (err as Error).message }, "cannot start");
        console.error(`portcullis: ${(err as Error).message}`);
        await demo?.close();
        process.exitCode = 1;
        log.flush();
        return;
      }
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, "stopping: finishing in-flight requests");
        await gateway.close();
        await demo?.close();
        log.info("stopped");
        log.flush();
        process.exit(0);
      };
      process.on("SIGTERM", () => void stop("SIGTERM"));
      process.on("SIGINT", () => void stop("SIGINT"));
      process.on("SIGHUP", () => gateway.reloadTls());
    });
}
