/** Answers the gateway writes itself: errors, short texts and JSON, with headers that suit them. */
import type http from "node:http";
import { ERRORS, GatewayError, type ErrorCode } from "../errors.js";
import { wantsJson } from "./client-kind.js";
import type { RequestScope } from "./scope.js";

/** Headers on every answer the gateway writes itself (not on proxied ones: those are the application's). */
const OWN_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Headers every answer to a request carries (request id, HSTS, X-Session-Expires), given once per
 * request by the pipeline. They are passed to writeHead with the rest rather than set on the response
 * beforehand: Node merges pre-set headers on a slower path, on every proxied response.
 */
const REQUEST_HEADERS = Symbol("portcullis.requestHeaders");
type WithHeaders = http.ServerResponse & { [REQUEST_HEADERS]?: Record<string, string> };

/** Kept on the response under a symbol: a WeakMap entry per request cost more (insert plus GC work). */
export function answerHeaders(res: http.ServerResponse, headers: Record<string, string>): void {
  (res as WithHeaders)[REQUEST_HEADERS] = headers;
}

function writeOwn(res: http.ServerResponse, status: number, contentType: string, body: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { ...OWN_HEADERS, ...(res as WithHeaders)[REQUEST_HEADERS], "content-type": contentType, "content-length": Buffer.byteLength(body), ...extra });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown, extra?: Record<string, string>): void {
  writeOwn(res, status, "application/json; charset=utf-8", JSON.stringify(value), extra);
}

export function sendText(res: http.ServerResponse, status: number, text: string, extra?: Record<string, string>): void {
  writeOwn(res, status, "text/plain; charset=utf-8", `${text}\n`, extra);
}

export function sendHtml(res: http.ServerResponse, status: number, html: string, extra?: Record<string, string>): void {
  writeOwn(res, status, "text/html; charset=utf-8", html, { "content-security-policy": PAGE_CSP, ...extra });
}

export function redirect(res: http.ServerResponse, status: 302 | 303 | 307 | 308, location: string): void {
  writeOwn(res, status, "text/plain; charset=utf-8", `Redirecting to ${location}\n`, { location });
}

/**
 * A refusal as short plain text, for answers where a page or JSON would not help (the plaintext
 * listener's policy, a malformed Host): the status from the error table, its message or `text`.
 */
export function refuseText(res: http.ServerResponse, code: ErrorCode, text: string = ERRORS[code].message): void {
  sendText(res, ERRORS[code].status, text);
}

/** A small page (or JSON for API clients) that says what went wrong and carries the request id. */
export function sendError(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  scope: Pick<RequestScope, "id">,
  err: GatewayError,
  extra?: Record<string, string>,
): void {
  if (wantsJson(req.headers)) {
    sendJson(res, err.status, { error: err.code, message: err.publicMessage, requestId: scope.id }, extra);
    return;
  }
  const title = `${err.status} ${statusText(err.status)}`;
  sendHtml(
    res,
    err.status,
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>` +
      `<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto"><h1>${title}</h1>` +
      `<p>${escapeHtml(err.publicMessage)}</p><p><small>Request id: <code>${escapeHtml(scope.id)}</code></small></p></body></html>\n`,
    extra,
  );
}

/** Maps anything thrown inside a stage to a GatewayError, hiding internals from the client. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  // Fail closed: when the store cannot be reached, nothing that needs it is answered as if it could.
  if ((err as { code?: string })?.code === "ERR_STORE_UNAVAILABLE") {
    return new GatewayError("ERR_STORE_UNAVAILABLE", { cause: err });
  }
  return new GatewayError("ERR_INTERNAL", { cause: err });
}

function statusText(status: number): string {
  const texts: Record<number, string> = { 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout" };
  return texts[status] ?? "Error";
}
