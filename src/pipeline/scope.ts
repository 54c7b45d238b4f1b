/** The per-request scope: everything the stages learn about one request, carried in one typed object. */
import type { Logger } from "../log/logger.js";
import type { Principal } from "../sessions/session-service.js";
import type { SessionRecord } from "../store/store.js";

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
  /** Who the request is from, once a credential stage has established it. */
  principal?: Principal;
  /** How: the session cookie, Basic credentials, or the guest principal (requireLogin false). */
  authVia?: "session" | "basic" | "guest";
  session?: SessionRecord;
  /** Basic credentials were sent and refused (answered 401 with WWW-Authenticate). */
  basicFailed?: boolean;
  /** The request carried a session that had timed out at this time. */
  expiredAt?: number;
  /** The store could not be asked about the credential the request carried. */
  storeDown?: boolean;
  /** Called when the response closes (finished or not), by the one "close" listener of the pipeline. */
  onClose?: () => void;
  /** Headers that every answer to this request carries, proxied ones included (X-Session-Expires). */
  responseHeaders?: Record<string, string>;
}
