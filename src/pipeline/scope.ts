/** The per-request scope: everything the stages learn about one request, carried in one typed object. */
import type { Logger } from "../log/logger.js";
import type { Identity } from "../auth/identity.js";

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
  /** Every other reading of the forwarded path an upstream may take; rules hold for each (see pipeline/path.ts). */
  otherReadings?: string[];
  /** The path to forward: dot segments and repeated slashes removed, encoding kept. */
  forwardPath: string;
  /** The query string including its "?", or "". */
  query: string;
  /** A name for logs: which stage answered ("proxy", "gateway:healthz", "router:redirect"). */
  route: string;
  log: Logger;
  /**
   * Who the request is from: anonymous until the identify phase (auth/credentials.ts) establishes
   * otherwise; the access decision may put the guest in place of nobody.
   */
  identity: Identity;
  /** Called when the response closes (finished or not), by the one "close" listener of the pipeline. */
  onClose?: () => void;
  /** Headers that every answer to this request carries, proxied ones included (X-Session-Expires). */
  responseHeaders?: Record<string, string>;
}
