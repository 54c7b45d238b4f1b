/**
 * What the listeners do with each request and upgrade: give it a scope, read its target, run the
 * request path's stages, and answer every error in one place. Upgrades that pass every stage are
 * handed to the upstream and remembered by session.
 */
import { ServerResponse } from "node:http";
import type http from "node:http";
import type net from "node:net";
import { performance } from "node:perf_hooks";
import { ANONYMOUS, principalOf, sessionOf } from "../auth/identity.js";
import { GatewayError } from "../errors.js";
import type { AccessLog, Logger } from "../log/logger.js";
import type { Metrics } from "../ops/metrics.js";
import { resolveClientAddress, type TrustedProxies } from "../pipeline/client-ip.js";
import { normaliseTarget } from "../pipeline/path.js";
import { nextRequestId } from "../pipeline/request-id.js";
import { answerHeaders, sendError, toGatewayError } from "../pipeline/respond.js";
import type { ListenerKind, RequestScope } from "../pipeline/scope.js";
import { runStages, type Stage } from "../pipeline/stage.js";
import type { CsrfReporter } from "../policy/csrf-alert.js";
import { CsrfRefusal } from "../policy/csrf.js";
import type { OpenWebSockets } from "../proxy/open-websockets.js";
import type { Upstream } from "../proxy/upstream.js";

export interface HandlerDeps {
  log: Logger;
  trusted: TrustedProxies;
  reportCsrf: CsrfReporter;
  metrics: Metrics;
  access: AccessLog;
}

function scopeFor(d: HandlerDeps, kind: ListenerKind, req: http.IncomingMessage): RequestScope {
  const { clientIp, forwardedFor } = resolveClientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"], d.trusted);
  return { id: nextRequestId(), startedAt: performance.now(), listener: kind, clientIp, forwardedFor, path: "", forwardPath: "", query: "", route: "", log: d.log, identity: ANONYMOUS };
}

/** Every error a request or upgrade meets ends here: CSRF refusals are reported, server faults logged. */
function answerFailure(d: HandlerDeps, req: http.IncomingMessage, res: http.ServerResponse, scope: RequestScope, err: unknown): void {
  if (err instanceof CsrfRefusal) d.reportCsrf(req, scope, err.reason);
  const gatewayError = toGatewayError(err);
  if (gatewayError.status >= 500) d.log.error({ requestId: scope.id, err }, "request failed");
  sendError(req, res, scope, gatewayError);
}

/** Runs the stages on a request whose scope is ready; `then` follows when no stage answered. */
function run(d: HandlerDeps, stages: readonly Stage[], req: http.IncomingMessage, res: http.ServerResponse, scope: RequestScope, then?: () => void): void {
  const fail = (err: unknown) => answerFailure(d, req, res, scope, err);
  try {
    rejectDuplicateHost(req);
    Object.assign(scope, normaliseTarget(req.url ?? "/"));
    const result = runStages(stages, { req, res, scope });
    if (result instanceof Promise) (then ? result.then((r) => (r === "done" ? undefined : then())) : result).catch(fail);
    else if (result !== "done") then?.();
  } catch (err) {
    fail(err);
  }
}

export function requestHandler(d: HandlerDeps, stages: readonly Stage[]) {
  return (kind: ListenerKind, req: http.IncomingMessage, res: http.ServerResponse): void => {
    const scope = scopeFor(d, kind, req);
    scope.responseHeaders = { "x-request-id": scope.id };
    answerHeaders(res, scope.responseHeaders);
    res.once("close", () => {
      scope.onClose?.();
      const seconds = (performance.now() - scope.startedAt) / 1000;
      d.metrics.observe(scope.route, res.statusCode, seconds);
      logRequest(d.access, req, res, scope, seconds);
    });
    run(d, stages, req, res, scope);
  };
}

export function upgradeHandler(d: HandlerDeps, stages: readonly Stage[], upstream: Upstream, sockets: OpenWebSockets) {
  return (kind: ListenerKind, req: http.IncomingMessage, socket: net.Socket, head: Buffer): void => {
    socket.on("error", () => undefined);
    const scope = scopeFor(d, kind, req);
    // Refusals are written as ordinary HTTP answers on the socket, by the same stages as requests.
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.shouldKeepAlive = false;
    res.once("finish", () => socket.destroySoon());
    run(d, stages, req, res, scope, () => {
      if (res.headersSent) return;
      res.detachSocket(socket);
      const session = sessionOf(scope.identity);
      if (session) sockets.add(session.id, socket);
      scope.log.info({ requestId: scope.id, path: scope.path, listener: kind, user: principalOf(scope.identity)?.user }, "websocket upgrade");
      try {
        upstream.upgrade(req, socket, head, scope);
      } catch (err) {
        scope.log.error({ requestId: scope.id, err: (err as Error).message }, "websocket upgrade failed");
        socket.destroy();
      }
    });
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
      throw new GatewayError("ERR_BAD_REQUEST", { message: "A request may carry only one Host header." });
    }
  }
}
