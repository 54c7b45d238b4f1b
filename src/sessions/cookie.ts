/** The session cookie: read from the Cookie header, written with HttpOnly, SameSite=Lax, Path=/ and Secure. */
import type http from "node:http";

/** The value of cookie `name`, or null. When the client sends it twice, neither is trusted. */
export function readCookie(req: http.IncomingMessage, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  let found: string | null = null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq === -1 || part.slice(0, eq).trim() !== name) continue;
    if (found !== null) return null;
    found = part.slice(eq + 1).trim();
  }
  return found;
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
  const kept = header.split(";").filter((part) => {
    const eq = part.indexOf("=");
    return (eq === -1 ? part : part.slice(0, eq)).trim() !== name;
  });
  const joined = kept.map((p) => p.trim()).filter(Boolean).join("; ");
  return joined === "" ? undefined : joined;
}
