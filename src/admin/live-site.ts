/**
 * The site-config properties as they are now (SPEC §4): the config's `site` section (file, then
 * environment) with the values written over REST laid over it. Those overrides live in the store, one
 * record per property, so two admins changing different properties at once on two processes both keep
 * their change. A write is announced on SITE_CONFIG_CHANGED and every process sharing the store
 * re-reads the overrides then — and also whenever its subscription has been re-established, because
 * announcements sent while it was down are lost.
 */
import type { Clock } from "../clock.js";
import { SiteConfigError } from "../errors.js";
import type { Logger } from "../log/logger.js";
import { recordKind, type Store, type Unsubscribe } from "../store/store.js";
import { validateSite } from "../config/load.js";
import { suggest } from "../config/keys.js";
import { type SiteConfig, type SiteKey, siteFields, siteKeys } from "../config/schema.js";
import { compileSite, type Site } from "../config/site.js";

/** The store record kind of overrides; the record id is the property name. */
export const SITE_CONFIG_KIND = recordKind<SiteOverride>("site-config");
/** The channel a write is announced on; the message lists the changed names (for logs only). */
export const SITE_CONFIG_CHANGED = "site-config-changed";

/** One property's override as stored. */
export interface SiteOverride {
  name: string;
  /** The value as validated (normalised: `"7"` for an integer is stored as 7). */
  value: unknown;
  changedBy: string;
  changedAt: number;
}

export interface SiteChange {
  from: unknown;
  to: unknown;
}

export interface LiveSiteOptions {
  store: Store;
  /** The config's `site` section: what holds where no override is stored. */
  base: SiteConfig;
  clock: Clock;
  log: Logger;
  /** How long to wait before reading the overrides again after the store failed (default 5 s). */
  retryMs?: number;
}

const hint = (name: string | null) => (name ? `; did you mean "${name}"?` : "");

export const isSiteKey = (name: string): name is SiteKey => Object.hasOwn(siteFields, name);

export class LiveSite {
  private site: Site;
  /** store.subscriptionEpoch() when the overrides were last read; any other value means a re-read is due. */
  private epoch: number | null = null;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private retry: NodeJS.Timeout | undefined;
  private unsubscribe: Unsubscribe | undefined;
  private subscribing = false;
  private failing = false;
  private closed = false;

  private readonly overBudget = (source: string, budgetMs: number) =>
    this.o.log.warn({ pattern: source, budgetMs }, "an admin-written pattern ran over its time budget and was taken as no match");

  constructor(private readonly o: LiveSiteOptions) {
    this.site = compileSite(o.base, this.overBudget);
  }

  /**
   * Reads the overrides and subscribes to changes. Never throws: while the store cannot be read the
   * config's values hold, and it is asked again every `retryMs`.
   */
  load(): Promise<void> {
    return this.refresh();
  }

  /** The compiled site now. No I/O (it is called on every request); at most it starts a re-read in the background. */
  current(): Site {
    // While the store fails, the retry timer asks it again: requests do not.
    if (this.o.store.subscriptionEpoch() !== this.epoch && this.reading === null && !this.failing && !this.closed) void this.refresh();
    return this.site;
  }

  /** The config's values (file, then environment): what holds where no override is stored. */
  get base(): SiteConfig {
    return this.o.base;
  }

  /** The raw values now, as a client reads and writes them. */
  values(): SiteConfig {
    return this.current().raw;
  }

  /**
   * Validates `changes` merged over the values now in force (read afresh from the store), then stores
   * them, applies them here and announces them to the other processes. Any problem — a bad value, an
   * unknown name — throws SiteConfigError listing all of them, and nothing is stored. Returns each
   * changed property's value before and after.
   */
  async apply(changes: Readonly<Record<string, unknown>>, who: string): Promise<Record<string, SiteChange>> {
    if (Object.keys(changes).length === 0) return {};
    const overrides = await this.o.store.listRecords(SITE_CONFIG_KIND);
    const before = this.merge(overrides);
    const result = validateSite({ ...before, ...changes });
    if (!result.ok) throw new SiteConfigError(result.issues);
    const names = Object.keys(changes).filter(isSiteKey);
    const changedAt = this.o.clock.now();
    const written = names.map((name): SiteOverride => ({ name, value: result.site[name] ?? null, changedBy: who, changedAt }));
    return this.store(overrides, written, [], before, result.site);
  }

  /**
   * Removes the overrides of `names`, so the config's value (file, then environment) holds again on
   * every process. Unknown names throw SiteConfigError and nothing is removed; a name without an
   * override is no change. Returns each changed property's value before and after.
   */
  async reset(names: readonly string[], who: string): Promise<Record<string, SiteChange>> {
    const unknown = names.filter((n) => !isSiteKey(n));
    if (unknown.length > 0) {
      throw new SiteConfigError(unknown.map((n) => ({ path: `site.${n}`, message: `is not a site-config property${hint(suggest(n, siteKeys))}` })));
    }
    const overrides = await this.o.store.listRecords(SITE_CONFIG_KIND);
    const removed = overrides.filter((r) => names.includes(r.name)).map((r) => r.name);
    if (removed.length === 0) return {};
    const before = this.merge(overrides);
    const after = this.merge(overrides.filter((r) => !removed.includes(r.name)));
    this.o.log.info({ who, names: removed }, "site-config overrides removed");
    return this.store(overrides, [], removed, before, after);
  }

