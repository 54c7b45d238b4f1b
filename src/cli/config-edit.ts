/**
 * `config get` / `config set`: read a key's effective value, and change one key in the YAML file in
 * place, keeping its comments and layout (OMERO's `bin/omero config set`). A change that would make
 * the configuration invalid is refused and the file is left as it was.
 */
import fs from "node:fs";
import YAML from "yaml";
import { ConfigError } from "../errors.js";
import type { z } from "zod";
import { isUrlValue, type FieldKind, type RedisTarget } from "../config/fields.js";
import { formatInterval } from "../config/interval.js";
import { keyTree, schemaAt, suggest, type KeyTree } from "../config/keys.js";
import { validate } from "../config/load.js";
import { configSchema } from "../config/schema.js";

/**
 * When the key already holds a plain value, only that value's characters are replaced, so every
 * other byte of the file (comments, blank lines, quoting) stays as it was.
 */
function spliceScalar(source: string, doc: YAML.Document, segments: string[], value: unknown): string | null {
  const node = doc.getIn(segments, true);
  const isPlain = value === null || ["string", "number", "boolean"].includes(typeof value);
  const replaceable = YAML.isScalar(node) || (YAML.isCollection(node) && node.flow === true);
  if (!replaceable || !node.range) return null;
  if (!isPlain && !Array.isArray(value)) return null;
  const text = Array.isArray(value) ? JSON.stringify(value) : YAML.stringify(value).trimEnd();
  if (text.includes("\n")) return null;
  return source.slice(0, node.range[0]) + text + source.slice(node.range[1]);
}

/**
 * A key that is absent, under a section written as a block: its lines are inserted as text, after the
 * section's last entry (a new top-level section goes at the end of the file), so no other byte moves.
 * Re-printing the whole document instead re-indented comments that stand between two sections.
 */
function insertKey(source: string, doc: YAML.Document, segments: string[], value: unknown): string | null {
  for (let depth = segments.length - 1; depth >= 0; depth--) {
    const parent = depth === 0 ? doc.contents : doc.getIn(segments.slice(0, depth), true);
    if (parent === undefined) continue;
    if (!YAML.isMap(parent) || parent.flow || parent.items.length === 0) return null;
    const rest = segments.slice(depth).reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
    const firstKey = parent.items[0]!.key as YAML.Node;
    if (!firstKey.range) return null;
    // The column of the section's first key (a byte-order mark before it is not indentation).
    const lineStart = source.lastIndexOf("\n", firstKey.range[0] - 1) + 1;
    const indent = " ".repeat(firstKey.range[0] - lineStart - (lineStart === 0 && source.startsWith("\uFEFF") ? 1 : 0));
    const eol = source.includes("\r\n") ? "\r\n" : "\n";
    const lines = YAML.stringify(rest).trimEnd().split("\n").map((line) => indent + line).join(eol) + eol;
    if (depth === 0) return source + (source.endsWith("\n") ? "" : eol) + eol + lines;
    const last = parent.items[parent.items.length - 1]!;
    const end = ((last.value as YAML.Node | null)?.range ?? (last.key as YAML.Node).range)?.[1];
    if (end === undefined) return null;
    const lineEnd = source[end - 1] === "\n" ? end : source.indexOf("\n", end) + 1 || source.length;
    return source.slice(0, lineEnd) + (source[lineEnd - 1] === "\n" ? "" : eol) + lines + source.slice(lineEnd);
  }
  return null;
}

/** Anything else (an empty file, a section written in flow style): the document is changed and written out again. */
function rewrite(doc: YAML.Document, segments: string[], value: unknown): string {
  if (doc.contents === null) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  // A section written without a value (`site:`) becomes a map to hold the key.
  for (let depth = 1; depth < segments.length; depth++) {
    const node = doc.getIn(segments.slice(0, depth), true);
    if (YAML.isScalar(node) && (node.value === null || node.value === "")) doc.setIn(segments.slice(0, depth), doc.createNode({}));
  }
  doc.setIn(segments, value);
  return String(doc);
}

/** Splits "site.maxFailedLogins" into its segments, checking each against the schema. */
export function keyPath(key: string): string[] {
  const segments = key.split(".");
  let level: KeyTree | null = keyTree(configSchema);
  const known: string[] = [];
  for (const segment of segments) {
    if (level === null) {
      // Inside a leaf that is itself structured (store.redis, access.rules): let validation judge.
      known.push(segment);
      continue;
    }
    if (!(segment in level)) {
      const hint = suggest(segment, Object.keys(level));
      throw new ConfigError([{ path: [...known, segment].join("."), message: `is not a known key${hint ? `; did you mean "${hint}"?` : ""}` }]);
    }
    known.push(segment);
    level = level[segment] ?? null;
  }
  return segments;
}

/** Reads a value from a config object by dotted key. */
export function getValue(config: unknown, key: string): unknown {
  return keyPath(key).reduce<unknown>((node, k) => (node && typeof node === "object" ? (node as Record<string, unknown>)[k] : undefined), config);
}

/** What `config get` prints in place of a secret (without --show-secrets). */
export const MASK = "********";

