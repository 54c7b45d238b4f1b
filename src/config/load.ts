/**
 * Loads configuration: the YAML file, then `PORTCULLIS_*` environment overrides, then `${env:}` /
 * `${file:}` substitution, then validation that reports every problem at once; the result is frozen.
 */
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { ConfigError, type ConfigIssue } from "../errors.js";
import { type Config, configSchema, type SiteConfig } from "./schema.js";
import { keyTree, type KeyTree, schemaAt, suggest, takesStructure } from "./keys.js";
import { shown } from "./fields.js";

export const DEFAULT_CONFIG_PATH = "config/portcullis.yaml";

/** Unknown keys longer than this get no "did you mean" (no key is a tenth as long). */
const MAX_HINTED_KEY = 100;

/** Environment variables with the prefix that are not configuration keys. */
const NON_CONFIG_ENV = new Set(["PORTCULLIS_ADMIN_PASSWORD", "PORTCULLIS_CONFIG"]);

export interface LoadOptions {
  /** The YAML file; when undefined, only defaults and the environment apply. */
  file?: string;
  /** A missing file is an error unless this is set (the default path may be absent on a first run). */
  optional?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Where `${file:relative}` paths are resolved; defaults to the working directory. */
  cwd?: string;
}

export interface LoadedConfig {
  config: Config;
  /** The file actually read, or null when none was. */
  source: string | null;
}

type Tree = Record<string, unknown>;

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  let raw: Tree = {};
  let source: string | null = null;
  if (options.file !== undefined) {
    const file = path.resolve(cwd, options.file);
    if (fs.existsSync(file)) {
      raw = readYamlFile(file);
      source = file;
    } else if (!options.optional) {
      throw new ConfigError([{ path: "", message: `config file ${file} does not exist; create it or leave --config out to run on defaults` }], "ERR_CONFIG_FILE");
    }
  }
  return { config: validate(raw, env, cwd), source };
}

/** Validates an already-parsed tree (file contents) together with the environment. */
export function validate(raw: Tree, env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): Config {
  const issues: ConfigIssue[] = [];
  const tree = keyTree(configSchema);
  const merged = structuredClone(raw);
  applyEnvOverrides(merged, env, tree, issues);
  const substitutions: Substitution[] = [];
  const substituted = substitute(merged, env, cwd, [], issues, substitutions) as Tree;
  alignSecurityChannel(substituted);
  const result = configSchema.safeParse(substituted);
  if (result.success) {
    issues.push(...crossFieldIssues(result.data));
  } else {
    issues.push(...result.error.issues.flatMap((issue) => toConfigIssues(issue, tree)));
    // Cross-field rules are checked too, on the tree without the faulty keys, so that one run of
    // `config validate` lists every problem.
    const rest = configSchema.safeParse(withoutPaths(substituted, result.error.issues.flatMap((i) => (i.code === "unrecognized_keys" ? i.keys.map((k) => [...i.path, k]) : [i.path]))));
    if (rest.success) {
      const reported = new Set(issues.map((i) => i.path));
      issues.push(...crossFieldIssues(rest.data).filter((i) => !reported.has(i.path)));
    }
  }
  if (issues.length > 0) throw new ConfigError(issues.map((issue) => withoutSubstitutedText(issue, substitutions)));
  return deepFreeze(result.data!);
}

const siteSectionSchema = z.strictObject({ site: configSchema.shape.site });

/**
 * Validates a `site` section on its own, as a REST write does (SPEC §4): the same fields, messages and
 * cross-field rules as the file, every problem keyed `site.<name>` (unknown names with a "did you mean").
 * Unlike a file there is no `${env:}` / `${file:}` substitution: a value that came over the network
 * must not read the gateway's environment or files.
 */
export function validateSite(raw: Tree): { ok: true; site: SiteConfig } | { ok: false; issues: ConfigIssue[] } {
  const tree = keyTree(configSchema);
  const input = { site: raw };
  const result = siteSectionSchema.safeParse(input);
  if (result.success) {
    const issues = siteIssues(result.data.site);
    return issues.length > 0 ? { ok: false, issues } : { ok: true, site: deepFreeze(result.data.site) };
  }
  const issues = result.error.issues.flatMap((issue) => toConfigIssues(issue, tree));
  const rest = siteSectionSchema.safeParse(withoutPaths(input, result.error.issues.flatMap((i) => (i.code === "unrecognized_keys" ? i.keys.map((k) => [...i.path, k]) : [i.path]))));
  if (rest.success) {
    const reported = new Set(issues.map((i) => i.path));
    issues.push(...siteIssues(rest.data.site).filter((i) => !reported.has(i.path)));
  }
  return { ok: false, issues };
}

