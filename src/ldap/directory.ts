/**
 * The directory as a login provider: search-then-bind (SPEC §6.1, issue #4). The service account's
 * connection is kept and shared by searches; every user bind has a connection to itself for the
 * duration of the bind (a small pool of idle ones saves the TLS handshakes), so two users' binds
 * never share one, and at most BIND_POOL_SIZE + 1 sockets stay open between logins.
 */
import { randomUUID } from "node:crypto";
import type { Client, Entry } from "ldapts";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log/logger.js";
import { openLdap, type LdapConnection, type LdapEndpoint } from "./connection.js";
import { fillFilter } from "./filter.js";
import { classifyLdapError, type LdapProblem } from "./problems.js";
import type { LdapTlsMaterial } from "./tls.js";

export interface DirectoryPerson {
  dn: string;
  email?: string;
  displayName?: string;
}

export interface DirectoryIdentity extends DirectoryPerson {
  /** Group names (their `cn`), as found under `ldap.groupBase`. */
  groups: string[];
  admin: boolean;
}

export type DirectoryLogin =
  | { kind: "ok"; identity: DirectoryIdentity }
  | { kind: "not-found" }
  /** More than one entry matched `ldap.userFilter`: refused rather than guessing. */
  | { kind: "ambiguous"; count: number }
  | { kind: "bad-password" }
  | { kind: "unavailable"; problem: LdapProblem };

export interface DirectorySettings {
  endpoint: LdapEndpoint;
  bindDn?: string;
  bindPassword?: string;
  userBase: string;
  userFilter: string;
  groupBase?: string;
  groupFilter: string;
  adminGroups: readonly string[];
}

export function directorySettings(config: Config, tlsMaterial: LdapTlsMaterial): DirectorySettings | null {
  const { ldap } = config;
  if (!ldap.url || !ldap.userBase) return null;
  return {
    endpoint: { url: ldap.url, startTls: ldap.startTls, timeoutMs: ldap.timeout, connectTimeoutMs: ldap.connectTimeout, tls: tlsMaterial },
    bindDn: ldap.bindDn,
    bindPassword: ldap.bindPassword,
    userBase: ldap.userBase,
    userFilter: ldap.userFilter,
    groupBase: ldap.groupBase,
    groupFilter: ldap.groupFilter,
    adminGroups: ldap.adminGroups,
  };
}

const PERSON_ATTRIBUTES = ["mail", "displayName", "cn"];

/** Idle connections kept for user binds; more concurrent logins open more, closed after their bind. */
export const BIND_POOL_SIZE = 4;

