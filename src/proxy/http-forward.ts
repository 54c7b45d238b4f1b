/**
 * The plain-HTTP forwarding path, on an undici Pool with keep-alive connections to the upstream.
 * It replaced http-proxy-3 for HTTP after the benchmark: http-proxy-3 reached 0.30× nginx's
 * throughput in the same run, undici's stream API about 0.7× (README "Benchmark"); http-proxy-3
 * still carries WebSocket upgrades (./websocket.ts).
 *
 * The response body is written by undici straight into the client's response; a client that goes
 * away aborts the upstream request, and an upstream that fails mid-answer ends the client's connection.
 */
import type http from "node:http";
import { PassThrough } from "node:stream";
import { Pool } from "undici";
import type { UrlValue } from "../config/fields.js";
import { upstreamTimeout, upstreamUnreachable } from "../errors.js";
import { sendError } from "../pipeline/respond.js";
import type { RequestScope } from "../pipeline/scope.js";
import type { Stage } from "../pipeline/stage.js";

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

function responseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const connection = headers.connection;
  const named = typeof connection === "string" ? connection.toLowerCase().split(",").map((t) => t.trim()) : [];
  const out: Record<string, string | string[]> = {};
  for (const key in headers) {
    const value = headers[key];
    if (value === undefined || RESPONSE_HOP_BY_HOP.has(key) || named.includes(key)) continue;
    out[key] = value;
  }
  return out;
}

function isTimeout(err: { code?: string }): boolean {
  return err.code === "UND_ERR_HEADERS_TIMEOUT" || err.code === "UND_ERR_BODY_TIMEOUT" || err.code === "UND_ERR_CONNECT_TIMEOUT";
}

/**
 * The abort signal undici takes for a request, as the smallest object that satisfies its
 * EventEmitter form (`on`/`once`/`removeListener` of "abort"). An AbortController per request cost
 * a tenth of the gateway's busy time in the profile.
 */
class ClientGone {
  aborted = false;
  private listener: (() => void) | null = null;
  on(_event: "abort", listener: () => void): this {
    this.listener = listener;
    return this;
  }
  once(event: "abort", listener: () => void): this {
    return this.on(event, listener);
  }
  removeListener(): this {
    this.listener = null;
    return this;
  }
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.listener?.();
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
    delete headers["transfer-encoding"];
    // undici destroys a failed request's body stream; given `req` itself, that would reset the
    // client's connection before the 502/504 could be sent. A pass-through takes the blow instead.
    let body: PassThrough | null = null;
    if (hasBody) {
      body = new PassThrough();
      req.pipe(body);
    }
    // A client that leaves before the answer's headers arrive aborts the upstream request, so its
    // upstream connection does not wait for an answer nobody will read.
    const abort = new ClientGone();
    // Told by the pipeline's own "close" listener (one listener per response, not two).
    scope.onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    pool.stream(
      {
        path: req.url ?? "/",
        method: req.method as "GET",
        headers,
        body,
        opaque: scope,
        signal: abort,
      },
      ({ statusCode, headers: upstreamHeaders, opaque }) => {
        const headers = responseHeaders(upstreamHeaders);
        // Headers the gateway adds to every answer of this request (X-Session-Expires).
        const extra = (opaque as RequestScope).responseHeaders;
        if (extra) Object.assign(headers, extra);
        res.writeHead(statusCode, headers);
        return res;
      },
      (err) => {
        if (!err) return;
        const e = err as NodeJS.ErrnoException;
        if (body) {
          req.unpipe(body);
          // What the client still sends is read and dropped, so the answer can be delivered.
          req.resume();
        }
        if (res.destroyed || res.socket?.destroyed || abort.aborted) {
          // The client went away; undici has already abandoned the upstream request.
          scope.log.debug({ requestId: scope.id, code: e.code }, "client left before the answer was complete");
          res.destroy();
          return;
        }
        if (res.headersSent) {
          // The answer had begun: all that is left is to end the connection.
          options.onError?.("mid-response");
          scope.log.warn({ requestId: scope.id, code: e.code, err: e.message }, "upstream failed mid-response");
          res.destroy();
          return;
        }
        const timedOut = isTimeout(e);
        options.onError?.(timedOut ? "timeout" : "unreachable");
        scope.log.warn({ requestId: scope.id, code: e.code, err: e.message }, timedOut ? "upstream timeout" : "upstream unreachable");
        sendError(req, res, scope, timedOut ? upstreamTimeout() : upstreamUnreachable(e));
      },
    );
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