/** A copy of `tree` with the values at `paths` removed (so defaults take their place). */
function withoutPaths(tree: Tree, paths: readonly (readonly PropertyKey[])[]): Tree {
  const copy = structuredClone(tree);
  for (const p of paths) {
    // A faulty list item is dropped with its whole list.
    const cut = p.findIndex((k) => typeof k === "number");
    const keys = (cut === -1 ? p : p.slice(0, cut)) as string[];
    if (keys.length === 0) continue;
    let node: unknown = copy;
    for (const k of keys.slice(0, -1)) node = node && typeof node === "object" ? (node as Tree)[k] : undefined;
    if (node && typeof node === "object") delete (node as Tree)[keys[keys.length - 1]!];
  }
  return copy;
}

function readYamlFile(file: string): Tree {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([{ path: "", message: `cannot read ${file}: ${(err as Error).message}` }], "ERR_CONFIG_FILE");
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({ path: "", message: `${file}:${e.linePos?.[0]?.line ?? "?"}:${e.linePos?.[0]?.col ?? "?"} ${e.message.split("\n")[0]}` })),
      "ERR_CONFIG_FILE",
    );
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError([{ path: "", message: `${file} must hold a map of settings at the top level` }], "ERR_CONFIG_FILE");
  }
  return value as Tree;
}

/** `PORTCULLIS_SITE_MAXFAILEDLOGINS=3` → site.maxFailedLogins = "3" (case-insensitive, `_` between levels). */
function applyEnvOverrides(target: Tree, env: NodeJS.ProcessEnv, tree: KeyTree, issues: ConfigIssue[]): void {
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("PORTCULLIS_") || value === undefined || NON_CONFIG_ENV.has(name)) continue;
    const keyPath = resolveEnvName(name.slice("PORTCULLIS_".length).toLowerCase().split("_"), tree);
    if (!keyPath) {
      const hint = suggest(name.slice("PORTCULLIS_".length), envNames(tree));
      issues.push({ path: name, message: `is not a configuration key; ${hint ? `did you mean PORTCULLIS_${hint}?` : "names are PORTCULLIS_<SECTION>_<KEY> such as PORTCULLIS_STORE_REDIS"}` });
      continue;
    }
    let node = target;
    for (const key of keyPath.slice(0, -1)) {
      if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
      node = node[key] as Tree;
    }
    const leaf = schemaAt(configSchema, keyPath);
    node[keyPath[keyPath.length - 1]!] = leaf && takesStructure(leaf) ? envValue(value) : value;
  }
}

/**
 * Lists and maps (access rules, Sentinel maps) may be given as YAML/JSON flow text. Text that only
 * looks like it stays text, for the key's own field to judge; other keys always take the text as it
 * is ("[::1]:9100" for ports.admin, "[A-Z]" for site.passwordComplexity).
 */
function envValue(value: string): unknown {
  const trimmed = value.trim();
  if (!/^[[{]/.test(trimmed)) return value;
  try {
    return YAML.parse(trimmed);
  } catch {
    return value;
  }
}

/** Every leaf's environment name after PORTCULLIS_ (PORTS_SECURE…), for "did you mean" hints. */
function envNames(tree: KeyTree, prefix = ""): string[] {
  return Object.entries(tree).flatMap(([key, child]) => {
    const name = `${prefix}${key.toUpperCase()}`;
    return child ? envNames(child, `${name}_`) : [name];
  });
}

function resolveEnvName(tokens: string[], tree: KeyTree): string[] | null {
  if (tokens.length === 0) return [];
  for (let take = 1; take <= tokens.length; take++) {
    const joined = tokens.slice(0, take).join("");
    const entry = Object.entries(tree).find(([key]) => key.toLowerCase() === joined);
    if (!entry) continue;
    const [key, child] = entry;
    if (take === tokens.length) return [key];
    if (child) {
      const rest = resolveEnvName(tokens.slice(take), child);
      if (rest) return [key, ...rest];
    }
  }
  return null;
}

const REFERENCE = /\$\{(env|file):([^}]+)\}/g;

/** A string value that had `${env:}` / `${file:}` references replaced: what was written and what was read. */
interface Substitution {
  /** The value as written, references and all ("redis://:${env:REDIS_PASSWORD}@redis:6379"). */
  written: string;
  /** The value after substitution. */
  value: string;
  /** The references, one per piece (`${file:/run/secrets/x}`). */
  references: string[];
  /** What each reference was replaced with. */
  pieces: string[];
}

/** Replaces `${env:NAME}` and `${file:path}` in every string value, so secrets can stay out of the file. */
function substitute(value: unknown, env: NodeJS.ProcessEnv, cwd: string, at: (string | number)[], issues: ConfigIssue[], done: Substitution[]): unknown {
  if (typeof value === "string") {
    const references: string[] = [];
    const pieces: string[] = [];
    const result = value.replace(REFERENCE, (whole, kind: string, ref: string) => {
      if (kind === "env") {
        const v = env[ref];
        if (v === undefined) {
          issues.push({ path: formatPath(at), message: `${whole} is not set; export ${ref} or write the value in the file` });
          return "";
        }
        references.push(whole);
        pieces.push(v);
        return v;
      }
      try {
        const content = fs.readFileSync(path.resolve(cwd, ref), "utf8").replace(/\r?\n$/, "");
        references.push(whole);
        pieces.push(content);
        return content;
      } catch (err) {
        issues.push({ path: formatPath(at), message: `${whole} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path` });
        return "";
      }
    });
    if (references.length > 0) done.push({ written: value, value: result, references, pieces });
    return result;
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, env, cwd, [...at, i], issues, done));
  if (value && typeof value === "object" && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, env, cwd, [...at, k], issues, done)]));
  }
  return value;
}

