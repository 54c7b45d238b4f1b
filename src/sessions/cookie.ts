/** The session cookie: read from the Cookie header, written with HttpOnly, SameSite=Lax, Path=/ and Secure. */
import type http from "node:http";

/**
 * At most this many distinct values of one cookie are read from a header. A browser sends one; a
 * sibling domain that tosses cookies adds a few. Each value may cost a store lookup, so a header
 * stuffed with hundreds cannot turn one request into hundreds (the rest are still removed).
 */
export const MAX_COOKIE_VALUES = 8;

const NONE: readonly string[] = Object.freeze([]);

/**
 * One pass over a Cookie header: every distinct value of cookie `name`, in the order sent, and the
 * header without any cookie of that name (undefined when nothing else is left), which is what the
 * upstream may see. A client may send the name more than once — a sibling domain can toss its own
 * `name=junk` in front of ours (RFC 6265 §8.6) — so no value is dropped for having a twin: callers
 * try them in order. `name =v` (space before `=`) is the same cookie, as browsers and servers read it.
 */
export function splitCookie(header: string | undefined, name: string): { values: readonly string[]; rest: string | undefined } {
  if (!header) return { values: NONE, rest: undefined };
  // The common header, a single cookie, read without splitting (same answer as the loop below).
  if (header.indexOf(";") === -1) {
    const eq = header.indexOf("=");
    if ((eq === -1 ? header : header.slice(0, eq)).trim() !== name) {
      const trimmed = header.trim();
      return { values: NONE, rest: trimmed === "" ? undefined : trimmed };
    }
    return { values: eq === -1 ? NONE : [header.slice(eq + 1).trim()], rest: undefined };
  }
  let values: string[] | undefined;
  let rest = "";
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    const trimmed = part.trim();
    if (trimmed === "") continue;
    if ((eq === -1 ? part : part.slice(0, eq)).trim() === name) {
      if (eq === -1) continue;
      const value = part.slice(eq + 1).trim();
      if (values === undefined) values = [value];
      else if (values.length < MAX_COOKIE_VALUES && !values.includes(value)) values.push(value);
      continue;
    }
    rest = rest === "" ? trimmed : `${rest}; ${trimmed}`;
  }
  return { values: values ?? NONE, rest: rest === "" ? undefined : rest };
}

/** Every distinct value of cookie `name` the request carries, in the order sent (see splitCookie). */
export function readCookies(req: http.IncomingMessage, name: string): readonly string[] {
  return splitCookie(req.headers.cookie, name).values;
}

export interface CookieOptions {
  name: string;
  secure: boolean;
  /** Seconds; omitted for a browser-session cookie, 0 to delete. */
  maxAge?: number;
}

/** A Set-Cookie value for the session (SPEC §6.2); `secure` is false only where §5 lets a session travel in plaintext. */
export function sessionCookie(value: string, options: CookieOptions): string {
  const parts = [`${options.name}=${value}`, "Path=/", "HttpOnly", "SameSite=Lax"];
  if (options.secure) parts.push("Secure");
  if (options.maxAge !== undefined) parts.push(`Max-Age=${options.maxAge}`);
  return parts.join("; ");
}

/** A Set-Cookie value that makes the browser forget the session cookie (same name, path and flags, Max-Age=0). */
export function clearedCookie(name: string, secure: boolean): string {
  return sessionCookie("", { name, secure, maxAge: 0 });
}

/** The Cookie header without cookie `name`: the gateway's session secret is never passed upstream. */
export function withoutCookie(header: string, name: string): string | undefined {
  return splitCookie(header, name).rest;
}
