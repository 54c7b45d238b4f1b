/**
 * Field validators for the configuration schema. Each one accepts what a YAML file, an environment
 * variable or a `${env:}` substitution may produce (so `"4064"` is a port as well as `4064`) and
 * reports a problem as a sentence that says what is expected and what was found.
 */
import net from "node:net";
import { z } from "zod";
import { cronProblem } from "./cron.js";
import { IntervalSyntaxError, parseInterval } from "./interval.js";
import { patternProblem } from "./pattern.js";

type Ctx = z.core.$RefinementCtx<unknown>;

/** Stands for "key not written", so that absent keys still run through their field (zod skips plain undefined). */
const ABSENT: unique symbol = Symbol("absent");

/** Shows a found value the way a user wrote it. */
export function shown(value: unknown): string {
  // The password part of a URL-like value is never echoed, even a malformed one ("smtp//u:pw@h").
  if (typeof value === "string") return JSON.stringify(value.replace(/(\/\/[^/?#@\s:]*:)[^@\s]*@/g, "$1********@"));
  if (value === null) return "null";
  if (typeof value === "object") return Array.isArray(value) ? "a list" : "a map";
  return String(value);
}

function fail(ctx: Ctx, message: string): never {
  ctx.addIssue({ code: "custom", message, input: undefined });
  return z.NEVER as never;
}

/**
 * A leaf field: `parse` turns raw input into the typed value or reports why it cannot.
 * `fallback` is used when the key is absent; it is parsed too, so defaults obey the same rules.
 */
function field<T>(parse: (raw: unknown, ctx: Ctx) => T, fallback?: unknown) {
  return z
    .unknown()
    .transform((raw, ctx): T => parse(raw === ABSENT || raw === undefined ? fallback : raw, ctx))
    .prefault(ABSENT as never);
}

function optionalField<T>(parse: (raw: unknown, ctx: Ctx) => T) {
  return z
    .unknown()
    .transform((raw, ctx): T | undefined => (raw === ABSENT || raw === undefined || raw === null || raw === "" ? undefined : parse(raw, ctx)))
    .prefault(ABSENT as never);
}

function asText(raw: unknown, ctx: Ctx, what = "a string"): string {
  if (typeof raw === "string") return raw;
  if (typeof raw === "number" || typeof raw === "boolean") return String(raw);
  return fail(ctx, `must be ${what}, got ${shown(raw)}`);
}

export const text = (fallback: string) => field((raw, ctx) => asText(raw, ctx), fallback);
export const optionalText = () => optionalField((raw, ctx) => asText(raw, ctx));

export const bool = (fallback: boolean) =>
  field((raw, ctx) => {
    if (typeof raw === "boolean") return raw;
    if (raw === "true" || raw === "false") return raw === "true";
    return fail(ctx, `must be true or false, got ${shown(raw)}`);
  }, fallback);

export const integer = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, hint = "") =>
  field((raw, ctx) => {
    const n = typeof raw === "string" && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof n === "number" && Number.isInteger(n) && n >= min && n <= max) return n;
    return fail(ctx, `must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}${hint}, got ${shown(raw)}`);
  }, fallback);

function asPort(raw: unknown, ctx: Ctx): number {
  const n = typeof raw === "string" && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 65535) return n;
  return fail(ctx, `must be a port number (1-65535), got ${shown(raw)}`);
}

export const port = (fallback: number) => field(asPort, fallback);

export const oneOf = <const T extends readonly string[]>(choices: T, fallback: T[number]) =>
  field((raw, ctx): T[number] => {
    if (typeof raw === "string" && (choices as readonly string[]).includes(raw)) return raw as T[number];
    return fail(ctx, `must be one of ${choices.map((c) => JSON.stringify(c)).join(", ")}, got ${shown(raw)}`);
  }, fallback);

export const optionalOneOf = <const T extends readonly string[]>(choices: T) =>
  optionalField((raw, ctx): T[number] => {
    if (typeof raw === "string" && (choices as readonly string[]).includes(raw)) return raw as T[number];
    return fail(ctx, `must be one of ${choices.map((c) => JSON.stringify(c)).join(", ")} or absent, got ${shown(raw)}`);
  });

function asIntervalMs(raw: unknown, ctx: Ctx): number {
  const input = typeof raw === "number" ? `${raw} seconds` : raw;
  if (typeof input !== "string") return fail(ctx, `must be an interval such as "15 minutes", got ${shown(raw)}`);
  try {
    const ms = parseInterval(input);
    if (ms < 0) return fail(ctx, `must not be negative, got ${shown(raw)}`);
    return ms;
  } catch (err) {
    if (err instanceof IntervalSyntaxError) return fail(ctx, `must be an interval such as "15 minutes" or "1 day 2 hours", got ${shown(raw)}`);
    throw err;
  }
}

/**
 * Fields whose parsed form is not what a user writes, kept as the schema's description: `config get`
 * writes intervals, rates, host:port and Redis targets back in the notation of the file ("60 seconds",
 * not 60000), and an environment variable is read as flow YAML ("[a, b]") only for lists and Redis maps.
 */
export type FieldKind = "interval" | "rate" | "hostPort" | "list" | "redis";

/** An interval in PostgreSQL notation, converted to milliseconds. */
export const interval = (fallback: string) => field(asIntervalMs, fallback).describe("interval" satisfies FieldKind);

/** An interval kept as the text the user wrote (site-config values are served back as written). */
export const intervalText = (fallback: string) =>
  field((raw, ctx) => {
    asIntervalMs(raw, ctx);
    return typeof raw === "number" ? `${raw} seconds` : String(raw).trim();
  }, fallback);

export const cron = (fallback: string) =>
  field((raw, ctx) => {
    const expr = asText(raw, ctx, "a six-field cron expression");
    const problem = cronProblem(expr);
    return problem ? fail(ctx, problem) : expr.trim();
  }, fallback);

/** A pattern that RE2 or, for lookaround and backreferences, V8 compiles (./pattern.ts runs it). */
function asRegex(raw: unknown, ctx: Ctx): string {
  const source = asText(raw, ctx, "a regular expression");
  const problem = patternProblem(source);
  return problem === null ? source : fail(ctx, `is not a valid regular expression (${problem}), got ${shown(raw)}`);
}

export const regex = (fallback: string) => field(asRegex, fallback);
export const optionalRegex = () => optionalField(asRegex);

/** A CIDR block ("10.0.0.0/8", "::1/128") or a single address. */
export function asCidr(raw: unknown, ctx: Ctx): string {
  const value = asText(raw, ctx, "a CIDR block such as \"10.0.0.0/8\"").trim();
  const [addr, bits, extra] = value.split("/");
  const family = net.isIP(addr ?? "");
  const max = family === 4 ? 32 : 128;
  const ok = family !== 0 && extra === undefined && (bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max));
  return ok ? value : fail(ctx, `must be a CIDR block such as "10.0.0.0/8" or an IP address, got ${shown(raw)}`);
}

