/** Errors with a stable code and an HTTP status, so callers switch on `code` and responses are mapped in one place. */

export type ErrorCode =
  | "ERR_CONFIG_INVALID"
  | "ERR_CONFIG_FILE"
  | "ERR_SITE_CONFIG"
  | "ERR_TLS_MATERIAL"
  | "ERR_BAD_PATH"
  | "ERR_BAD_REQUEST"
  | "ERR_HEADERS_TOO_LARGE"
  | "ERR_REQUEST_TIMEOUT"
  | "ERR_INSECURE_REJECTED"
  | "ERR_NOT_FOUND"
  | "ERR_UPSTREAM_UNREACHABLE"
  | "ERR_UPSTREAM_TIMEOUT"
  | "ERR_STORE_UNAVAILABLE"
  | "ERR_FORBIDDEN"
  | "ERR_UNAUTHENTICATED"
  | "ERR_CSRF"
  | "ERR_LOGIN_FAILED"
  | "ERR_TLS_REQUIRED"
  | "ERR_INTERNAL";

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** A short reason that is safe to show to the client. */
  readonly publicMessage: string;

  constructor(code: ErrorCode, status: number, publicMessage: string, options?: { cause?: unknown; message?: string }) {
    super(options?.message ?? publicMessage, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GatewayError";
    this.code = code;
    this.status = status;
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
    super(code, 500, "configuration error", { message: text });
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** A site-config write (SPEC §4) with bad values or unknown names: every problem is listed, nothing was applied. */
export class SiteConfigError extends GatewayError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    super("ERR_SITE_CONFIG", 400, "The site configuration was not changed: some values are not valid.", { message: issues.map((i) => `${i.path}: ${i.message}`).join("\n") });
    this.name = "SiteConfigError";
    this.issues = issues;
  }
}

export class TlsMaterialError extends GatewayError {
  /** The configuration key that names the unusable file. */
  readonly key: string;

  constructor(key: string, problem: string, cause?: unknown) {
    super("ERR_TLS_MATERIAL", 500, "TLS configuration error", { message: `${key}: ${problem}`, cause });
    this.name = "TlsMaterialError";
    this.key = key;
  }
}

export const badPath = (): GatewayError => new GatewayError("ERR_BAD_PATH", 400, "The request path cannot be decoded.");
export const notFound = (): GatewayError => new GatewayError("ERR_NOT_FOUND", 404, "Not found.");
export const upstreamUnreachable = (cause?: unknown): GatewayError =>
  new GatewayError("ERR_UPSTREAM_UNREACHABLE", 502, "The application behind the gateway could not be reached.", { cause });
export const upstreamTimeout = (): GatewayError =>
  new GatewayError("ERR_UPSTREAM_TIMEOUT", 504, "The application behind the gateway did not answer in time.");
