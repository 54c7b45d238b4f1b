/** When a session ends: at its idle expiry or its absolute limit, whichever comes first (SPEC §6.2). */
import type { SessionRecord } from "../store/store.js";

export function endsAt(s: Pick<SessionRecord, "expiresAt" | "absoluteExpiresAt">): number {
  return Math.min(s.expiresAt, s.absoluteExpiresAt);
}

/** The same as an ISO time: the `X-Session-Expires` header and the `expiresAt` of session JSON. */
export function endsAtText(s: Pick<SessionRecord, "expiresAt" | "absoluteExpiresAt">): string {
  return new Date(endsAt(s)).toISOString();
}