export const list = <T>(item: (raw: unknown, ctx: Ctx) => T, fallback: readonly unknown[]) =>
  field((raw, ctx): T[] => {
    // A comma-separated string is accepted, which is what an environment variable can carry.
    const items = typeof raw === "string" ? raw.split(",").map((s) => s.trim()).filter(Boolean) : raw;
    if (!Array.isArray(items)) return fail(ctx, `must be a list, got ${shown(raw)}`);
    const out: T[] = [];
    items.forEach((entry, index) => {
      const value = item(entry, {
        ...ctx,
        addIssue: (issue: z.core.$ZodRawIssue | string) =>
          ctx.addIssue(typeof issue === "string" ? issue : { ...issue, path: [index, ...(issue.path ?? [])] }),
      } as Ctx);
      out.push(value);
    });
    return out;
  }, fallback).describe("list" satisfies FieldKind);

export const textItem = (raw: unknown, ctx: Ctx) => asText(raw, ctx);
export const regexItem = asRegex;
export const cidrItem = asCidr;

/** A parsed URL as a plain frozen value (a `URL` object cannot be frozen: its parts are setters). */
export interface UrlValue {
  readonly href: string;
  readonly origin: string;
  readonly protocol: string;
  readonly hostname: string;
  readonly host: string;
  readonly port: string;
  readonly pathname: string;
}

export function isUrlValue(v: unknown): v is UrlValue {
  return typeof v === "object" && v !== null && "href" in v && "origin" in v && "protocol" in v;
}

function asUrl(protocols: readonly string[]) {
  return (raw: unknown, ctx: Ctx): UrlValue => {
    const value = asText(raw, ctx, "a URL");
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      return fail(ctx, `must be a URL such as "${protocols[0]}//host:port", got ${shown(raw)}`);
    }
    if (!protocols.includes(parsed.protocol)) {
      return fail(ctx, `must start with ${protocols.map((p) => `${p}//`).join(" or ")}, got ${shown(raw)}`);
    }
    const { href, origin, protocol, hostname, host, port, pathname } = parsed;
    return Object.freeze({ href, origin, protocol, hostname, host, port, pathname });
  };
}

export const url = (protocols: readonly string[], fallback: string) => field(asUrl(protocols), fallback);
export const optionalUrl = (protocols: readonly string[]) => optionalField(asUrl(protocols));

/** The address users reach the gateway at (`https://host[:port]`): an origin, nothing after it. */
export const optionalOrigin = () =>
  optionalField((raw, ctx): string => {
    const parsed = asUrl(["https:"])(raw, ctx);
    if (parsed.pathname !== "/" || parsed.href !== `${parsed.origin}/`) {
      return fail(ctx, `must be only scheme, host and port such as "https://xnat.example.org", got ${shown(raw)}`);
    }
    return parsed.origin;
  });

