/**
 * Composition: from a validated config, build the TLS material, the upstream, the ordered pipeline
 * and the listeners, and return a handle that stops them all.
 */
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type http from "node:http";
import type net from "node:net";
import type { Config, RouterPolicy } from "./config/schema.js";
import { effectivePortsOf } from "./config/load.js";
import { TlsMaterialError } from "./errors.js";
import { accessLogFor, createLogger, type AccessLog, type Logger } from "./log/logger.js";
import { startListeners, type Listeners } from "./listeners/listeners.js";
import { routerPolicy } from "./listeners/router-policy.js";
import { gatewayRoutes } from "./admin/gateway-routes.js";
import { healthRoute } from "./admin/health.js";
import { resolveClientAddress, trustedProxies } from "./pipeline/client-ip.js";
import { normaliseTarget } from "./pipeline/path.js";
import { nextRequestId } from "./pipeline/request-id.js";
import { sendError, toGatewayError } from "./pipeline/respond.js";
import type { ListenerKind, RequestScope } from "./pipeline/scope.js";
import { securityHeaders } from "./pipeline/security-headers.js";
import { runStages, type Stage } from "./pipeline/stage.js";
import { forwardedHeaders, setForwarded, stripClient, stripClientHeaders } from "./proxy/forwarded.js";
import { createUpstream, type Upstream } from "./proxy/upstream.js";
import { startAdminListener, tcpCheck, type AdminListener } from "./ops/admin-listener.js";
import { createMetrics } from "./ops/metrics.js";
import { loadServerTls, secureOptions, watchTlsFiles } from "./tls/server-tls.js";

export interface GatewayOptions {
  log?: Logger;
  /** Resolves relative file paths in the config; defaults to the working directory. */
  cwd?: string;
  /** Listen on these ports instead of the configured ones (tests use 0). */
  ports?: { secure: number; insecure: number; admin?: number };
  /** Watch certificate files and reload on change (default true). */
  watchTls?: boolean;
}

export interface Gateway {
  readonly config: Config;
  readonly log: Logger;
  port(kind: ListenerKind | "admin"): number;
  /** Re-reads the certificate; keeps the old one and logs when the new files are unusable. */
  reloadTls(): boolean;
  close(): Promise<void>;
}

/** Every stage in the order a request meets them; later issues insert credentials and access rules. */
export function buildStages(config: Config, parts: { upstream: Upstream; listeners: () => Listeners }): Stage[] {
  return [
    securityHeaders(config.tls.hsts),
    gatewayRoutes("healthRoutes", config.paths.prefix, [healthRoute], false),
    routerPolicy({
      policy: () => currentPolicy(config),
      securePort: () => parts.listeners().port("secure"),
      sessionCookieName: config.session.cookieName,
    }),
    stripClientHeaders(identityHeaderNames(config)),
    gatewayRoutes("gatewayRoutes", config.paths.prefix, []),
    forwardedHeaders((kind) => parts.listeners().port(kind)),
    parts.upstream.stage,
  ];
}

/** `site.securityChannel` is XNAT's name for the router policy: `any` ⇔ allow (SPEC §4). */
export function currentPolicy(config: Config): RouterPolicy {
  if (config.site.securityChannel === "any") return "allow";
  return config.router.insecure === "allow" ? "redirect" : config.router.insecure;
}

function identityHeaderNames(config: Config): string[] {
  return [...Object.values(config.identity.headers), config.identity.assertion.header].map((n) => n.toLowerCase());
}

