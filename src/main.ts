/**
 * Composition: from a validated config, build the TLS material, the upstream, the ordered pipeline
 * and the listeners, and return a handle that stops them all.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { ServerResponse } from "node:http";
import type http from "node:http";
import type net from "node:net";
import type { Config, RouterPolicy } from "./config/schema.js";
import { effectivePortsOf } from "./config/load.js";
import { GatewayError, TlsMaterialError } from "./errors.js";
import { accessLogFor, audit, createLogger, type AccessLog, type Logger } from "./log/logger.js";
import { startListeners, type Listeners } from "./listeners/listeners.js";
import { handleExposure, routerPolicy, type RouterPolicyDeps } from "./listeners/router-policy.js";
import { gatewayRoutes } from "./admin/gateway-routes.js";
import { gatewayPathsNotProxied } from "./admin/gateway-paths.js";
import { healthRoute } from "./admin/health.js";
import { resolveClientAddress, trustedProxies } from "./pipeline/client-ip.js";
import { normaliseTarget } from "./pipeline/path.js";
import { nextRequestId } from "./pipeline/request-id.js";
import { answerHeaders, sendError, sendText, toGatewayError } from "./pipeline/respond.js";
import type { ListenerKind, RequestScope } from "./pipeline/scope.js";
import { securityHeaders } from "./pipeline/security-headers.js";
import { runStages, type Stage } from "./pipeline/stage.js";
import { forwardedHeaders, stripClientHeaders } from "./proxy/forwarded.js";
import { createUpstream, type Upstream } from "./proxy/upstream.js";
import { startAdminListener, tcpCheck, type AdminListener } from "./ops/admin-listener.js";
import { createMetrics } from "./ops/metrics.js";
import { loadServerTls, secureOptions, watchTlsFiles } from "./tls/server-tls.js";
import { systemClock, type Clock } from "./clock.js";
import type { Site } from "./config/site.js";
import { LiveSite } from "./config/live-site.js";
import { Accounts } from "./auth/local/accounts.js";
import { ensureAdmin } from "./auth/local/bootstrap.js";
import { credentialsStage } from "./auth/credentials.js";
import { ANONYMOUS, principalOf, sessionOf } from "./auth/identity.js";
import { LoginService } from "./auth/login.js";
import { Regulation } from "./regulation/regulation.js";
import { openDirectory } from "./ldap/open-directory.js";
import { adminRoutes } from "./admin/admin-routes.js";
import { siteConfigRoutes } from "./admin/site-config-routes.js";
import { accessStage } from "./policy/access-stage.js";
import { GuestPrincipal } from "./policy/guest.js";
import { compileRules, type AccessRules } from "./policy/access-rules.js";
import { explainRoute } from "./admin/explain-route.js";
import { CsrfRefusal, csrfStage, websocketOriginStage } from "./policy/csrf.js";
import { csrfReporter, type CsrfReporter } from "./policy/csrf-alert.js";
import { PasswordResets } from "./auth/local/password-reset.js";
import { createMailer, type Mailer } from "./mail/mailer.js";
import { passwordResetRoutes } from "./web/password-reset-routes.js";
import { identityHeaders } from "./proxy/identity.js";
import { SessionService } from "./sessions/session-service.js";
import { sessionActivity } from "./sessions/activity.js";
import { readCookies } from "./sessions/cookie.js";
import { parseCookieValue } from "./sessions/ids.js";
import { openStore } from "./store/open-store.js";
import { Scheduler } from "./jobs/scheduler.js";
import { inactivityJob, resetFailedLoginsJob } from "./jobs/sweeps.js";
import type { Store } from "./store/store.js";
import { authRoutes } from "./web/auth-routes.js";

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

export interface Parts {
  routerDeps: RouterPolicyDeps;
  upstream: Upstream;
  listeners: () => Listeners;
  site: () => Site;
  /** The site-config values in force, with the REST overrides (SPEC §4); `site` is its `current`. */
  liveSite: LiveSite;
  guest: GuestPrincipal;
  /** The access rules, compiled once for requests, upgrades and explain. */
  rules: AccessRules;
  clock: Clock;
  store: Store;
  accounts: Accounts;
  sessions: SessionService;
  logins: LoginService;
  regulation: Regulation;
  resets: PasswordResets;
  reportCsrf: CsrfReporter;
}