/**
 * Pieces shorter than this are hidden only where the whole value is quoted: a two-character piece
 * found anywhere in a sentence would mostly be a coincidence ("from 1 to 65535"), and is no secret.
 */
const HIDDEN_PIECE_MIN = 4;

/**
 * A problem's message without any text that came from `${env:}` or `${file:}`: those hold secrets
 * (`${file:/run/secrets/ldap}`), and a value that fails validation is otherwise quoted in full
 * (`site.sessionTimeout: "${file:/etc/shadow}"` would print the file). The reference is named instead.
 * Validators quote values in their own ways (JSON, inside a RegExp error, bare), so after the quoted
 * whole value, every long enough piece read is hidden wherever it still appears, in any message.
 */
function withoutSubstitutedText(issue: ConfigIssue, substitutions: readonly Substitution[]): ConfigIssue {
  let message = issue.message;
  const names: string[] = [];
  // Placeholders first, names last: a name may itself contain a piece (a file holding its own path).
  const hide = (text: string, name: string) => {
    if (text === "" || !message.includes(text)) return;
    message = message.split(text).join(`\u0000${names.length}\u0000`);
    names.push(name);
  };
  for (const s of substitutions) {
    const name = s.written === s.references[0] ? `the value read from ${s.references[0]}` : `the value made from ${JSON.stringify(s.written)}`;
    hide(JSON.stringify(s.value), name);
    hide(shown(s.value), name); // as validators quote it: a URL's password already masked
    s.pieces.forEach((piece, i) => {
      if (piece.length < HIDDEN_PIECE_MIN) return;
      hide(piece, s.references[i]!);
      hide(JSON.stringify(piece).slice(1, -1), s.references[i]!);
      for (const line of piece.split(/\r?\n/)) if (line.trim().length >= HIDDEN_PIECE_MIN) hide(line, s.references[i]!);
    });
  }
  if (names.length === 0) return issue;
  return { path: issue.path, message: message.replace(/\u0000(\d+)\u0000/g, (_m, n: string) => names[Number(n)]!) };
}

/**
 * `site.securityChannel` is XNAT's name for the router policy (SPEC §4): a file that says
 * `router.insecure: allow` and nothing of the channel means `any`, and `securityChannel: any` means allow.
 */
function alignSecurityChannel(tree: Tree): void {
  const router = tree.router as Tree | undefined;
  const site = tree.site as Tree | undefined;
  if (router?.insecure === "allow" && (site === undefined || site.securityChannel === undefined)) {
    tree.site = { ...(site ?? {}), securityChannel: "any" };
  }
}

function crossFieldIssues(config: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const { insecure, secure } = effectivePortsOf(config);
  if (insecure === secure) {
    issues.push({ path: "ports.insecure", message: `must differ from ports.secure (both are ${secure} after the prefix)` });
  }
  for (const [key, p] of [["ports.insecure", insecure], ["ports.secure", secure]] as const) {
    if (p > 65535) issues.push({ path: "ports.prefix", message: `makes ${key} ${p}, above 65535; use a shorter prefix` });
  }
  if (config.workers > 1 && !config.store.redis) {
    issues.push({ path: "workers", message: "more than 1 worker needs store.redis (the embedded store is single-process)" });
  }
  issues.push(...siteIssues(config.site));
  if (config.tls.keyStorePassword !== undefined && config.tls.keyStore === undefined) {
    issues.push({ path: "tls.keyStorePassword", message: "is set but tls.keyStore is not; set tls.keyStore or remove the password" });
  }
  if (config.upstream.ca !== undefined && config.upstream.url.protocol !== "https:") {
    issues.push({ path: "upstream.ca", message: "is only used with an https:// upstream.url" });
  }
  issues.push(...ldapIssues(config));
  return issues;
}

