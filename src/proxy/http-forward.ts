/**
 * The plain-HTTP forwarding path, on an undici Pool with keep-alive connections to the upstream.
 * It replaced http-proxy-3 for HTTP after the benchmark: http-proxy-3 reached 0.30× nginx's
 * throughput in the same run, undici 0.55–0.6× (README "Benchmark"); http-proxy-3 still carries
 * WebSocket upgrades (./websocket.ts).
 *
 * The response body is written by undici straight into the client's response; a client that goes
 * away aborts the upstream request, and an upstream that fails mid-answer ends the client's connection.
 */
import type http from "node:http";
import { PassThrough } from "node:stream";
import { Pool, type Dispatcher } from "undici";
import type { UrlValue } from "../config/fields.js";
import { upstreamTimeout, upstreamUnreachable } from "../errors.js";
import { sendError } from "../pipeline/respond.js";
import type { RequestScope } from "../pipeline/scope.js";
import type { Stage } from "../pipeline/stage.js";
import { dropHeader } from "./strip-headers.js";

export interface HttpForwardOptions {
  url: UrlValue;
  timeoutMs: number;
  ca?: string;
  /** Most connections kept open to the upstream. */
  connections?: number;
  onError?(kind: "unreachable" | "timeout" | "mid-response"): void;
}

/** Response headers that describe the upstream connection, not the message (RFC 9110 §7.6.1). */
const RESPONSE_HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "proxy-authenticate"]);

/**
 * The upstream's raw header list ([name, value, name, value…] as bytes) as the flat list
 * `writeHead` takes, without hop-by-hop headers and those the upstream's `Connection` names.
 */
function responseHeaders(raw: Buffer[], extra: Record<string, string> | undefined): string[] {
  const out: string[] = [];
  let named: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString("latin1");
    const lower = name.toLowerCase();
    if (RESPONSE_HOP_BY_HOP.has(lower)) {
      if (lower === "connection") (named ??= []).push(...raw[i + 1]!.toString("latin1").toLowerCase().split(",").map((t) => t.trim()));
      continue;
    }
    out.push(name, raw[i + 1]!.toString("latin1"));
  }
  if (named) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (named.includes(out[i]!.toLowerCase())) out.splice(i, 2);
  }
  // Headers the gateway adds to every answer of this request (request id, HSTS, X-Session-Expires).
  if (extra) for (const key in extra) out.push(key, extra[key]!);
  return out;
}

/** The Content-Length of a flat header list, or -1. */
function declaredLength(headers: readonly string[]): number {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length === 14 && headers[i]!.toLowerCase() === "content-length") return Number(headers[i + 1]);
  }
  return -1;
}

function isTimeout(err: { code?: string }): boolean {
  return err.code === "UND_ERR_HEADERS_TIMEOUT" || err.code === "UND_ERR_BODY_TIMEOUT" || err.code === "UND_ERR_CONNECT_TIMEOUT";
}

/**
 * One forwarded request, as undici's dispatcher drives it: the answer's head becomes the client's
 * `writeHead`, each body chunk a `write` (pausing undici while the client's socket is full), the end
 * an `end`. A handler of undici's own dispatch interface, not its `stream` API: that wraps every
 * request in an AsyncResource, re-parses the headers into an object and watches the response with
 * `finished()`; without them the gateway served 7–18% more requests per second in A/B runs here.
 */
