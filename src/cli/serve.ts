/** `portcullis serve`: load the config, make development certificates on a first run, start the gateway. */
import cluster from "node:cluster";
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { DEFAULT_CONFIG_PATH } from "../config/load.js";
import { startDemoUpstream } from "../demo/upstream.js";
import { createLogger, type Logger } from "../log/logger.js";
import type { Config } from "../config/schema.js";
import { systemClock } from "../clock.js";
import { Accounts } from "../auth/local/accounts.js";
import { ensureAdmin } from "../auth/local/bootstrap.js";
import { openStore } from "../store/open-store.js";
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

      if (config.workers > 1 && cluster.isPrimary) {
        await runPrimary(config, log, Boolean(opts.demoUpstream));
        return;
      }

      const demo = opts.demoUpstream && !cluster.isWorker ? await startDemoUpstream(Number(config.upstream.url.port || 80), config.upstream.url.hostname.replace(/^\[|\]$/g, "")) : undefined;
      if (demo) log.info({ url: config.upstream.url.href }, "demo upstream started");

      let gateway;
      try {
        // In a cluster the primary has made the first account already; workers must not race to.
        gateway = await startGateway(config, { log, adminPassword: cluster.isWorker ? false : process.env.PORTCULLIS_ADMIN_PASSWORD });
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

/**
 * `workers > 1`: the primary makes the first account and the demo upstream, then forks the workers,
 * which share the listeners (Node's cluster) and keep their state in Redis (validated: workers > 1
 * needs store.redis). A worker that dies is replaced; SIGTERM is passed on and waited for.
 */
async function runPrimary(config: Config, log: Logger, demoUpstream: boolean): Promise<void> {
  const store = await openStore(config, log);
  await ensureAdmin(new Accounts(store, systemClock), log, process.env.PORTCULLIS_ADMIN_PASSWORD, (line) => console.error(line));
  await store.close();
  const demo = demoUpstream ? await startDemoUpstream(Number(config.upstream.url.port || 80), config.upstream.url.hostname.replace(/^\[|\]$/g, "")) : undefined;
  let stopping = false;
  const fork = () => cluster.fork();
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    log.error({ worker: worker.process.pid, code, signal }, "worker ended; starting another");
    setTimeout(fork, 1000).unref();
  });
  for (let i = 0; i < config.workers; i++) fork();
  log.info({ workers: config.workers }, "cluster started");
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w!.once("exit", () => resolve());
            w!.process.kill(signal);
          }),
      ),
    );
    await demo?.close();
    log.info("cluster stopped");
    log.flush();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGHUP", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill("SIGHUP");
  });
}
