/** Logins and small request helpers for the auth integration tests (test/integration/auth/). */
import assert from "node:assert/strict";
import type { TestGateway, TestResponse } from "./gateway.js";

export const COOKIE = "portcullis_session";

/** Headers of a person's browser asking for a page. */
export const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", accept: "text/html,application/xhtml+xml" } as const;
/** Headers of a script asking for data. */
export const SCRIPT = { "user-agent": "curl/8.5.0", accept: "*/*" } as const;
/** Headers of an API client (JSON). */
export const API = { "user-agent": "Mozilla/5.0", accept: "application/json" } as const;

export interface LoginOutcome {
  res: TestResponse;
  /** `portcullis_session=<value>`, ready for a Cookie header; "" when none was set. */
  cookie: string;
  /** The raw Set-Cookie line for the session cookie, or "". */
  setCookie: string;
  csrfToken: string;
}

/** The session Set-Cookie line of a response, or "". */
export function sessionSetCookie(res: TestResponse, name = COOKIE): string {
  const lines = res.headers["set-cookie"] ?? [];
  return lines.find((l) => l.startsWith(`${name}=`)) ?? "";
}

/** The attributes of a Set-Cookie line, lower-cased names (values kept), without the name=value pair. */
export function cookieAttributes(setCookie: string): Map<string, string> {
  const parts = setCookie.split(";").map((p) => p.trim());
  const out = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const eq = p.indexOf("=");
    out.set((eq === -1 ? p : p.slice(0, eq)).toLowerCase(), eq === -1 ? "" : p.slice(eq + 1));
  }
  return out;
}

function outcome(res: TestResponse, name = COOKIE): LoginOutcome {
  const setCookie = sessionSetCookie(res, name);
  const cookie = setCookie ? setCookie.split(";")[0]! : "";
  let csrfToken = "";
  if ((res.headers["content-type"] ?? "").includes("application/json")) {
    const body = res.json<{ csrfToken?: string }>();
    csrfToken = body.csrfToken ?? "";
  }
  return { res, cookie, setCookie, csrfToken };
}

/** A JSON login over TLS; does not assert success. */
export async function tryLogin(gw: TestGateway, username: string, password: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Promise<LoginOutcome> {
  const res = await gw.https("/gateway/login", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body: JSON.stringify({ username, password, ...extra }),
  });
  return outcome(res);
}

/** A JSON login over TLS that must succeed. */
export async function login(gw: TestGateway, username: string, password: string, extra: Record<string, unknown> = {}): Promise<LoginOutcome> {
  const out = await tryLogin(gw, username, password, extra);
  assert.equal(out.res.status, 200, `login of ${username} failed: ${out.res.status} ${out.res.body}`);
  assert.ok(out.cookie, "the login set no session cookie");
  assert.ok(out.csrfToken, "the login answered no csrfToken");
  return out;
}

/** A form login (application/x-www-form-urlencoded) over TLS; does not assert success. */
export async function formLogin(gw: TestGateway, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<LoginOutcome> {
  const res = await gw.https("/gateway/login", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...BROWSER, ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  return outcome(res);
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/** Audit lines with this event, optionally only those after `from` (an index into the log lines). */
export function audits(gw: TestGateway, event: string, from = 0): Record<string, unknown>[] {
  return gw.logs.lines.slice(from).filter((l) => l.audit === true && l.event === event);
}

/** The reasons of `login.failed` audit lines for `user` since `from`. */
export function failureReasons(gw: TestGateway, user: string, from = 0): unknown[] {
  return audits(gw, "login.failed", from).filter((l) => l.user === user).map((l) => l.reason);
}

/** The origin a client of the secure listener uses (Node sends Host: 127.0.0.1:<port>). */
export function ownOrigin(gw: TestGateway): string {
  return `https://127.0.0.1:${gw.securePort}`;
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