export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger({ level: config.logging.level });
  const cwd = options.cwd ?? process.cwd();
  const material = loadServerTls(config.tls, cwd);
  const access = accessLogFor(log);
  const metrics = createMetrics();
  const upstream = createUpstream({
    url: config.upstream.url,
    timeoutMs: config.upstream.timeout,
    ca: config.upstream.ca === undefined ? undefined : readCa(path.resolve(cwd, config.upstream.ca)),
    log,
    onError: (kind) => metrics.upstreamErrors.inc({ kind }),
  });
  const trusted = trustedProxies(config.trustedProxies);
  const identityNames = identityHeaderNames(config);
  let listeners: Listeners | undefined;
  const stages = buildStages(config, { upstream, listeners: () => listeners! });

  const scopeFor = (kind: ListenerKind, req: http.IncomingMessage): RequestScope => {
    const { clientIp, forwardedFor } = resolveClientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"], trusted);
    return { id: nextRequestId(), startedAt: performance.now(), listener: kind, clientIp, forwardedFor, path: "", forwardPath: "", query: "", route: "", log };
  };

  const onRequest = (kind: ListenerKind, req: http.IncomingMessage, res: http.ServerResponse) => {
    const scope = scopeFor(kind, req);
    res.setHeader("x-request-id", scope.id);
    res.once("close", () => {
      const seconds = (performance.now() - scope.startedAt) / 1000;
      metrics.observe(scope.route, res.statusCode, seconds);
      logRequest(access, req, res, scope, seconds);
    });
    const fail = (err: unknown) => {
      const gatewayError = toGatewayError(err);
      if (gatewayError.status >= 500) log.error({ requestId: scope.id, err }, "request failed");
      sendError(req, res, scope, gatewayError);
    };
    try {
      Object.assign(scope, normaliseTarget(req.url ?? "/"));
      const result = runStages(stages, { req, res, scope });
      if (result instanceof Promise) result.catch(fail);
    } catch (err) {
      fail(err);
    }
  };

  const onUpgrade = (kind: ListenerKind, req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on("error", () => undefined);
    const scope = scopeFor(kind, req);
    try {
      Object.assign(scope, normaliseTarget(req.url ?? "/"));
    } catch {
      socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    // WebSockets meet the same policy as requests; a plaintext upgrade is refused unless allowed.
    if (kind === "insecure" && currentPolicy(config) !== "allow") {
      socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 26\r\n\r\nWebSockets need TLS here.\n");
      return;
    }
    stripClient(req.headers, identityNames, true);
    setForwarded(req, scope, listeners!.port(kind));
    scope.log.info({ requestId: scope.id, path: scope.path, listener: kind }, "websocket upgrade");
    upstream.upgrade(req, socket, head, scope);
  };

  const ports = options.ports ?? effectivePortsOf(config);
  listeners = await startListeners({
    host: config.ports.host,
    securePort: ports.secure,
    insecurePort: ports.insecure,
    tls: secureOptions(material, config.tls.minVersion),
    limits: config.limits,
    log,
    onRequest,
    onUpgrade,
  });

  const upstreamPort = Number(config.upstream.url.port || (config.upstream.url.protocol === "https:" ? 443 : 80));
  let admin: AdminListener;
  try {
    admin = await startAdminListener(config.ports.admin.host, options.ports?.admin ?? config.ports.admin.port, metrics, {
      upstream: tcpCheck(config.upstream.url.hostname.replace(/^\[|\]$/g, ""), upstreamPort),
    });
  } catch (err) {
    await listeners.close(0);
    await upstream.close();
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

  log.info(
    { admin: `http://${displayHost(config.ports.admin.host)}:${admin.port}/metrics`, secure: `https://${displayHost(config.ports.host)}:${listeners.port("secure")}/`, insecure: `http://${displayHost(config.ports.host)}:${listeners.port("insecure")}/`, upstream: config.upstream.url.href, policy: config.router.insecure },
    "portcullis listening",
  );

  return {
    config,
    log,
    port: (kind) => (kind === "admin" ? admin.port : listeners!.port(kind)),
    reloadTls,
    async close() {
      watcher?.close();
      await listeners!.close(config.limits.shutdownGrace);
      await admin.close();
      await upstream.close();
    },
  };
}

function logRequest(access: AccessLog, req: http.IncomingMessage, res: http.ServerResponse, scope: RequestScope, seconds: number): void {
  access.request({
    requestId: scope.id,
    method: req.method ?? "",
    path: scope.path,
    route: scope.route,
    status: res.statusCode,
    ms: Math.round(seconds * 10_000) / 10,
    ip: scope.clientIp,
    listener: scope.listener,
    aborted: !res.writableFinished,
  });
}

function readCa(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new TlsMaterialError("upstream.ca", `${file} cannot be read (${(err as NodeJS.ErrnoException).code})`, err);
  }
}

function displayHost(host: string): string {
  return host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
}
