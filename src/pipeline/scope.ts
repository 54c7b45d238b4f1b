/** The per-request scope: everything the stages learn about one request, carried in one typed object. */
import type { Logger } from "../log/logger.js";

export type ListenerKind = "secure" | "insecure";

export interface RequestScope {
  readonly id: string;
  /** `performance.now()` when the request arrived, for latency. */
  readonly startedAt: number;
  readonly listener: ListenerKind;
  /** The client address after `trustedProxies` are taken into account. */
  clientIp: string;
  /** The X-Forwarded-For chain to send upstream (only trusted hops kept). */
  forwardedFor: string;
  /** Percent-decoded, dot-segment-free path, for matching routes and rules. */
  path: string;
  /** `path` with Tomcat `;parameters` dropped, when that differs (see pipeline/path.ts). */
  paramFreePath?: string;
  /** The path to forward: dot segments and repeated slashes removed, encoding kept. */
  forwardPath: string;
  /** The query string including its "?", or "". */
  query: string;
  /** A name for logs: which stage answered ("proxy", "gateway:healthz", "router:redirect"). */
  route: string;
  log: Logger;
}
