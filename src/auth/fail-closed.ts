/**
 * Store work for a request's credential: an unreachable store leaves the request unauthenticated and
 * marked, so it is answered 503 and never forwarded (fail closed) — unless a credential seen earlier
 * in the same request had already authenticated it.
 */
import type { Exchange } from "../pipeline/stage.js";
import { StoreUnavailableError } from "../store/store.js";
import { STORE_UNAVAILABLE } from "./identity.js";

export function failClosed(x: Exchange, work: Promise<void>): Promise<void> {
  return work.catch((err: unknown) => {
    if (!(err instanceof StoreUnavailableError)) throw err;
    if (x.scope.identity.kind === "anonymous") x.scope.identity = STORE_UNAVAILABLE;
  });
}