class ForwardHandler {
  private abortUpstream: ((reason?: Error) => void) | null = null;
  /** The client left: abort as soon as undici hands over the means to. */
  clientGone = false;
  private resume: (() => void) | null = null;
  /** The answer's Content-Length (-1: none, or the body came in several pieces). */
  private whole = -1;
  /** A body that came whole, held for `onComplete`. */
  private last: Buffer | null = null;

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
    private readonly scope: RequestScope,
    private readonly body: PassThrough | null,
    private readonly report: HttpForwardOptions["onError"],
  ) {}

  /** Called by the pipeline when the client's response closes before it was finished. */
  leave(): void {
    if (this.clientGone) return;
    this.clientGone = true;
    this.abortUpstream?.(new Error("client left"));
  }

  onConnect(abort: (reason?: Error) => void): void {
    if (this.clientGone) abort(new Error("client left"));
    else this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx answers (100 Continue, 103 Early Hints) are not relayed; the final one follows.
    if (statusCode < 200) return true;
    const headers = responseHeaders(rawHeaders, this.scope.responseHeaders);
    this.res.writeHead(statusCode, headers);
    this.whole = declaredLength(headers);
    this.resume = resume;
    return true;
  }

  onData(chunk: Buffer): boolean {
    // The whole declared body in one piece: undici completes the message in the same parse, so it is
    // sent with the head by `end` (one write, no cork until the next tick).
    if (chunk.length === this.whole && this.last === null) {
      this.last = chunk;
      return true;
    }
    this.whole = -1;
    if (this.res.write(chunk)) return true;
    this.res.once("drain", this.resume!);
    return false;
  }

  onComplete(): void {
    const last = this.last;
    this.last = null;
    if (last === null) this.res.end();
    else this.res.end(last);
  }

  onError(err: Error): void {
    const { req, res, scope, body } = this;
    const e = err as NodeJS.ErrnoException;
    if (body) {
      req.unpipe(body);
      // What the client still sends is read and dropped, so the answer can be delivered.
      req.resume();
      body.destroy();
    }
    if (this.clientGone || res.destroyed || res.socket?.destroyed) {
      // The client went away; the upstream request is abandoned.
      scope.log.debug({ requestId: scope.id, code: e.code }, "client left before the answer was complete");
      res.destroy();
      return;
    }
    if (res.headersSent) {
      // The answer had begun: all that is left is to end the connection.
      this.report?.("mid-response");
      scope.log.warn({ requestId: scope.id, code: e.code, err: e.message }, "upstream failed mid-response");
      res.destroy();
      return;
    }
    const timedOut = isTimeout(e);
    this.report?.(timedOut ? "timeout" : "unreachable");
    scope.log.warn({ requestId: scope.id, code: e.code, err: e.message }, timedOut ? "upstream timeout" : "upstream unreachable");
    sendError(req, res, scope, timedOut ? upstreamTimeout() : upstreamUnreachable(e));
  }
}

export interface HttpForward {
  stage: Stage;
  close(): Promise<void>;
}

export function createHttpForward(options: HttpForwardOptions): HttpForward {
  const pool = new Pool(options.url.origin, {
    connections: options.connections ?? 256,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    // Both are idle timeouts: waiting for the answer's headers, and any stall while its body streams.
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connect: options.url.protocol === "https:" ? { ca: options.ca, rejectUnauthorized: true } : undefined,
  });

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, scope: RequestScope) => {
    const headers = req.headers;
    // Node has validated the framing; undici frames the body again (chunked when there is no length).
    const hasBody = headers["content-length"] !== undefined ? headers["content-length"] !== "0" : headers["transfer-encoding"] !== undefined;
    dropHeader(headers, "transfer-encoding");
    // undici destroys a failed request's body stream; given `req` itself, that would reset the
    // client's connection before the 502/504 could be sent. A pass-through takes the blow instead.
    let body: PassThrough | null = null;
    if (hasBody) {
      body = new PassThrough();
      req.pipe(body);
    }
    const handler = new ForwardHandler(req, res, scope, body, options.onError);
    // A client that leaves before the answer is complete aborts the upstream request, so its
    // upstream connection does not wait for an answer nobody will read. Told by the pipeline's own
    // "close" listener (one listener per response, not two).
    scope.onClose = () => {
      if (!res.writableFinished) handler.leave();
    };
    pool.dispatch({ path: req.url ?? "/", method: req.method as "GET", headers, body }, handler as unknown as Dispatcher.DispatchHandler);
  };

  return {
    stage: {
      name: "proxy",
      run({ req, res, scope }) {
        scope.route = "proxy";
        forward(req, res, scope);
        return "done";
      },
    },
    close: () => pool.destroy(),
  };
}