/** Every stage in the order a request meets them. */
export function buildStages(config: Config, parts: Parts): Stage[] {
  const prefix = config.paths.prefix;
  const securePort = () => parts.listeners().port("secure");
  const policy = () => currentPolicy(config, parts.site());
  return [
    securityHeaders(config.tls.hsts),
    gatewayRoutes("healthRoutes", prefix, [healthRoute], false),
    routerPolicy(parts.routerDeps),
    stripClientHeaders(identityHeaderNames(config)),
    credentialsStage({
      store: parts.store,
      sessions: parts.sessions,
      logins: parts.logins,
      accounts: parts.accounts,
      clock: parts.clock,
      site: parts.site,
      cookieName: config.session.cookieName,
      credentialCacheTtlMs: config.auth.credentialCacheTtl,
    }),
    csrfStage({ site: parts.site }),
    gatewayRoutes(
      "gatewayRoutes",
      prefix,
      [
        ...authRoutes({
          prefix,
          cookieName: config.session.cookieName,
          clock: parts.clock,
          site: parts.site,
          policy,
          forceEncryption: config.router.forceEncryption,
          sessions: parts.sessions,
          logins: parts.logins,
          accounts: parts.accounts,
          store: parts.store,
        }),
        ...passwordResetRoutes({ prefix, resets: parts.resets }),
        ...adminRoutes({ sessions: parts.sessions, accounts: parts.accounts, regulation: parts.regulation, site: parts.site }),
        ...siteConfigRoutes({ live: parts.liveSite }),
        explainRoute({
          rules: parts.rules,
          site: parts.site,
          guest: parts.guest,
          prefix,
          caseInsensitivePaths: config.access.caseInsensitivePaths,
          lookup: (user) => parts.logins.lookup(user),
          lockState: (user) => parts.regulation.state(user),
        }),
      ],
      true,
      securePort,
      config.publicUrl,
    ),
    gatewayPathsNotProxied(prefix, config.access.caseInsensitivePaths),
    accessStage({ rules: parts.rules, site: parts.site, prefix, guest: parts.guest, slide: sessionActivity(parts.sessions) }),
    identityHeaders(config.identity.headers),
    forwardedHeaders((kind) => parts.listeners().port(kind)),
    parts.upstream.stage,
  ];
}

/**
 * The checks a WebSocket upgrade meets before it is passed on: the same credentials, access rules
 * and identity headers as a request, plus an origin check (cross-site WebSocket hijacking).
 */
export function buildUpgradeStages(config: Config, parts: Parts, requestStages: readonly Stage[]): Stage[] {
  // The same credentials stage instance, so both share one Basic-credential cache.
  const credentials = requestStages.find((s) => s.name === "credentials")!;
  return [
    {
      // The router policy for upgrades: exposure is audited and revoked as for requests, and a refusal
      // is a 403 (a WebSocket client would not follow a redirect).
      name: "upgradePolicy",
      run(x) {
        const { res, scope } = x;
        if (scope.listener !== "insecure") return;
        const policy = currentPolicy(config, parts.site());
        const { exposed, done } = handleExposure(parts.routerDeps, x, policy);
        if (policy === "allow" && !exposed) return;
        const answer = () => {
          scope.route = "router:websocket-refused";
          sendText(res, 403, "WebSockets need TLS here.");
          return "done" as const;
        };
        return done instanceof Promise ? done.then(answer) : answer();
      },
    },
    // Before credentials: an upgrade to the gateway's own paths is answered 404 whoever sends it.
    gatewayPathsNotProxied(config.paths.prefix, config.access.caseInsensitivePaths),
    stripClientHeaders(identityHeaderNames(config), true),
    credentials,
    websocketOriginStage(),
    accessStage({ rules: parts.rules, site: parts.site, prefix: config.paths.prefix, guest: parts.guest, slide: sessionActivity(parts.sessions) }),
    identityHeaders(config.identity.headers),
    forwardedHeaders((kind) => parts.listeners().port(kind)),
  ];
}

/**
 * `site.securityChannel` is XNAT's name for the router policy (SPEC §4): `any` ⇔ allow; `https` is the
 * file's `router.insecure` (redirect when that says allow). It follows live site-config changes.
 */
export function currentPolicy(config: Config, site: Site): RouterPolicy {
  if (site.raw.securityChannel === "any") return "allow";
  return config.router.insecure === "allow" ? "redirect" : config.router.insecure;
}

function identityHeaderNames(config: Config): string[] {
  return [...Object.values(config.identity.headers), config.identity.assertion.header].map((n) => n.toLowerCase());
}