/** Site properties that parse one by one but not together (checked for the file and for REST writes). */
function siteIssues(site: SiteConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (site.passwordExpirationType === "date" && !site.passwordExpirationDate) {
    issues.push({ path: "site.passwordExpirationDate", message: 'must be set when passwordExpirationType is "date"' });
  }
  return issues;
}

/** LDAP settings that parse one by one but cannot work together; plaintext binds are refused outright. */
function ldapIssues(config: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const { ldap, security } = config;
  for (const store of ["trustStore", "keyStore"] as const) {
    if (security[`${store}Password`] !== undefined && security[store] === undefined) {
      issues.push({ path: `security.${store}Password`, message: `is set but security.${store} is not; set security.${store} or remove the password` });
    }
  }
  if (ldap.bindPassword !== undefined && ldap.bindDn === undefined) {
    issues.push({ path: "ldap.bindPassword", message: "is set but ldap.bindDn is not; set the service account's DN or remove the password" });
  }
  if (ldap.bindDn !== undefined && !ldap.bindPassword) {
    issues.push({ path: "ldap.bindPassword", message: "must be set when ldap.bindDn is (use ${file:path} or ${env:NAME} to keep it out of the file)" });
  }
  if (!ldap.url) return issues;
  if (ldap.url.protocol === "ldap:" && !ldap.startTls) {
    issues.push({ path: "ldap.url", message: "ldap:// would send passwords in the clear; use ldaps://host:636 or set ldap.startTls: true" });
  }
  if (ldap.url.protocol === "ldaps:" && ldap.startTls) {
    issues.push({ path: "ldap.startTls", message: "is for ldap:// URLs; an ldaps:// connection is encrypted from the start, so remove ldap.startTls" });
  }
  if (!ldap.userBase) issues.push({ path: "ldap.userBase", message: 'must be set when ldap.url is (the subtree holding the people, e.g. "ou=people,dc=example,dc=org")' });
  if (!ldap.userFilter.includes("{username}")) {
    issues.push({ path: "ldap.userFilter", message: `must contain {username}, got "${ldap.userFilter}" (for example "(uid={username})")` });
  }
  for (const key of ["userFilter", "groupFilter"] as const) {
    if (!/^\(.*\)$/s.test(ldap[key])) issues.push({ path: `ldap.${key}`, message: `must be an LDAP filter in parentheses, got "${ldap[key]}"` });
  }
  if (ldap.groupBase && !/\{(dn|username)\}/.test(ldap.groupFilter)) {
    issues.push({ path: "ldap.groupFilter", message: `must contain {dn} or {username}, got "${ldap.groupFilter}" (for example "(member={dn})")` });
  }
  if (ldap.adminGroups.length > 0 && !ldap.groupBase) {
    issues.push({ path: "ldap.adminGroups", message: "needs ldap.groupBase to find the groups in" });
  }
  return issues;
}

/** Listening ports after OMERO's prefix ("1" + 4064 = 14064). */
export function effectivePortsOf(config: Pick<Config, "ports">): { insecure: number; secure: number } {
  const { prefix, insecure, secure } = config.ports;
  return { insecure: Number(`${prefix}${insecure}`), secure: Number(`${prefix}${secure}`) };
}

function toConfigIssues(issue: z.core.$ZodIssue, tree: KeyTree): ConfigIssue[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((key) => {
      const level = issue.path.reduce<KeyTree | null>((t, k) => (t && typeof k === "string" ? t[k] ?? null : null), tree);
      // A name far longer than any key gets no hint: the edit distance costs its length times each key's,
      // and a REST write (SPEC §4) may send 16 KiB of name.
      const hint = level && key.length <= MAX_HINTED_KEY ? suggest(key, Object.keys(level)) : null;
      return { path: formatPath([...issue.path, key] as (string | number)[]), message: `is not a known key${hint ? `; did you mean "${hint}"?` : ""}` };
    });
  }
  if (issue.code === "invalid_type" && issue.expected === "object") {
    return [{ path: formatPath(issue.path as (string | number)[]), message: "must be a map of settings" }];
  }
  if (issue.code === "invalid_type" && issue.expected === "array") {
    return [{ path: formatPath(issue.path as (string | number)[]), message: "must be a list" }];
  }
  return [{ path: formatPath(issue.path as (string | number)[]), message: issue.message }];
}

export function formatPath(at: readonly (string | number | symbol)[]): string {
  return at.reduce<string>((acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), "");
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