/** "host:port", as in `ports.admin: 127.0.0.1:4065`. */
export const hostPort = (fallback: string) =>
  field((raw, ctx) => {
    const value = asText(raw, ctx, "host:port");
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value.trim());
    const host = m?.[1] ?? m?.[2];
    const p = Number(m?.[3]);
    if (!m || !host || !Number.isInteger(p) || p < 1 || p > 65535) {
      return fail(ctx, `must be host:port such as "127.0.0.1:4065", got ${shown(raw)}`);
    }
    return { host, port: p };
  }, fallback).describe("hostPort" satisfies FieldKind);

/** "50 per 10 minutes": a count and a window. */
export const rate = (fallback: string) =>
  field((raw, ctx) => {
    const value = asText(raw, ctx, 'a rate such as "50 per 10 minutes"');
    const m = /^\s*(\d+)\s+per\s+(.+)$/i.exec(value);
    if (!m) return fail(ctx, `must be a rate such as "50 per 10 minutes", got ${shown(raw)}`);
    const windowMs = asIntervalMs(m[2], ctx);
    if (windowMs <= 0) return fail(ctx, `must have a window longer than zero, got ${shown(raw)}`);
    return { count: Number(m[1]), windowMs };
  }, fallback).describe("rate" satisfies FieldKind);

/** The URL path where the gateway's own routes live: starts with "/", no trailing slash. */
export const pathPrefix = (fallback: string) =>
  field((raw, ctx) => {
    const value = asText(raw, ctx, "a path");
    if (!/^\/[A-Za-z0-9._~\-/]*[A-Za-z0-9._~-]$/.test(value) || value.includes("//")) {
      return fail(ctx, `must be a path such as "/gateway" (leading slash, no trailing slash), got ${shown(raw)}`);
    }
    return value;
  }, fallback);

/** OMERO's port prefix: digits prepended to every port number ("1" turns 4064 into 14064). */
export const portPrefix = () =>
  field((raw, ctx) => {
    const value = asText(raw, ctx, "digits");
    if (!/^\d*$/.test(value)) return fail(ctx, `must be empty or digits such as "1", got ${shown(raw)}`);
    return value;
  }, "");

/** An HTTP header name (RFC 9110 token). */
export const headerName = (fallback: string) =>
  field((raw, ctx) => {
    const value = asText(raw, ctx, "a header name");
    return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : fail(ctx, `must be an HTTP header name, got ${shown(raw)}`);
  }, fallback);

/** A calendar date or timestamp, kept as the ISO text; absent when empty. */
export const optionalDate = () =>
  optionalField((raw, ctx) => {
    const value = raw instanceof Date ? raw.toISOString() : asText(raw, ctx, "a date");
    return Number.isNaN(Date.parse(value)) ? fail(ctx, `must be a date such as "2026-01-31", got ${shown(raw)}`) : value;
  });

export type RedisNode = { host: string; port: number };
export type RedisTarget =
  | { kind: "url"; url: string }
  | { kind: "sentinel"; sentinels: RedisNode[]; name: string; password?: string }
  | { kind: "cluster"; nodes: RedisNode[]; password?: string };

const REDIS_HINT = '"redis://host:port", { sentinels: [host:port], name } or { cluster: [host:port] }';

function asRedisNode(raw: unknown): RedisNode | null {
  const m = typeof raw === "string" ? /^(.+):(\d+)$/.exec(raw.trim()) : null;
  if (m) return { host: m[1]!, port: Number(m[2]) };
  if (raw && typeof raw === "object" && !Array.isArray(raw)) {
    const r = raw as { host?: unknown; port?: unknown };
    const p = Number(r.port);
    if (typeof r.host === "string" && Number.isInteger(p) && p > 0 && p < 65536) return { host: r.host, port: p };
  }
  return null;
}

export const redisField = () =>
  optionalField((raw, ctx): RedisTarget => {
    if (typeof raw === "string") {
      return /^rediss?:\/\/[^/]/.test(raw) ? { kind: "url", url: raw } : fail(ctx, `must be ${REDIS_HINT}, got ${shown(raw)}`);
    }
    if (raw && typeof raw === "object" && !Array.isArray(raw)) {
      const r = raw as Record<string, unknown>;
      const unknownKeys = Object.keys(r).filter((k) => !["sentinels", "name", "cluster", "password"].includes(k));
      const nodes = (list: unknown) => (Array.isArray(list) && list.length > 0 ? list.map(asRedisNode) : [null]);
      const password = typeof r.password === "string" ? r.password : undefined;
      if (unknownKeys.length === 0 && r.sentinels !== undefined && typeof r.name === "string" && r.cluster === undefined) {
        const sentinels = nodes(r.sentinels);
        if (sentinels.every((n) => n !== null)) return { kind: "sentinel", sentinels: sentinels as RedisNode[], name: r.name, password };
      }
      if (unknownKeys.length === 0 && r.cluster !== undefined && r.sentinels === undefined) {
        const cluster = nodes(r.cluster);
        if (cluster.every((n) => n !== null)) return { kind: "cluster", nodes: cluster as RedisNode[], password };
      }
    }
    return fail(ctx, `must be ${REDIS_HINT}, got ${shown(raw)}`);
  }).describe("redis" satisfies FieldKind);

export { fail };