function first(entry: Entry, name: string): string | undefined {
  const v = entry[name];
  const value = Array.isArray(v) ? v[0] : v;
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** Thrown inside the directory code with the step it happened at; turned into a result at the edge. */
class DirectoryFailure extends Error {
  constructor(readonly problem: LdapProblem) {
    super(problem.message);
  }
}

/** The problem behind an error thrown by `findPeople` or `groupsOf`. */
export function problemOf(err: unknown, step: string): LdapProblem {
  return err instanceof DirectoryFailure ? err.problem : classifyLdapError(err, step);
}

export interface DirectoryGroup {
  /** The group's `cn`. */
  name: string;
  dn: string;
}

/** "CN=Admins, OU=Groups,dc=x" → "cn=admins,ou=groups,dc=x", for comparing DNs as written by admins. */
function normaliseDn(dn: string): string {
  return dn.toLowerCase().replace(/\s*,\s*/g, ",").replace(/\s*=\s*/g, "=").trim();
}

/**
 * Group names that may become roles: letters, digits, `.`, `_`, `-` and inner spaces only, already in
 * NFKC form. A comma would split into more roles in `X-Remote-Groups`, and look-alike spellings
 * (" admin", full-width letters) would slip past the reserved names.
 */
export function isPlainGroupName(name: string): boolean {
  return /^[\p{L}\p{N}._-]+( [\p{L}\p{N}._-]+)*$/u.test(name) && name.normalize("NFKC") === name;
}

/**
 * Whether one of `groups` is named in `adminGroups`: an entry holding "=" is a group DN and must be
 * that group exactly (the strict form: no look-alike group elsewhere under groupBase qualifies);
 * a plain entry matches the `cn` of any group found, without regard to case (as LDAP compares).
 */
export function inAdminGroup(groups: readonly DirectoryGroup[], adminGroups: readonly string[]): boolean {
  const dns = new Set(adminGroups.filter((a) => a.includes("=")).map(normaliseDn));
  const names = new Set(adminGroups.filter((a) => !a.includes("=")).map((a) => a.toLowerCase()));
  return groups.some((g) => dns.has(normaliseDn(g.dn)) || (isPlainGroupName(g.name) && names.has(g.name.toLowerCase())));
}

export class Directory {
  /** The service connection being opened or open; `current` once it is open. */
  private service: Promise<LdapConnection> | null = null;
  private current: LdapConnection | null = null;
  /** Connections for user binds, not in use now. */
  private readonly idle: LdapConnection[] = [];
  private closed = false;

  constructor(
    readonly settings: DirectorySettings,
    private readonly log: Logger,
  ) {}

  /** Search-then-bind for one login. Never throws: every outcome is a result. */
  async authenticate(username: string, password: string): Promise<DirectoryLogin> {
    // An empty password would be an unauthenticated bind (RFC 4513 §5.1.2), which succeeds.
    if (password.length === 0) return { kind: "bad-password" };
    try {
      const found = await this.findPeople(username);
      if (found.length === 0) {
        // A bind that cannot succeed, so that an unknown name costs what a wrong password costs.
        await this.bindAs(`cn=nobody-${randomUUID()},${this.settings.userBase}`, password).catch(() => false);
        return { kind: "not-found" };
      }
      if (found.length > 1) return { kind: "ambiguous", count: found.length };
      const person = found[0]!;
      const bound = await this.bindAs(person.dn, password);
      if (!bound) return { kind: "bad-password" };
      return { kind: "ok", identity: await this.identityOf(person, username) };
    } catch (err) {
      return { kind: "unavailable", problem: problemOf(err, "directory") };
    }
  }

  /**
   * Who `username` would be after a login, without a password (`explain`): the one entry the user
   * filter finds and its groups. Never throws.
   */
  async lookup(username: string): Promise<Exclude<DirectoryLogin, { kind: "bad-password" }>> {
    try {
      const found = await this.findPeople(username);
      if (found.length === 0) return { kind: "not-found" };
      if (found.length > 1) return { kind: "ambiguous", count: found.length };
      return { kind: "ok", identity: await this.identityOf(found[0]!, username) };
    } catch (err) {
      return { kind: "unavailable", problem: problemOf(err, "directory") };
    }
  }

  private async identityOf(person: DirectoryPerson, username: string): Promise<DirectoryIdentity> {
    const groups = await this.groupsOf(person.dn, username);
    const odd = groups.filter((g) => !isPlainGroupName(g.name));
    if (odd.length > 0) this.log.warn({ user: username, groups: odd.map((g) => g.dn) }, "LDAP groups with names that cannot be roles were ignored");
    const names = groups.filter((g) => isPlainGroupName(g.name)).map((g) => g.name);
    return { ...person, groups: names, admin: inAdminGroup(groups, this.settings.adminGroups) };
  }

  /** The entries `ldap.userFilter` finds for this user name (at most two are asked for). */
  async findPeople(username: string): Promise<DirectoryPerson[]> {
    const filter = fillFilter(this.settings.userFilter, { username });
    const { searchEntries } = await this.withService("user search", (c) =>
      c.search(this.settings.userBase, { scope: "sub", filter, sizeLimit: 2, attributes: PERSON_ATTRIBUTES }),
    );
    return searchEntries.map((e) => {
      const person: DirectoryPerson = { dn: e.dn };
      const email = first(e, "mail");
      const displayName = first(e, "displayName") ?? first(e, "cn");
      if (email) person.email = email;
      if (displayName) person.displayName = displayName;
      return person;
    });
  }

  /** Group names of the entry `dn` (empty when `ldap.groupBase` is not set). */
  async groupsOf(dn: string, username: string): Promise<DirectoryGroup[]> {
    const base = this.settings.groupBase;
    if (!base) return [];
    const filter = fillFilter(this.settings.groupFilter, { dn, username });
    const { searchEntries } = await this.withService("group search", (c) => c.search(base, { scope: "sub", filter, attributes: ["cn"] }));
    return searchEntries.flatMap((e) => {
      const name = first(e, "cn");
      return name === undefined ? [] : [{ name, dn: e.dn }];
    });
  }

  /**
   * Binds as `dn`; false when the directory refuses the password. The connection is taken out of the
   * idle pool (or opened) for this bind alone and only ever used for binds, so no two binds share it
   * and nothing is read under a user's identity; it goes back to the pool afterwards, which spares
   * each login a TLS handshake.
   */
  private async bindAs(dn: string, password: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const pooled = this.takeIdle();
      let connection = pooled;
      if (!connection) {
        try {
          connection = await openLdap(this.settings.endpoint);
        } catch (err) {
          throw new DirectoryFailure(classifyLdapError(err, "user bind connection"));
        }
      }
      let reusable = false;
      try {
        await connection.run((c) => c.bind(dn, password));
        reusable = true;
        return true;
      } catch (err) {
        const problem = classifyLdapError(err, "user bind");
        if (problem.kind === "bad-credentials") {
          reusable = true;
          return false;
        }
        // An idle connection the directory closed meanwhile: the bind is tried once on a fresh one.
        if (pooled && attempt === 1 && problem.kind === "connection-lost") continue;
        throw new DirectoryFailure(problem);
      } finally {
        if (reusable && connection.alive && !this.closed && this.idle.length < BIND_POOL_SIZE) this.idle.push(connection);
        else void connection.close();
      }
    }
  }

  private takeIdle(): LdapConnection | undefined {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (c.alive) return c;
      void c.close();
    }
    return undefined;
  }

  /**
   * Runs `work` on the service connection, opening (and binding) it when there is none. A connection
   * that broke (the directory restarted, a timeout) is discarded and the work tried once more on a
   * fresh one, so a restart costs no failed login.
   */
  private async withService<T>(step: string, work: (c: Client) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const connection = await this.serviceConnection();
      try {
        return await connection.run(work);
      } catch (err) {
        const problem = classifyLdapError(err, step);
        if (problem.kind === "directory-error" || problem.kind === "bad-credentials") throw new DirectoryFailure(problem);
        this.dropService(connection);
        // Only a connection that broke is worth a second try; a refused or untrusted server will refuse again.
        if (attempt >= 2 || (problem.kind !== "connection-lost" && problem.kind !== "timeout")) throw new DirectoryFailure(problem);
        this.log.info({ step, problem: problem.message }, "LDAP service connection lost; opening a new one");
      }
    }
  }

  private async serviceConnection(): Promise<LdapConnection> {
    if (this.closed) throw new DirectoryFailure({ kind: "connection-lost", message: "the directory client is closed" });
    if (this.current && !this.current.alive) this.dropService(this.current);
    if (!this.service) {
      const opening = this.openService();
      this.service = opening;
      opening.then(
        (c) => {
          if (this.service === opening) this.current = c;
        },
        () => {
          if (this.service === opening) this.service = null;
        },
      );
    }
    return this.service;
  }

  private async openService(): Promise<LdapConnection> {
    let connection: LdapConnection;
    try {
      connection = await openLdap(this.settings.endpoint);
    } catch (err) {
      throw new DirectoryFailure(classifyLdapError(err, "service connection"));
    }
    const { bindDn, bindPassword } = this.settings;
    if (bindDn) {
      try {
        await connection.run((c) => c.bind(bindDn, bindPassword ?? ""));
      } catch (err) {
        await connection.close();
        const problem = classifyLdapError(err, "service bind");
        if (problem.kind === "bad-credentials") {
          throw new DirectoryFailure({ ...problem, message: `the service account ${bindDn} was refused; check ldap.bindDn and ldap.bindPassword` });
        }
        throw new DirectoryFailure(problem);
      }
    }
    return connection;
  }

  /** Forgets the service connection if it is still the current one, and closes it. */
  private dropService(connection: LdapConnection): void {
    if (this.current === connection) {
      this.current = null;
      this.service = null;
    }
    void connection.close();
  }

  /** For `/readyz`: the service connection is up (opened and bound now if needed). */
  async check(): Promise<{ ok: true } | { ok: false; problem: LdapProblem }> {
    try {
      await this.withService("readiness check", (c) => c.search("", { scope: "base", filter: "(objectClass=*)", attributes: ["1.1"] }));
      return { ok: true };
    } catch (err) {
      return { ok: false, problem: problemOf(err, "readiness check") };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.service;
    this.service = null;
    this.current = null;
    const idle = this.idle.splice(0);
    const connection = await pending?.catch(() => null);
    await Promise.all([...idle, ...(connection ? [connection] : [])].map((c) => c.close()));
  }
}