export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.log ?? createLogger({ level: config.logging.level });
  const cwd = options.cwd ?? process.cwd();
  const clock = options.clock ?? systemClock;
  const material = loadServerTls(config.tls, cwd);
  const directory = openDirectory(config, log, cwd);
  const store = options.store ?? (await openStore(config, log, cwd));
  // The site-config values: the config's, then the REST overrides kept in the store (SPEC §3, §4).
  const liveSite = new LiveSite({ store, base: config.site, clock, log });
  await liveSite.load();
  const siteNow = () => liveSite.current();
  const accounts = await Accounts.start(store, clock, log);
  const guest = new GuestPrincipal({ accounts, clock, site: siteNow, log });
  if (options.adminPassword !== false) {
    await ensureAdmin(accounts, log, options.adminPassword, options.print ?? ((line) => console.error(line)));
  }
  const sessions = new SessionService({
    store,
    clock,
    log,
    idleTimeoutMs: () => siteNow().sessionTimeoutMs,
    absoluteTimeoutMs: config.session.absoluteTimeout,
    maxSessions: () => siteNow().concurrentMaxSessions,
    limitPolicy: config.session.limitPolicy,
  });
  await sessions.start();
  const regulation = new Regulation({ store, clock, site: siteNow, ipLimit: config.regulation.maxFailuresPerIp, audit: (event, fields) => audit(log, event, fields) });
  const logins = new LoginService({ regulation, accounts, clock, site: siteNow, log, directory });
  const mailer = createMailer(config.mail, path.resolve(cwd, config.store.dataDir), log);
  const resets = new PasswordResets({
    store,
    accounts,
    clock,
    mailer,
    log,
    site: siteNow,
    resetUrl: () => `${config.publicUrl ?? `https://localhost:${listeners!.port("secure")}`}${config.paths.prefix}/password/reset`,
    owner: randomUUID(),
  });
  const reportCsrf = csrfReporter({ site: siteNow, store, clock, mailer, adminEmail: config.mail.adminEmail, log });
  warnAboutMail(config, log, mailer);
  const sweepDeps = { store, accounts, site: siteNow, log, resets, regulation };
  const scheduler = new Scheduler([resetFailedLoginsJob(sweepDeps), inactivityJob(sweepDeps)], store, clock, log);
  if (options.schedule !== false) scheduler.start();
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
  let listeners: Listeners | undefined;
  const routerDeps: RouterPolicyDeps = {
    policy: () => currentPolicy(config, siteNow()),
    securePort: () => listeners!.port("secure"),
    sessionCookieName: config.session.cookieName,
    publicUrl: config.publicUrl,
    // The secret crossed the network in the clear: every session the request names ends now (SPEC §5),
    // a cookie sent twice or behind a tossed one included.
    async revokeExposed(req, log) {
      const end = async (value: string) => {
        const credential = parseCookieValue(value);
        if (!credential) return;
        try {
          const user = await sessions.end(credential);
          if (user !== null) audit(log, "session.ended", { user, reason: "exposed-in-plaintext" });
        } catch (err) {
          log.error({ err: (err as Error).message }, "could not revoke an exposed session");
        }
      };
      await Promise.all(readCookies(req, config.session.cookieName).map(end));
    },
  };
  const parts: Parts = { rules: compileRules(config.access), routerDeps, upstream, listeners: () => listeners!, site: siteNow, liveSite, guest, clock, store, accounts, sessions, logins, regulation, resets, reportCsrf };
  const stages = buildStages(config, parts);
  const upgradeStages = buildUpgradeStages(config, parts, stages);

  const scopeFor = (kind: ListenerKind, req: http.IncomingMessage): RequestScope => {
    const { clientIp, forwardedFor } = resolveClientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"], trusted);
    return { id: nextRequestId(), startedAt: performance.now(), listener: kind, clientIp, forwardedFor, path: "", forwardPath: "", query: "", route: "", log, identity: ANONYMOUS };
  };

  /** Every error a request or upgrade meets ends here: CSRF refusals are reported, server faults logged. */
  const answerFailure = (req: http.IncomingMessage, res: http.ServerResponse, scope: RequestScope, err: unknown) => {
    if (err instanceof CsrfRefusal) reportCsrf(req, scope, err.reason);
    const gatewayError = toGatewayError(err);
    if (gatewayError.status >= 500) log.error({ requestId: scope.id, err }, "request failed");
    sendError(req, res, scope, gatewayError);
  };

  const onRequest = (kind: ListenerKind, req: http.IncomingMessage, res: http.ServerResponse) => {
    const scope = scopeFor(kind, req);
    scope.responseHeaders = { "x-request-id": scope.id };
    answerHeaders(res, scope.responseHeaders);
    res.once("close", () => {
      scope.onClose?.();
      const seconds = (performance.now() - scope.startedAt) / 1000;
      metrics.observe(scope.route, res.statusCode, seconds);
      logRequest(access, req, res, scope, seconds);
    });
    const fail = (err: unknown) => answerFailure(req, res, scope, err);
    try {
      rejectDuplicateHost(req);
      Object.assign(scope, normaliseTarget(req.url ?? "/"));
      const result = runStages(stages, { req, res, scope });
      if (result instanceof Promise) result.catch(fail);
    } catch (err) {
      fail(err);
    }
  };

  // Open WebSockets by session id, so that ending a session anywhere closes them (SPEC §6.1).
  const socketsBySession = new Map<string, Set<net.Socket>>();
  sessions.onEnded((ids) => {
    for (const id of ids) for (const socket of socketsBySession.get(id) ?? []) socket.destroy();
  });

  const onUpgrade = (kind: ListenerKind, req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on("error", () => undefined);
    const scope = scopeFor(kind, req);
    // Refusals are written as ordinary HTTP answers on the socket, by the same stages as requests.
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.shouldKeepAlive = false;
    res.once("finish", () => socket.destroySoon());
    const pass = () => {
      if (res.headersSent) return;
      res.detachSocket(socket);
      const id = sessionOf(scope.identity)?.id;
      if (id) {
        const set = socketsBySession.get(id) ?? new Set<net.Socket>();
        socketsBySession.set(id, set.add(socket));
        socket.once("close", () => {
          set.delete(socket);
          if (set.size === 0) socketsBySession.delete(id);
        });
      }
      scope.log.info({ requestId: scope.id, path: scope.path, listener: kind, user: principalOf(scope.identity)?.user }, "websocket upgrade");
      try {
        upstream.upgrade(req, socket, head, scope);
      } catch (err) {
        scope.log.error({ requestId: scope.id, err: (err as Error).message }, "websocket upgrade failed");
        socket.destroy();
      }
    };
    const fail = (err: unknown) => answerFailure(req, res, scope, err);
    try {
      rejectDuplicateHost(req);
      Object.assign(scope, normaliseTarget(req.url ?? "/"));
      const result = runStages(upgradeStages, { req, res, scope });
      if (result instanceof Promise) result.then((r) => (r === "done" ? undefined : pass())).catch(fail);
      else if (result !== "done") pass();
    } catch (err) {
      fail(err);
    }
  };

  const ports = options.ports ?? effectivePortsOf(config);
  listeners = await startListeners({
    host: config.ports.host,
    securePort: ports.secure,
    insecurePort: ports.insecure,
    tls: secureOptions(material, config.tls.minVersion),
    limits: config.limits,
    log,
    clock,
    onRequest,
    onUpgrade,
  });

  const upstreamPort = Number(config.upstream.url.port || (config.upstream.url.protocol === "https:" ? 443 : 80));
  let admin: AdminListener;
  try {
    admin = await startAdminListener(config.ports.admin.host, options.ports?.admin ?? config.ports.admin.port, metrics, {
      upstream: tcpCheck(config.upstream.url.hostname.replace(/^\[|\]$/g, ""), upstreamPort),
      store: () => store.ping().then(() => ({ ok: true }), (err: Error) => ({ ok: false, detail: err.message })),
      ...(directory ? { ldap: async () => {
        const r = await directory.check();
        return r.ok ? { ok: true, advisory: true } : { ok: false, advisory: true, detail: r.problem.message };
      } } : {}),
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
    store,
    accounts,
    sessions,
    scheduler,
    port: (kind) => (kind === "admin" ? admin.port : listeners!.port(kind)),
    reloadTls,
    async close() {
      watcher?.close();
      await listeners!.close(config.limits.shutdownGrace);
      await admin.close();
      await upstream.close();
      access.flush();
      sessions.stop();
      liveSite.close();
      scheduler.stop();
      mailer.close();
      await directory?.close();
      if (!options.store) await store.close();
    },
  };
}

/** Says at startup where mail goes and which settings will keep it from being useful. */
function warnAboutMail(config: Config, log: Logger, mailer: Mailer): void {
  log.info({ mail: mailer.target }, "mail for password resets and alerts goes here");
  if (config.mail.smtp && config.publicUrl === undefined) {
    log.warn("publicUrl is not set: mailed reset links will name https://localhost; set publicUrl to the address users reach the gateway at");
  }
  if (config.site.csrfEmailAlert && config.mail.adminEmail === undefined) {
    log.warn("site.csrfEmailAlert is on but mail.adminEmail is not set: no CSRF alert will be mailed");
  }
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

/**
 * RFC 9112 §3.2: a request with more than one Host header must be refused with 400. Node keeps the
 * first and drops the others silently, so the raw headers are counted here.
 */
function rejectDuplicateHost(req: http.IncomingMessage): void {
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === "host" && ++hosts > 1) {
      throw new GatewayError("ERR_BAD_REQUEST", 400, "A request may carry only one Host header.");
    }
  }
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
