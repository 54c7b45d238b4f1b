/**
 * Errors with a stable code, in one table: each code's HTTP status and the public message a client
 * sees unless a more specific one is given. Every refusal the gateway writes takes its status from
 * here, so callers switch on `code`, tests assert on it, and no status is chosen twice.
 */

export const ERRORS = {
  ERR_BAD_PATH: { status: 400, message: "The request path cannot be decoded." },
  ERR_BAD_REQUEST: { status: 400, message: "The request is not valid." },
  ERR_BAD_HOST: { status: 400, message: "The Host header is not a valid host name." },
  ERR_MALFORMED_REQUEST: { status: 400, message: "Malformed request." },
  ERR_PASSWORD_MISMATCH: { status: 400, message: "The two new passwords differ." },
  ERR_PASSWORD_EMPTY: { status: 400, message: "The password must not be empty." },
  ERR_PASSWORD_COMPLEXITY: { status: 400, message: "The password does not meet the complexity rule." },
  ERR_PASSWORD_REUSED: { status: 400, message: "This password has been used recently; choose another." },
  ERR_RESET_LINK: { status: 400, message: "This reset link is not valid." },
  ERR_UNAUTHENTICATED: { status: 401, message: "Authentication required." },
  ERR_LOGIN_FAILED: { status: 401, message: "The user name or password is not correct." },
  ERR_FORBIDDEN: { status: 403, message: "You do not have access to this page." },
  ERR_CSRF: { status: 403, message: "This request did not come from this site and was refused." },
  ERR_PASSWORD_CHANGE_REQUIRED: { status: 403, message: "The password must be changed first." },
  ERR_INSECURE_REJECTED: { status: 403, message: "This service is available over TLS only." },
  ERR_CREDENTIAL_EXPOSED: { status: 403, message: "Credentials must not be sent over plaintext; they are refused here." },
  ERR_TLS_REQUIRED: { status: 403, message: "WebSockets need TLS here." },
  ERR_NOT_FOUND: { status: 404, message: "Not found." },
  ERR_METHOD_NOT_ALLOWED: { status: 405, message: "Method not allowed." },
  ERR_REQUEST_TIMEOUT: { status: 408, message: "The request took too long to arrive." },
  ERR_BODY_TOO_LARGE: { status: 413, message: "The request body is too large." },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "The request body is not of a type this route reads." },
  ERR_HEADERS_TOO_LARGE: { status: 431, message: "Request header fields too large." },
  ERR_SITE_CONFIG: { status: 400, message: "The site configuration was not changed: some values are not valid." },
  ERR_INTERNAL: { status: 500, message: "The gateway could not handle this request." },
  ERR_CONFIG_INVALID: { status: 500, message: "configuration error" },
  ERR_CONFIG_FILE: { status: 500, message: "configuration error" },
  ERR_TLS_MATERIAL: { status: 500, message: "TLS configuration error" },
  ERR_UPSTREAM_UNREACHABLE: { status: 502, message: "The application behind the gateway could not be reached." },
  ERR_STORE_UNAVAILABLE: { status: 503, message: "Sign-in is unavailable for a moment; please try again shortly." },
  ERR_UPSTREAM_TIMEOUT: { status: 504, message: "The application behind the gateway did not answer in time." },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface GatewayErrorOptions {
  /** A more specific public message than the table's. */
  message?: string;
  /** What the log says (never the client); the public message by default. */
  detail?: string;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** A short reason that is safe to show to the client. */
  readonly publicMessage: string;

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    const publicMessage = options.message ?? ERRORS[code].message;
    super(options.detail ?? publicMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GatewayError";
    this.code = code;
    this.status = ERRORS[code].status;
    this.publicMessage = publicMessage;
  }
}

/** One problem found while loading configuration: the key path it concerns and what to do. */
export interface ConfigIssue {
  path: string;
  message: string;
}

export class ConfigError extends GatewayError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], code: "ERR_CONFIG_INVALID" | "ERR_CONFIG_FILE" = "ERR_CONFIG_INVALID") {
    const text = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("\n");
    super(code, { detail: text });
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** A site-config write (SPEC §4) with bad values or unknown names: every problem is listed, nothing was applied. */
export class SiteConfigError extends GatewayError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super("ERR_SITE_CONFIG", { detail: issues.map((i) => `${i.path}: ${i.message}`).join("\n") });
    this.name = "SiteConfigError";
    this.issues = issues;
  }
}

export class TlsMaterialError extends GatewayError {
  /** The configuration key that names the unusable file. */
  readonly key: string;

  constructor(key: string, problem: string, cause?: unknown) {
    super("ERR_TLS_MATERIAL", { detail: `${key}: ${problem}`, cause });
    this.name = "TlsMaterialError";
    this.key = key;
  }
}

export const badPath = (): GatewayError => new GatewayError("ERR_BAD_PATH");
export const notFound = (): GatewayError => new GatewayError("ERR_NOT_FOUND");
export const upstreamUnreachable = (cause?: unknown): GatewayError => new GatewayError("ERR_UPSTREAM_UNREACHABLE", { cause });
export const upstreamTimeout = (): GatewayError => new GatewayError("ERR_UPSTREAM_TIMEOUT");