/**
 * Keys whose whole value is a secret. Besides these, any key named like a password or a secret is
 * masked (a key added later is covered without a change here), and so is the password part of any
 * URL (`store.redis`, `mail.smtp`).
 */
const SECRET_KEYS = new Set(["tls.keyStorePassword", "security.trustStorePassword", "security.keyStorePassword", "ldap.bindPassword", "identity.keyEncryptionKey", "upstream.xnat.password"]);

function isSecretKey(segments: readonly string[]): boolean {
  return SECRET_KEYS.has(segments.join(".")) || /(password|secret|keyEncryptionKey)$/i.test(segments[segments.length - 1] ?? "");
}

/** A URL's text with its password (if any) replaced by MASK; anything that is not a URL as it is. */
function urlWithoutPassword(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return text;
  }
  if (url.password === "") return text;
  const marker = "portcullis-masked-password";
  url.password = marker;
  return url.href.replace(marker, MASK);
}

/** `value` (in file notation, under the key `segments`) with every secret masked; `masked` is told when one was. */
function maskSecrets(value: unknown, segments: readonly string[], masked: () => void): unknown {
  if (value === undefined || value === null) return value;
  if (isSecretKey(segments)) {
    masked();
    return MASK;
  }
  if (typeof value === "string" || isUrlValue(value)) {
    const text = typeof value === "string" ? value : value.href;
    const shown = /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(text) ? urlWithoutPassword(text) : text;
    if (shown === text) return value;
    masked();
    return shown;
  }
  if (Array.isArray(value)) return value.map((v) => maskSecrets(v, segments, masked));
  if (typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskSecrets(v, [...segments, k], masked)]));
  return value;
}

/** A parsed value in the notation of the file ("60 seconds", not 60000), for the fields that parse it into something else. */
function inFileNotation(value: unknown, schema: z.ZodType | null): unknown {
  if (schema === null || value === undefined || value === null) return value;
  switch (schema.description as FieldKind | undefined) {
    case "interval":
      return formatInterval(value as number);
    case "rate": {
      const r = value as { count: number; windowMs: number };
      return `${r.count} per ${formatInterval(r.windowMs)}`;
    }
    case "hostPort": {
      const h = value as { host: string; port: number };
      return `${h.host.includes(":") ? `[${h.host}]` : h.host}:${h.port}`;
    }
    case "redis": {
      // The URL, or the Sentinel/Cluster map (its password, if any, is masked by the caller).
      const r = value as RedisTarget;
      if (r.kind === "url") return r.url;
      const nodes = (list: { host: string; port: number }[]) => list.map((n) => `${n.host}:${n.port}`);
      const password = r.password === undefined ? {} : { password: r.password };
      return r.kind === "sentinel" ? { sentinels: nodes(r.sentinels), name: r.name, ...password } : { cluster: nodes(r.nodes), ...password };
    }
  }
  if (typeof value !== "object" || Array.isArray(value) || isUrlValue(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = inFileNotation(v, schemaAt(schema, [k]));
  return out;
}

/**
 * A key's effective value, printed as `config get` shows it: in the file's notation, with secrets
 * (passwords, keys, the password part of URLs) masked unless `showSecrets`. `masked` says whether any was.
 */
export function formatKey(config: unknown, key: string, options: { showSecrets?: boolean } = {}): { text: string; masked: boolean } {
  const segments = keyPath(key);
  const value = inFileNotation(getValue(config, key), schemaAt(configSchema, segments));
  let masked = false;
  const shown = options.showSecrets ? value : maskSecrets(value, segments, () => (masked = true));
  return { text: formatValue(shown), masked };
}

/** Formats a value for printing: scalars as they are, URLs as text, structures as YAML. */
function formatValue(value: unknown): string {
  if (value === undefined) return "";
  if (isUrlValue(value)) return value.href;
  if (value !== null && typeof value === "object") return YAML.stringify(value, (_k, v: unknown) => (isUrlValue(v) ? v.href : v)).trimEnd();
  return String(value);
}

/**
 * Sets `key` to `text` (parsed as YAML, so `5`, `true` and `[a, b]` keep their types) in `file`.
 * Returns the new file text; throws ConfigError (nothing written) if the result would not validate.
 */
export function setValue(file: string, key: string, text: string, env: NodeJS.ProcessEnv = {}): string {
  const segments = keyPath(key);
  const source = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  const doc = YAML.parseDocument(source);
  if (doc.errors.length > 0) throw new ConfigError([{ path: "", message: `${file} is not valid YAML: ${doc.errors[0]!.message}` }], "ERR_CONFIG_FILE");
  let value: unknown;
  try {
    value = YAML.parse(text);
  } catch {
    value = text;
  }
  if (value === null && text.trim() !== "null" && text.trim() !== "~") value = text;
  const next = spliceScalar(source, doc, segments, value) ?? (doc.hasIn(segments) ? null : insertKey(source, doc, segments, value)) ?? rewrite(doc, segments, value);
  validate((YAML.parse(next) ?? {}) as Record<string, unknown>, env);
  fs.writeFileSync(file, next);
  return next;
}