  /** The overrides stored now, read afresh: what was changed at run time, by whom and when. */
  async overrides(): Promise<SiteOverride[]> {
    const records = await this.o.store.listRecords(SITE_CONFIG_KIND);
    return records.filter((r) => isSiteKey(r.name)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Writes and removes overrides as one store change, puts the result in force here and announces it.
   * Returns, for each name written or removed, the value before and after.
   */
  private async store(overrides: readonly SiteOverride[], written: readonly SiteOverride[], removed: readonly string[], before: SiteConfig, after: SiteConfig): Promise<Record<string, SiteChange>> {
    await this.o.store.writeRecords(SITE_CONFIG_KIND, written.map((r) => [r.name, r] as const), removed);
    const names = [...written.map((r) => r.name), ...removed].filter(isSiteKey);
    this.install([...overrides.filter((r) => !(names as string[]).includes(r.name)), ...written]);
    try {
      await this.o.store.publish(SITE_CONFIG_CHANGED, JSON.stringify(names));
    } catch (err) {
      // Stored already: the other processes pick it up when their subscription is re-established.
      this.o.log.warn({ err: (err as Error).message, names }, "could not announce a site-config change");
    }
    return Object.fromEntries(names.map((name) => [name, { from: before[name] ?? null, to: after[name] ?? null }]));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.retry = undefined;
    this.unsubscribe?.();
  }

  /** Reads the overrides; a call while a read is under way makes that read run once more afterwards. */
  private refresh(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.readAgain = false;
        await this.readOnce();
      } while (this.readAgain && !this.closed);
    })().finally(() => (this.reading = null));
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    clearTimeout(this.retry);
    this.retry = undefined;
    this.subscribe();
    try {
      const epoch = this.o.store.subscriptionEpoch();
      this.install(await this.o.store.listRecords(SITE_CONFIG_KIND));
      this.epoch = epoch;
      if (this.failing) this.o.log.info("site-config overrides read again from the store");
      this.failing = false;
      // Not subscribed (yet): announcements cannot reach this process, so it asks the store itself.
      if (epoch === -1) this.scheduleRetry();
    } catch (err) {
      if (!this.failing) this.o.log.warn({ err: (err as Error).message }, "could not read the site-config overrides; the values in force stay until the store answers");
      this.failing = true;
      this.scheduleRetry();
    }
  }

  /**
   * Subscribes in the background: a subscription waits for the connection, and a start must not wait
   * for the store. Once it holds, the overrides are read once more (a change announced before it
   * held was not heard).
   */
  private subscribe(): void {
    if (this.unsubscribe || this.subscribing || this.closed) return;
    this.subscribing = true;
    this.o.store.subscribe(SITE_CONFIG_CHANGED, () => void this.refresh()).then(
      (unsubscribe) => {
        this.subscribing = false;
        if (this.closed) return unsubscribe();
        this.unsubscribe = unsubscribe;
        void this.refresh();
      },
      (err: Error) => {
        this.subscribing = false;
        this.o.log.warn({ err: err.message }, "could not subscribe to site-config changes; will try again");
        this.scheduleRetry();
      },
    );
  }

  private scheduleRetry(): void {
    if (this.closed || this.retry !== undefined) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.refresh();
    }, this.o.retryMs ?? 5_000);
    this.retry.unref();
  }

  /** Puts the merged values in force when they differ from those in force now. */
  private install(overrides: readonly SiteOverride[]): void {
    const values = this.merge(overrides);
    const now = this.site.raw;
    const changed = (Object.keys(siteFields) as SiteKey[]).filter((k) => JSON.stringify(values[k]) !== JSON.stringify(now[k]));
    if (changed.length === 0) return;
    try {
      this.site = compileSite(values, this.overBudget);
      this.o.log.info({ changed }, "site-config values in force changed");
    } catch (err) {
      this.o.log.error({ err: (err as Error).message, changed }, "site-config values could not be compiled; the previous ones stay in force");
    }
  }

  /**
   * The config's values with the stored overrides over them. An override that no longer validates
   * (written by another version, or two writes that only conflict together) gives way to the config's
   * value, and that is logged; unknown names are ignored.
   */
  private merge(overrides: readonly SiteOverride[]): SiteConfig {
    const raw: Record<string, unknown> = { ...this.o.base };
    for (const o of overrides) {
      if (isSiteKey(o.name)) raw[o.name] = o.value;
      else this.o.log.warn({ name: o.name }, "ignoring a stored site-config override with an unknown name");
    }
    const result = validateSite(raw);
    if (result.ok) return result.site;
    this.o.log.error({ problems: result.issues }, "stored site-config overrides are not valid; the config's values are used for those properties");
    for (const issue of result.issues) {
      const name = /^site\.([A-Za-z]+)/.exec(issue.path)?.[1];
      if (name && isSiteKey(name)) raw[name] = this.o.base[name];
    }
    const retried = validateSite(raw);
    return retried.ok ? retried.site : this.o.base;
  }
}
