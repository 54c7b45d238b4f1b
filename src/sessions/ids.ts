/**
 * Session secrets: 256 random bits, sent to the browser as `<tag>.<secret>` and stored only as a
 * SHA-256 hash, so a copy of the store does not hold usable cookies. The tag keeps one user's
 * sessions in one Redis Cluster slot.
 */
import { createHash, randomBytes } from "node:crypto";
import { sessionTag } from "../store/store.js";

export interface SessionCredential {
  tag: string;
  /** The hash under which the session is stored. */
  id: string;
}

export function newSessionSecret(user: string): { cookieValue: string; credential: SessionCredential; csrfToken: string } {
  const secret = randomBytes(32).toString("base64url");
  const tag = sessionTag(user);
  return { cookieValue: `${tag}.${secret}`, credential: { tag, id: hashSecret(secret) }, csrfToken: randomBytes(24).toString("base64url") };
}

/**
 * The store key of a session: SHA-256 of the secret, cut to 128 bits (22 characters). The secret
 * keeps its 256 bits; 128 bits of its hash are ample to find it and keep Redis keys short.
 */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest().subarray(0, 16).toString("base64url");
}

/** Reads a cookie value; null for anything that is not of our shape (never looked up). */
export function parseCookieValue(value: string): SessionCredential | null {
  const m = /^([A-Za-z0-9_-]{12})\.([A-Za-z0-9_-]{43})$/.exec(value);
  return m ? { tag: m[1]!, id: hashSecret(m[2]!) } : null;
}
