/**
 * Composition: from a validated config, build the domain services, the request path, the listeners
 * and the admin listener, and return a handle that stops them all.
 */
import path from "node:path";
import type { Accounts } from "./auth/local/accounts.js";
import { systemClock, type Clock } from "./clock.js";
import { effectivePortsOf } from "./config/load.js";
import type { Config } from "./config/schema.js";
import type { Scheduler } from "./jobs/scheduler.js";
import { requestHandler, upgradeHandler } from "./listeners/handlers.js";
import { startListeners, type Listeners } from "./listeners/listeners.js";
import { currentPolicy } from "./listeners/router-policy.js";
import { accessLogFor, createLogger, type Logger } from "./log/logger.js";
import { readinessChecks, startAdminListener, type AdminListener } from "./ops/admin-listener.js";
import { createMetrics } from "./ops/metrics.js";
import { trustedProxies } from "./pipeline/client-ip.js";
import type { ListenerKind } from "./pipeline/scope.js";
import { OpenWebSockets } from "./proxy/open-websockets.js";
import { createUpstream, readUpstreamCa } from "./proxy/upstream.js";
import { buildRequestPath, stagesOf } from "./request-path.js";
import { startServices } from "./services.js";
import { revokeExposedSessions } from "./sessions/exposed.js";
import type { SessionService } from "./sessions/session-service.js";
import type { Store } from "./store/store.js";
import { loadServerTls, secureOptions, watchTlsFiles } from "./tls/server-tls.js";

export interface GatewayOptions {
  log?: Logger;
  /** Resolves relative file paths in the config; defaults to the working directory. */
  cwd?: string;
  /** Listen on these ports instead of the configured ones (tests use 0). */
  ports?: { secure: number; insecure: number; admin?: number };
  /** Watch certificate files and reload on change (default true). */
  watchTls?: boolean;
  clock?: Clock;
  /** Use this store instead of opening the configured one (it is not closed with the gateway). */
  store?: Store;
  /** First run: the admin password (PORTCULLIS_ADMIN_PASSWORD), or false to create no account. */
  adminPassword?: string | false;
  /** Run the sweeps on their schedules (default true; tests drive `scheduler.runDue` themselves). */
  schedule?: boolean;
  /** Where a first-run random admin password is shown. */
  print?: (line: string) => void;
}

export interface Gateway {
  readonly config: Config;
  readonly log: Logger;
  readonly store: Store;
  readonly accounts: Accounts;
  readonly sessions: SessionService;
  readonly scheduler: Scheduler;
  port(kind: ListenerKind | "admin"): number;
  /** Re-reads the certificate; keeps the old one and logs when the new files are unusable. */
  reloadTls(): boolean;
  close(): Promise<void>;
}

export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger({ level: config.logging.level });
  const cwd = options.cwd ?? process.cwd();
  const clock = options.clock ?? systemClock;
  const material = loadServerTls(config.tls, cwd);
  let listeners: Listeners | undefined;
  const listenerPort = (kind: ListenerKind) => listeners!.port(kind);
  const services = await startServices(config, { ...options, log, cwd, clock, securePort: () => listenerPort("secure") });
  const metrics = createMetrics();
  const ca = config.upstream.ca === undefined ? undefined : readUpstreamCa(path.resolve(cwd, config.upstream.ca));
  const upstream = createUpstream({ url: config.upstream.url, timeoutMs: config.upstream.timeout, ca, log, onError: (kind) => metrics.upstreamErrors.inc({ kind }) });
  const routerDeps = {
    policy: () => currentPolicy(config, services.site()),
    securePort: () => listenerPort("secure"),
    sessionCookieName: config.session.cookieName,
    publicUrl: config.publicUrl,
    revokeExposed: revokeExposedSessions(services.sessions, config.session.cookieName),
  };
  const phases = buildRequestPath(config, { services, upstream, routerDeps, clock, listenerPort });
  const handlerDeps = { log, trusted: trustedProxies(config.trustedProxies), reportCsrf: services.reportCsrf, metrics, access: accessLogFor(log) };
  const sockets = new OpenWebSockets();
  services.sessions.onEnded((ids) => sockets.closeFor(ids));

  const ports = options.ports ?? effectivePortsOf(config);
  listeners = await startListeners({
    host: config.ports.host,
    securePort: ports.secure,
    insecurePort: ports.insecure,
    tls: secureOptions(material, config.tls.minVersion),
    limits: config.limits,
    log,
    clock,
    onRequest: requestHandler(handlerDeps, stagesOf(phases.request)),
    onUpgrade: upgradeHandler(handlerDeps, stagesOf(phases.upgrade), upstream, sockets),
  });
  let admin: AdminListener;
  try {
    admin = await startAdminListener(config.ports.admin.host, options.ports?.admin ?? config.ports.admin.port, metrics, readinessChecks(config.upstream.url, services.store, services.directory));
  } catch (err) {
    await listeners.close(0);
    await upstream.close();
    await services.close();
    throw err;
  }

  const reloadTls = (): boolean => {
    try {
      const next = loadServerTls(config.tls, cwd);
      listeners!.setSecureContext(secureOptions(next, config.tls.minVersion));
      log.info({ subject: next.leaf.subject, validTo: next.leaf.validTo }, "TLS certificate reloaded");
      return true;
    } catch (err) {
      log.error({ err: (err as Error).message }, "TLS certificate reload failed; keeping the current one");
      return false;
    }
  };
  const watcher = options.watchTls === false ? undefined : watchTlsFiles(material.files, reloadTls);
  const shown = (host: string) => (host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host);
  log.info(
    { admin: `http://${shown(config.ports.admin.host)}:${admin.port}/metrics`, secure: `https://${shown(config.ports.host)}:${listeners.port("secure")}/`, insecure: `http://${shown(config.ports.host)}:${listeners.port("insecure")}/`, upstream: config.upstream.url.href, policy: config.router.insecure },
    "portcullis listening",
  );

  return {
    config,
    log,
    store: services.store,
    accounts: services.accounts,
    sessions: services.sessions,
    scheduler: services.scheduler,
    port: (kind) => (kind === "admin" ? admin.port : listenerPort(kind)),
    reloadTls,
    async close() {
      watcher?.close();
      await listeners!.close(config.limits.shutdownGrace);
      await admin.close();
      await upstream.close();
      handlerDeps.access.flush();
      await services.close();
    },
  };
}
