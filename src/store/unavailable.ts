/**
 * Which failures of the store are an outage — the store cannot serve now, so the gateway fails closed
 * with 503 and the same call may succeed later — and which are bugs that stay errors (500). Decided by
 * what an error is: its class, its system error code, the error class of a Redis reply; never by
 * searching its message for words, which let through any error that happened to contain one and
 * missed every reply class nobody had listed (CLUSTERDOWN, READONLY during a failover).
 */
import { ReplyError as IoredisReplyError } from "ioredis";
import { StoreUnavailableError } from "./store.js";

type ErrorClass = abstract new (...args: never[]) => Error;

/** Every error reply from Redis (ioredis exports the class, untyped). */
const ReplyError: ErrorClass = IoredisReplyError;

/**
 * redis-errors' RedisError, which ioredis does not export: the base class of ReplyError and of
 * ioredis's client-side errors, reached through ReplyError so that no other package is imported.
 */
const RedisError: ErrorClass = Object.getPrototypeOf(ReplyError);

/**
 * ioredis's client-side error classes that mean the command met no working connection. They are
 * not exported either, so they are told by class name among RedisErrors (each class's `name` is its
 * constructor's name): AbortError (the connection closed under the command) and its
 * MaxRetriesPerRequestError (no connection within the retries) and InterruptError,
 * ClusterAllFailedError (no Cluster node answered for the slot map).
 */
const CLIENT_OUTAGES: ReadonlySet<string> = new Set(["AbortError", "InterruptError", "MaxRetriesPerRequestError", "ClusterAllFailedError"]);

/**
 * The error classes (first word) of Redis replies that mean the server cannot serve now and will
 * again without any change to the gateway:
 * - CLUSTERDOWN: a slot has no serving master (Cluster failing over, or not yet set up);
 * - TRYAGAIN: a multi-key command during a slot migration;
 * - LOADING: the server is loading its data set after a restart;
 * - MASTERDOWN: a replica that lost its master and does not serve stale data;
 * - READONLY: a write reached a replica, as a demoted master is after a Sentinel failover;
 * - NOREPLICAS: fewer replicas than min-replicas-to-write are connected;
 * - BUSY: another client's script or function is still running (BUSYKEY, BUSYGROUP are other classes);
 * - MISCONF: writes are refused because a snapshot could not be written to disk;
 * - OOM: writes are refused at maxmemory until keys expire or are evicted.
 * Everything else stays an error: WRONGTYPE, ERR, CROSSSLOT or MOVED (to a standalone client) are
 * bugs or a wrong store.redis; NOAUTH, WRONGPASS and NOPERM are a wrong configuration that must not
 * read as a passing outage. Redis 7 keeps the class of an error raised inside a script; older servers
 * report it as ERR, which stays an error.
 */
const UNAVAILABLE_REPLIES: ReadonlySet<string> = new Set(["CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN", "READONLY", "NOREPLICAS", "BUSY", "MISCONF", "OOM"]);

/** Node system errors of a connection that failed or could not be made (net, dns). */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * ioredis's outage errors that are plain Errors with neither class nor code: known by ioredis's
 * exact text, or by its fixed start where ioredis appends a detail.
 */
const IOREDIS_OUTAGE_MESSAGES: ReadonlySet<string> = new Set([
  "Connection is closed.",
  // No connection now, and no offline queue to wait in (the store fails fast on purpose).
  "Stream isn't writeable and enableOfflineQueue options is false",
  "Cluster isn't ready and enableOfflineQueue options is false",
  // commandTimeout passed without an answer.
  "Command timed out",
  "Cluster is disconnected.",
  "None of startup nodes is available",
]);
const IOREDIS_OUTAGE_STARTS: readonly string[] = [
  // Redirected (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) until maxRedirections: a Cluster changing shape.
  "Too many Cluster redirections.",
  "All sentinels are unreachable",
];

/** True when `err` says the store cannot serve now (fail closed with 503), false for any other error. */
export function isStoreUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  if (err instanceof ReplyError) return isUnavailableReply(err);
  if (err instanceof RedisError) return CLIENT_OUTAGES.has(err.name);
  return err instanceof Error && (isNetworkError(err) || isIoredisOutage(err.message));
}

/** `err` itself when it is no outage or already says so; otherwise a StoreUnavailableError caused by it. */
export function asStoreError(err: unknown): unknown {
  return isStoreUnavailable(err) && !(err instanceof StoreUnavailableError) ? new StoreUnavailableError(err) : err;
}

function isUnavailableReply(reply: Error): boolean {
  const [errorClass] = reply.message.split(" ", 1);
  // A transaction refused because a command in it was (a write inside MULTI on a replica is refused
  // with READONLY when queued, and EXEC then answers EXECABORT); ioredis keeps those as previousErrors.
  if (errorClass === "EXECABORT") return previousErrorsOf(reply).some(isStoreUnavailable);
  return UNAVAILABLE_REPLIES.has(errorClass ?? "");
}

function previousErrorsOf(reply: Error): unknown[] {
  const previous = (reply as { previousErrors?: unknown }).previousErrors;
  return Array.isArray(previous) ? previous : [];
}

function isNetworkError(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === "string" && NETWORK_CODES.has(code);
}

function isIoredisOutage(message: string): boolean {
  return IOREDIS_OUTAGE_MESSAGES.has(message) || IOREDIS_OUTAGE_STARTS.some((start) => message.startsWith(start));
}
