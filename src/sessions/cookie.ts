/** The session cookie: read from the Cookie header, written with HttpOnly, SameSite=Lax, Path=/ and Secure. */
import type http from "node:http";

/**
 * One pass over a Cookie header: the value of cookie `name` (null when absent, or when the client
 * sent it twice: neither is trusted) and the header without any cookie of that name (undefined when
 * nothing else is left), which is what the upstream may see.
 */
export function splitCookie(header: string | undefined, name: string): { value: string | null; rest: string | undefined } {
  if (!header) return { value: null, rest: undefined };
  // The common header, a single cookie, read without splitting (same answer as the loop below).
  if (header.indexOf(";") === -1) {
    const eq = header.indexOf("=");
    if ((eq === -1 ? header : header.slice(0, eq)).trim() !== name) {
      const trimmed = header.trim();
      return { value: null, rest: trimmed === "" ? undefined : trimmed };
    }
    return { value: eq === -1 ? null : header.slice(eq + 1).trim(), rest: undefined };
  }
  let value: string | null = null;
  let seen = 0;
  let rest = "";
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    const trimmed = part.trim();
    if (trimmed === "") continue;
    if ((eq === -1 ? part : part.slice(0, eq)).trim() === name) {
      if (eq !== -1 && ++seen === 1) value = part.slice(eq + 1).trim();
      continue;
    }
    rest = rest === "" ? trimmed : `${rest}; ${trimmed}`;
  }
  return { value: seen === 1 ? value : null, rest: rest === "" ? undefined : rest };
}

/** The value of cookie `name`, or null. When the client sends it twice, neither is trusted. */
export function readCookie(req: http.IncomingMessage, name: string): string | null {
  return splitCookie(req.headers.cookie, name).value;
}

export interface CookieOptions {
  name: string;
  secure: boolean;
  /** Seconds; omitted for a browser-session cookie, 0 to delete. */
  maxAge?: number;
}

export function sessionCookie(value: string, options: CookieOptions): string {
  const parts = [`${options.name}=${value}`, "Path=/", "HttpOnly", "SameSite=Lax"];
  if (options.secure) parts.push("Secure");
  if (options.maxAge !== undefined) parts.push(`Max-Age=${options.maxAge}`);
  return parts.join("; ");
}

export function clearedCookie(name: string, secure: boolean): string {
  return sessionCookie("", { name, secure, maxAge: 0 });
}

/** The Cookie header without cookie `name`: the gateway's session secret is never passed upstream. */
export function withoutCookie(header: string, name: string): string | undefined {
  return splitCookie(header, name).rest;
}
