import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { effectivePortsOf, formatPath, loadConfig, validate } from "../../src/config/load.js";
import { ConfigError, type ConfigIssue } from "../../src/errors.js";

/** The issues of the ConfigError that `fn` throws; fails when it throws nothing or something else. */
function issuesOf(fn: () => unknown, code = "ERR_CONFIG_INVALID"): readonly ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, code);
    return err.issues;
  }
  assert.fail("expected a ConfigError, but nothing was thrown");
}

function invalid(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, cwd?: string): readonly ConfigIssue[] {
  return issuesOf(() => validate(raw, env, cwd));
}

function issueAt(issues: readonly ConfigIssue[], key: string): ConfigIssue {
  const found = issues.find((i) => i.path === key);
  assert.ok(found, `no issue at ${key}; issues: ${JSON.stringify(issues)}`);
  return found;
}

const LOGIN_FAILURE_PREFIX = "Your login attempt failed because the username and password combination you provided was invalid";

describe("validate: defaults", () => {
  const config = validate({}, {});

  it("listens on 4063/4064 on every address with no prefix and the admin listener on 127.0.0.1:4065", () => {
    assert.deepEqual(config.ports, { insecure: 4063, secure: 4064, prefix: "", host: "0.0.0.0", admin: { host: "127.0.0.1", port: 4065 } });
  });

  it("redirects plaintext clients and does not force encryption", () => {
    assert.deepEqual(config.router, { insecure: "redirect", forceEncryption: false });
  });

  it("uses the PEM files under certs/, TLS 1.2 and a one-year HSTS", () => {
    assert.deepEqual(config.tls, {
      cert: "certs/server.pem",
      key: "certs/server.key",
      keyStore: undefined,
      keyStorePassword: undefined,
      minVersion: "TLSv1.2",
      hsts: "max-age=31536000",
    });
    assert.equal(config.tls.keyStore, undefined);
    assert.equal(config.tls.keyStorePassword, undefined);
  });

  it("proxies to http://127.0.0.1:4080 with a 60 second timeout", () => {
    assert.equal(config.upstream.url.protocol, "http:");
    assert.equal(config.upstream.url.origin, "http://127.0.0.1:4080");
    assert.equal(config.upstream.url.href, "http://127.0.0.1:4080/");
    assert.equal(config.upstream.timeout, 60_000);
    assert.equal(config.upstream.ca, undefined);
  });

  it("trusts no proxies and uses the embedded store under data/", () => {
    assert.deepEqual(config.trustedProxies, []);
    assert.deepEqual(config.store, { redis: undefined, dataDir: "data" });
    assert.equal(config.store.redis, undefined);
  });

  it("has LDAP off with the SPEC filters and timeouts", () => {
    assert.deepEqual(config.ldap, {
      url: undefined,
      startTls: false,
      bindDn: undefined,
      bindPassword: undefined,
      userBase: undefined,
      userFilter: "(uid={username})",
      groupBase: undefined,
      groupFilter: "(member={dn})",
      adminGroups: [],
      timeout: 10_000,
      connectTimeout: 5_000,
    });
    assert.equal(config.ldap.url, undefined);
  });

  it("names the session cookie portcullis_session, ends sessions after 12 hours and refuses logins over the cap", () => {
    assert.deepEqual(config.session, { cookieName: "portcullis_session", absoluteTimeout: 12 * 3_600_000, limitPolicy: "refuse" });
  });

  it("allows 50 failures per IP per 10 minutes and caches credentials for a minute", () => {
    assert.deepEqual(config.regulation.maxFailuresPerIp, { count: 50, windowMs: 600_000 });
    assert.equal(config.auth.credentialCacheTtl, 60_000);
  });

  it("sends the X-Remote-* identity headers and a 5 minute X-Portcullis-Assertion", () => {
    assert.deepEqual(config.identity, {
      headers: { user: "X-Remote-User", groups: "X-Remote-Groups", email: "X-Remote-Email", provider: "X-Remote-Provider", name: "X-Remote-Name" },
      assertion: { header: "X-Portcullis-Assertion", ttl: 300_000 },
    });
  });

  it("has no access rules, authenticated by default, no profile, routes under /gateway, one worker, info logging", () => {
    assert.deepEqual(config.access, { defaultPolicy: "authenticated", caseInsensitivePaths: false, rules: [] });
    assert.equal(config.profile, undefined);
    assert.deepEqual(config.paths, { prefix: "/gateway" });
    assert.deepEqual(config.mail, { smtp: undefined, from: undefined, adminEmail: undefined });
    assert.equal(config.workers, 1);
    assert.deepEqual(config.logging, { level: "info" });
  });

  it("has every site.* property of SPEC §4 with its default, intervals kept as text", () => {
    const { uiLoginFailureMessage, ...rest } = config.site;
    assert.deepEqual(rest, {
      securityChannel: "https",
      requireLogin: true,
      refreshGuestFrequency: "1 day",
      restrictUserListAccessToAdmins: true,
      uiAllowNonAdminProjectCreation: true,
      allowNonAdminsToClaimUnassignedSessions: true,
      ipsThatCanSendEmailsThroughRest: "^.*$",
      sessionTimeout: "15 minutes",
      sessionTimeoutMessage: "Session timed out at TIMEOUT_TIME.",
      aliasTokenTimeout: "2 days",
      aliasTokenTimeoutSchedule: "0 0 * * * *",
      concurrentMaxSessions: 1000,
      maxFailedLogins: 5,
      maxFailedLoginsLockoutDuration: "1 hour",
      resetFailedLoginsSchedule: "0 0 * * * *",
      canResetFailedLoginsWithForgotPassword: true,
      inactivityBeforeLockout: "1 year",
      inactivityBeforeLockoutSchedule: "0 0 1 * * ?",
      interactiveAgentIds: [".*MSIE.*", ".*Mozilla.*", ".*AppleWebKit.*", ".*Opera.*"],
      dataPaths: ["/xapi/**", "/data/**", "/REST/**", "/fs/**"],
      passwordComplexity: "^.*$",
      passwordComplexityMessage: "Password is not sufficiently complex.",
      passwordExpirationType: "disabled",
      passwordExpirationInterval: "1 year",
      passwordExpirationDate: undefined,
      passwordReuseRestriction: "none",
      passwordHistoryDuration: "1 year",
      requireSaltedPasswords: false,
      enableCsrfToken: true,
      csrfEmailAlert: false,
    });
    assert.ok(uiLoginFailureMessage.startsWith(LOGIN_FAILURE_PREFIX), uiLoginFailureMessage);
    assert.ok(uiLoginFailureMessage.includes("After %d failed login attempts"), uiLoginFailureMessage);
    assert.equal(config.site.passwordExpirationDate, undefined);
  });

  it("returns a deeply frozen result", () => {
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.ports));
    assert.ok(Object.isFrozen(config.ports.admin));
    assert.ok(Object.isFrozen(config.site.dataPaths));
    assert.ok(Object.isFrozen(config.identity.headers));
    assert.throws(() => {
      (config.ports as { secure: number }).secure = 1;
    }, TypeError);
    assert.throws(() => {
      (config.site.dataPaths as string[]).push("/x/**");
    }, TypeError);
    assert.equal(config.ports.secure, 4064);
  });

  it("does not let code change the upstream URL of a frozen result", () => {
    const fresh = validate({}, {});
    try {
      (fresh.upstream.url as URL).port = "9999";
    } catch {
      // refusing the write is fine too
    }
    assert.equal(fresh.upstream.url.href, "http://127.0.0.1:4080/");
  });

  it("gives a fresh result for each call that is not affected by the input later changing", () => {
    const raw: Record<string, unknown> = { ports: { secure: 5443 } };
    const first = validate(raw, {});
    (raw.ports as Record<string, unknown>).secure = 6443;
    assert.equal(first.ports.secure, 5443);
  });
});

describe("validate: values", () => {
  it("accepts string forms of numbers and booleans, as an environment variable carries them", () => {
    const config = validate(
      {
        ports: { secure: "5443", insecure: " 5080 " },
        router: { forceEncryption: "true" },
        site: { maxFailedLogins: "-1", requireLogin: "false", concurrentMaxSessions: "3" },
        workers: "2",
        store: { redis: "redis://r:6379" },
      },
      {},
    );
    assert.equal(config.ports.secure, 5443);
    assert.equal(config.ports.insecure, 5080);
    assert.equal(config.router.forceEncryption, true);
    assert.equal(config.site.maxFailedLogins, -1);
    assert.equal(config.site.requireLogin, false);
    assert.equal(config.site.concurrentMaxSessions, 3);
    assert.equal(config.workers, 2);
  });

  it("converts intervals to milliseconds but keeps site intervals as written", () => {
    const config = validate({ upstream: { timeout: "2 minutes" }, ldap: { timeout: 3 }, site: { sessionTimeout: " 1 day 2 hours ", aliasTokenTimeout: 90 } }, {});
    assert.equal(config.upstream.timeout, 120_000);
    assert.equal(config.ldap.timeout, 3_000);
    assert.equal(config.site.sessionTimeout, "1 day 2 hours");
    assert.equal(config.site.aliasTokenTimeout, "90 seconds");
  });

  it("reads a rate and host:port forms, including a bracketed IPv6 host", () => {
    const config = validate({ regulation: { maxFailuresPerIp: "10 per 1 hour" }, ports: { admin: "[::1]:9000" } }, {});
    assert.deepEqual(config.regulation.maxFailuresPerIp, { count: 10, windowMs: 3_600_000 });
    assert.deepEqual(config.ports.admin, { host: "::1", port: 9000 });
  });

  it("fills access rules with empty lists and upper-cases their methods", () => {
    const config = validate({ access: { rules: [{ paths: ["/r/**"], methods: ["post", "Get"], networks: ["10.0.0.0/8"], policy: "deny" }] } }, {});
    assert.deepEqual(config.access.rules, [{ paths: ["/r/**"], methods: ["POST", "GET"], networks: ["10.0.0.0/8"], ipRegex: undefined, groups: [], users: [], policy: "deny" }]);
  });

  it("accepts a comma-separated string where a list is expected", () => {
    const config = validate({ trustedProxies: "10.0.0.0/8, 192.168.0.0/16,::1", site: { dataPaths: "/a/**,/b/**" } }, {});
    assert.deepEqual(config.trustedProxies, ["10.0.0.0/8", "192.168.0.0/16", "::1"]);
    assert.deepEqual(config.site.dataPaths, ["/a/**", "/b/**"]);
  });

  it("treats an empty optional value as absent", () => {
    const config = validate({ ldap: { url: "" }, tls: { keyStore: null }, store: { redis: "" } }, {});
    assert.equal(config.ldap.url, undefined);
    assert.equal(config.tls.keyStore, undefined);
    assert.equal(config.store.redis, undefined);
  });

  it("reads store.redis as a redis:// or rediss:// URL", () => {
    assert.deepEqual(validate({ store: { redis: "redis://r:6379/0" } }, {}).store.redis, { kind: "url", url: "redis://r:6379/0" });
    assert.deepEqual(validate({ store: { redis: "rediss://user:pw@r:6380" } }, {}).store.redis, { kind: "url", url: "rediss://user:pw@r:6380" });
  });

  it("reads store.redis as a Sentinel group of host:port strings or maps", () => {
    const config = validate({ store: { redis: { sentinels: ["s1:26379", { host: "s2", port: 26380 }], name: "mymaster", password: "pw" } } }, {});
    assert.deepEqual(config.store.redis, {
      kind: "sentinel",
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26380 },
      ],
      name: "mymaster",
      password: "pw",
    });
  });

  it("reads store.redis as Cluster nodes", () => {
    const config = validate({ store: { redis: { cluster: ["c1:7000", "c2:7001"] } } }, {});
    assert.deepEqual(config.store.redis, {
      kind: "cluster",
      nodes: [
        { host: "c1", port: 7000 },
        { host: "c2", port: 7001 },
      ],
      password: undefined,
    });
  });

  const badRedis: [string, unknown, string][] = [
    ["an http URL", "http://r:6379", '"http://r:6379"'],
    ["a URL without a host", "redis://", '"redis://"'],
    ["an empty Sentinel list", { sentinels: [], name: "m" }, "a map"],
    ["Sentinels without a group name", { sentinels: ["s1:26379"] }, "a map"],
    ["a Cluster node without a port", { cluster: ["nope"] }, "a map"],
    ["a map with an unknown key", { cluster: ["a:1"], extra: 1 }, "a map"],
    ["both sentinels and cluster", { sentinels: ["s:1"], name: "m", cluster: ["c:1"] }, "a map"],
    ["a number", 5, "5"],
    ["a list", ["redis://x"], "a list"],
  ];
  for (const [what, value, shown] of badRedis) {
    it(`refuses store.redis given ${what}, naming the accepted forms`, () => {
      const issue = issueAt(invalid({ store: { redis: value } }), "store.redis");
      assert.equal(issue.message, `must be "redis://host:port", { sentinels: [host:port], name } or { cluster: [host:port] }, got ${shown}`);
    });
  }
});

describe("validate: problems", () => {
  it("reports every problem at once with its key path", () => {
    const issues = invalid({
      ports: { secure: "44x", insecure: 0, admin: "nope" },
      tls: { minVersion: "TLSv1.1" },
      prots: {},
      site: { maxFailedLogin: 3, sessionTimeout: "15 minutez", aliasTokenTimeoutSchedule: "0 0 * * *" },
    });
    assert.deepEqual(
      [...issues].sort((a, b) => a.path.localeCompare(b.path)),
      [
        { path: "ports.admin", message: 'must be host:port such as "127.0.0.1:4065", got "nope"' },
        { path: "ports.insecure", message: "must be a port number (1-65535), got 0" },
        { path: "ports.secure", message: 'must be a port number (1-65535), got "44x"' },
        { path: "prots", message: 'is not a known key; did you mean "ports"?' },
        { path: "site.aliasTokenTimeoutSchedule", message: 'must have six fields (second minute hour day-of-month month day-of-week), got 5: "0 0 * * *"' },
        { path: "site.maxFailedLogin", message: 'is not a known key; did you mean "maxFailedLogins"?' },
        { path: "site.sessionTimeout", message: 'must be an interval such as "15 minutes" or "1 day 2 hours", got "15 minutez"' },
        { path: "tls.minVersion", message: 'must be one of "TLSv1.2", "TLSv1.3", got "TLSv1.1"' },
      ],
    );
  });

  it("throws a ConfigError whose code is ERR_CONFIG_INVALID and whose message lists path: problem lines", () => {
    assert.throws(
      () => validate({ ports: { secure: "44x" }, workers: 0 }, {}),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.code, "ERR_CONFIG_INVALID");
        assert.equal(err.name, "ConfigError");
        assert.equal(err.message, 'ports.secure: must be a port number (1-65535), got "44x"\nworkers: must be a whole number from 1 to 64, got 0');
        return true;
      },
    );
  });

  it("reports field problems and cross-field problems together", () => {
    const issues = invalid({ workers: 2, ports: { secure: "44x" } });
    issueAt(issues, "ports.secure");
    issueAt(issues, "workers");
  });

  it("says 'is not a known key' without a hint when nothing is close", () => {
    const issue = issueAt(invalid({ zzzzzzzzzzzz: 1 }), "zzzzzzzzzzzz");
    assert.equal(issue.message, "is not a known key");
  });

  it("hints the closest known key inside nested sections", () => {
    assert.equal(issueAt(invalid({ identity: { headers: { usr: "X-U" } } }), "identity.headers.usr").message, 'is not a known key; did you mean "user"?');
    assert.equal(issueAt(invalid({ upstream: { timout: "1 minute" } }), "upstream.timout").message, 'is not a known key; did you mean "timeout"?');
  });

  it("reports list items by index", () => {
    const issues = invalid({ trustedProxies: ["10.0.0.0/8", "bad", "1.2.3.4/33"] });
    assert.deepEqual(issues, [
      { path: "trustedProxies[1]", message: 'must be a CIDR block such as "10.0.0.0/8" or an IP address, got "bad"' },
      { path: "trustedProxies[2]", message: 'must be a CIDR block such as "10.0.0.0/8" or an IP address, got "1.2.3.4/33"' },
    ]);
  });

  it("reports access rule problems by rule index", () => {
    const issues = invalid({
      access: { rules: [{ paths: ["/a/**"], policy: "nope" }, { policy: "bypass" }, { paths: ["/x"], networks: ["x"], extra: 1 }] },
    });
    assert.deepEqual(issues, [
      { path: "access.rules[0].policy", message: 'must be one of "bypass", "authenticated", "admin", "deny", got "nope"' },
      { path: "access.rules[1].paths", message: "must list at least one path pattern" },
      { path: "access.rules[2].networks[0]", message: 'must be a CIDR block such as "10.0.0.0/8" or an IP address, got "x"' },
      { path: "access.rules[2].extra", message: "is not a known key" },
    ]);
  });

  it("reports a section that is not a map and a list that is not a list", () => {
    assert.deepEqual(invalid({ ports: "x", access: { rules: "nope" }, site: [] }), [
      { path: "ports", message: "must be a map of settings" },
      { path: "access.rules", message: "must be a list" },
      { path: "site", message: "must be a map of settings" },
    ]);
  });

  const bad: [string, Record<string, unknown>, string, string][] = [
    ["a port above 65535", { ports: { secure: 70000 } }, "ports.secure", "must be a port number (1-65535), got 70000"],
    ["a non-boolean", { router: { forceEncryption: "yes" } }, "router.forceEncryption", 'must be true or false, got "yes"'],
    ["an unknown router policy", { router: { insecure: "maybe" } }, "router.insecure", 'must be one of "redirect", "reject", "allow", got "maybe"'],
    ["an ftp upstream", { upstream: { url: "ftp://x" } }, "upstream.url", 'must start with http:// or https://, got "ftp://x"'],
    ["an upstream that is not a URL", { upstream: { url: "not a url" } }, "upstream.url", 'must be a URL such as "http://host:port", got "not a url"'],
    ["a garbage timeout", { upstream: { timeout: "soon" } }, "upstream.timeout", 'must be an interval such as "15 minutes" or "1 day 2 hours", got "soon"'],
    ["a negative interval", { site: { sessionTimeout: "-5 minutes" } }, "site.sessionTimeout", 'must not be negative, got "-5 minutes"'],
    ["an http LDAP URL", { ldap: { url: "http://l" } }, "ldap.url", 'must start with ldap:// or ldaps://, got "http://l"'],
    ["a cookie name with a space", { session: { cookieName: "bad name" } }, "session.cookieName", 'must be an HTTP header name, got "bad name"'],
    ["a rate without per", { regulation: { maxFailuresPerIp: "lots" } }, "regulation.maxFailuresPerIp", 'must be a rate such as "50 per 10 minutes", got "lots"'],
    ["an unknown profile", { profile: "omero" }, "profile", 'must be one of "xnat" or absent, got "omero"'],
    ["a gateway prefix with a trailing slash", { paths: { prefix: "/gateway/" } }, "paths.prefix", 'must be a path such as "/gateway" (leading slash, no trailing slash), got "/gateway/"'],
    ["a port prefix that is not digits", { ports: { prefix: "1x" } }, "ports.prefix", 'must be empty or digits such as "1", got "1x"'],
    ["maxFailedLogins below -1", { site: { maxFailedLogins: -2 } }, "site.maxFailedLogins", "must be a whole number from -1 up (-1 never locks), got -2"],
    ["a fractional session cap", { site: { concurrentMaxSessions: 1.5 } }, "site.concurrentMaxSessions", "must be a whole number from 1 up, got 1.5"],
    ["65 workers", { workers: 65 }, "workers", "must be a whole number from 1 to 64, got 65"],
    ["a date that is not a date", { site: { passwordExpirationDate: "notadate" } }, "site.passwordExpirationDate", 'must be a date such as "2026-01-31", got "notadate"'],
    ["a seven-field schedule", { site: { resetFailedLoginsSchedule: "0 0 * * * * *" } }, "site.resetFailedLoginsSchedule", 'must have six fields (second minute hour day-of-month month day-of-week), got 7: "0 0 * * * * *"'],
    ["a map where text is expected", { tls: { cert: { a: 1 } } }, "tls.cert", "must be a string, got a map"],
  ];
  for (const [what, raw, key, message] of bad) {
    it(`refuses ${what} at ${key}`, () => {
      assert.deepEqual(invalid(raw), [{ path: key, message }]);
    });
  }

  it("refuses a bad regular expression, in a single value and in a list item", () => {
    const issues = invalid({ site: { passwordComplexity: "(", interactiveAgentIds: ["ok", "(["] } });
    assert.match(issueAt(issues, "site.passwordComplexity").message, /^is not a valid regular expression \(.*\), got "\("$/);
    assert.match(issueAt(issues, "site.interactiveAgentIds[1]").message, /^is not a valid regular expression \(.*\), got "\(\["$/);
    assert.equal(issues.length, 2);
  });
});

describe("validate: cross-field rules", () => {
  it("refuses more than one worker without store.redis", () => {
    assert.deepEqual(invalid({ workers: 2 }), [{ path: "workers", message: "more than 1 worker needs store.redis (the embedded store is single-process)" }]);
  });

  it("accepts several workers with store.redis", () => {
    assert.equal(validate({ workers: 4, store: { redis: "redis://r:6379" } }, {}).workers, 4);
  });

  it("applies the port prefix: \"1\" gives 14063/14064", () => {
    const config = validate({ ports: { prefix: "1" } }, {});
    assert.equal(config.ports.prefix, "1");
    assert.deepEqual(effectivePortsOf(config), { insecure: 14063, secure: 14064 });
    assert.deepEqual(effectivePortsOf(validate({ ports: { prefix: 1 } }, {})), { insecure: 14063, secure: 14064 });
    assert.deepEqual(effectivePortsOf(validate({}, {})), { insecure: 4063, secure: 4064 });
  });

  it("refuses a prefix that pushes a port above 65535", () => {
    assert.deepEqual(invalid({ ports: { prefix: "7" } }), [
      { path: "ports.prefix", message: "makes ports.insecure 74063, above 65535; use a shorter prefix" },
      { path: "ports.prefix", message: "makes ports.secure 74064, above 65535; use a shorter prefix" },
    ]);
  });

  it("refuses an insecure port equal to the secure one", () => {
    assert.deepEqual(invalid({ ports: { insecure: 4064 } }), [{ path: "ports.insecure", message: "must differ from ports.secure (both are 4064 after the prefix)" }]);
  });

  it("refuses passwordExpirationType date without a date, and accepts it with one", () => {
    assert.deepEqual(invalid({ site: { passwordExpirationType: "date" } }), [
      { path: "site.passwordExpirationDate", message: 'must be set when passwordExpirationType is "date"' },
    ]);
    assert.equal(validate({ site: { passwordExpirationType: "date", passwordExpirationDate: "2026-01-31" } }, {}).site.passwordExpirationDate, "2026-01-31");
  });

  it("keeps a YAML date as ISO text", () => {
    const config = validate({ site: { passwordExpirationType: "date", passwordExpirationDate: new Date("2026-01-31T00:00:00Z") } }, {});
    assert.equal(config.site.passwordExpirationDate, "2026-01-31T00:00:00.000Z");
  });

  it("refuses tls.keyStorePassword without tls.keyStore", () => {
    assert.deepEqual(invalid({ tls: { keyStorePassword: "x" } }), [
      { path: "tls.keyStorePassword", message: "is set but tls.keyStore is not; set tls.keyStore or remove the password" },
    ]);
    assert.equal(validate({ tls: { keyStore: "ks.p12", keyStorePassword: "x" } }, {}).tls.keyStorePassword, "x");
  });

  it("refuses upstream.ca with an http upstream and accepts it with https", () => {
    assert.deepEqual(invalid({ upstream: { ca: "ca.pem" } }), [{ path: "upstream.ca", message: "is only used with an https:// upstream.url" }]);
    const config = validate({ upstream: { ca: "ca.pem", url: "https://app.internal:8443" } }, {});
    assert.equal(config.upstream.ca, "ca.pem");
    assert.equal(config.upstream.url.href, "https://app.internal:8443/");
  });

  it("sets site.securityChannel to any when router.insecure is allow and the channel is not written", () => {
    const config = validate({ router: { insecure: "allow" } }, {});
    assert.equal(config.router.insecure, "allow");
    assert.equal(config.site.securityChannel, "any");
    assert.equal(validate({ router: { insecure: "allow" }, site: { requireLogin: false } }, {}).site.securityChannel, "any");
  });

  it("keeps an explicit site.securityChannel and leaves it https for redirect and reject", () => {
    assert.equal(validate({ router: { insecure: "allow" }, site: { securityChannel: "https" } }, {}).site.securityChannel, "https");
    assert.equal(validate({ router: { insecure: "reject" } }, {}).site.securityChannel, "https");
    assert.equal(validate({ router: { insecure: "redirect" } }, {}).site.securityChannel, "https");
  });
});

describe("validate: environment overrides", () => {
  it("applies PORTCULLIS_STORE_REDIS, PORTCULLIS_SITE_MAXFAILEDLOGINS and PORTCULLIS_TLS_MINVERSION", () => {
    const config = validate({}, { PORTCULLIS_STORE_REDIS: "redis://e:6379", PORTCULLIS_SITE_MAXFAILEDLOGINS: "3", PORTCULLIS_TLS_MINVERSION: "TLSv1.3" });
    assert.deepEqual(config.store.redis, { kind: "url", url: "redis://e:6379" });
    assert.equal(config.site.maxFailedLogins, 3);
    assert.equal(config.tls.minVersion, "TLSv1.3");
  });

  it("lets the environment win over the file", () => {
    const config = validate(
      { site: { maxFailedLogins: 9 }, tls: { minVersion: "TLSv1.2" }, store: { redis: { cluster: ["c:7000"] } } },
      { PORTCULLIS_SITE_MAXFAILEDLOGINS: "3", PORTCULLIS_TLS_MINVERSION: "TLSv1.3", PORTCULLIS_STORE_REDIS: "redis://e:6379" },
    );
    assert.equal(config.site.maxFailedLogins, 3);
    assert.equal(config.tls.minVersion, "TLSv1.3");
    assert.deepEqual(config.store.redis, { kind: "url", url: "redis://e:6379" });
  });

  it("keeps the file's other keys of a section an override touches", () => {
    const config = validate({ site: { maxFailedLogins: 9, sessionTimeout: "1 hour" } }, { PORTCULLIS_SITE_MAXFAILEDLOGINS: "3" });
    assert.equal(config.site.sessionTimeout, "1 hour");
  });

  it("maps multi-token names onto camelCase keys", () => {
    const config = validate(
      {},
      {
        PORTCULLIS_TLS_KEY_STORE_PASSWORD: "pw",
        PORTCULLIS_TLS_KEYSTORE: "ks.p12",
        PORTCULLIS_ROUTER_FORCE_ENCRYPTION: "true",
        PORTCULLIS_SITE_MAX_FAILED_LOGINS_LOCKOUT_DURATION: "2 hours",
        PORTCULLIS_IDENTITY_ASSERTION_TTL: "1 minute",
      },
    );
    assert.equal(config.tls.keyStorePassword, "pw");
    assert.equal(config.tls.keyStore, "ks.p12");
    assert.equal(config.router.forceEncryption, true);
    assert.equal(config.site.maxFailedLoginsLockoutDuration, "2 hours");
    assert.equal(config.identity.assertion.ttl, 60_000);
  });

  it("reads structured values given as JSON or YAML flow text", () => {
    const config = validate(
      {},
      {
        PORTCULLIS_STORE_REDIS: '{"cluster":["a:7000","b:7001"]}',
        PORTCULLIS_ACCESS_RULES: '[{"paths":["/public/**"],"policy":"bypass"}]',
        PORTCULLIS_TRUSTEDPROXIES: "10.0.0.0/8, 192.168.0.0/16",
      },
    );
    assert.deepEqual(config.store.redis, {
      kind: "cluster",
      nodes: [
        { host: "a", port: 7000 },
        { host: "b", port: 7001 },
      ],
      password: undefined,
    });
    assert.deepEqual(config.access.rules, [{ paths: ["/public/**"], methods: [], networks: [], ipRegex: undefined, groups: [], users: [], policy: "bypass" }]);
    assert.deepEqual(config.trustedProxies, ["10.0.0.0/8", "192.168.0.0/16"]);
  });

  it("reports an unknown PORTCULLIS_ variable by its name", () => {
    const message = "is not a configuration key; names are PORTCULLIS_<SECTION>_<KEY> such as PORTCULLIS_STORE_REDIS";
    assert.deepEqual(invalid({}, { PORTCULLIS_FOO: "1", PORTCULLIS_SITE_BOGUS: "2" }), [
      { path: "PORTCULLIS_FOO", message },
      { path: "PORTCULLIS_SITE_BOGUS", message },
    ]);
  });

  it("suggests the closest variable name for a misspelt one", () => {
    assert.deepEqual(invalid({}, { PORTCULLIS_PORTS_SECUR: "8443" }), [{ path: "PORTCULLIS_PORTS_SECUR", message: "is not a configuration key; did you mean PORTCULLIS_PORTS_SECURE?" }]);
  });

  it("keeps an environment value that only looks like flow YAML as text, for its field to judge", () => {
    assert.deepEqual(validate({}, { PORTCULLIS_PORTS_ADMIN: "[::1]:9100" }).ports.admin, { host: "::1", port: 9100 });
    // A whole section may still be given as a flow map.
    assert.equal(validate({}, { PORTCULLIS_IDENTITY_HEADERS: "{user: X-User}" }).identity.headers.user, "X-User");
    // A text key takes text that would parse as flow YAML as it is, too.
    assert.equal(validate({}, { PORTCULLIS_SITE_PASSWORDCOMPLEXITY: "[A-Z]" }).site.passwordComplexity, "[A-Z]");
    const issues = invalid({}, { PORTCULLIS_TRUSTEDPROXIES: "[10.0.0.0/8" });
    assert.equal(issues.length, 1, JSON.stringify(issues));
    assert.match(issues[0]!.path, /^trustedProxies/);
  });

  it("reports a bad value from the environment at the key path", () => {
    assert.deepEqual(invalid({}, { PORTCULLIS_PORTS_SECURE: "44x" }), [{ path: "ports.secure", message: 'must be a port number (1-65535), got "44x"' }]);
  });

  it("ignores PORTCULLIS_ADMIN_PASSWORD, PORTCULLIS_CONFIG and variables without the prefix", () => {
    const config = validate({}, { PORTCULLIS_ADMIN_PASSWORD: "secret", PORTCULLIS_CONFIG: "x.yaml", HOME: "/root", PORTS_SECURE: "1" });
    assert.equal(config.ports.secure, 4064);
  });
});

describe("validate: ${env:} and ${file:} substitution", () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-unit-subst-"));
    fs.writeFileSync(path.join(dir, "secret.txt"), "s3cret\n");
    fs.writeFileSync(path.join(dir, "crlf.txt"), "pw\r\n");
    fs.writeFileSync(path.join(dir, "two.txt"), "line1\nline2\n");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("replaces a whole value with an environment variable", () => {
    const config = validate({ ldap: { url: "${env:LDAP_URL}", userBase: "ou=people" }, ports: { secure: "${env:PORT}" } }, { LDAP_URL: "ldaps://l:636", PORT: "5443" });
    assert.equal(config.ldap.url?.href, "ldaps://l:636");
    assert.equal(config.ports.secure, 5443);
  });

  it("replaces a reference embedded in a longer string", () => {
    const config = validate({ ldap: { bindDn: "cn=${env:WHO},dc=${env:DC}", bindPassword: "pw" } }, { WHO: "admin", DC: "example" });
    assert.equal(config.ldap.bindDn, "cn=admin,dc=example");
  });

  it("reads a file relative to cwd and trims its trailing newline", () => {
    const config = validate({ ldap: { bindDn: "cn=svc", bindPassword: "${file:secret.txt}" }, tls: { keyStore: "ks", keyStorePassword: "${file:crlf.txt}" } }, {}, dir);
    assert.equal(config.ldap.bindPassword, "s3cret");
    assert.equal(config.tls.keyStorePassword, "pw");
  });

  it("keeps the inner newlines of a file and trims only the last one", () => {
    assert.equal(validate({ mail: { from: "${file:two.txt}" } }, {}, dir).mail.from, "line1\nline2");
  });

  it("reads an absolute file path", () => {
    assert.equal(validate({ ldap: { bindDn: "cn=svc", bindPassword: `\${file:${path.join(dir, "secret.txt")}}` } }, {}, os.homedir()).ldap.bindPassword, "s3cret");
  });

  it("substitutes inside list items", () => {
    assert.deepEqual(validate({ trustedProxies: ["${env:NET}"] }, { NET: "10.0.0.0/8" }).trustedProxies, ["10.0.0.0/8"]);
  });

  it("substitutes in values that came from the environment", () => {
    assert.equal(validate({ ldap: { bindDn: "cn=svc" } }, { PORTCULLIS_LDAP_BINDPASSWORD: "${file:secret.txt}" }, dir).ldap.bindPassword, "s3cret");
  });

  it("reports a missing variable at the key path, also when embedded", () => {
    const issues = invalid({ ldap: { bindPassword: "${env:MISSING}", bindDn: "x${env:ALSO_MISSING}y" } });
    assert.equal(issueAt(issues, "ldap.bindPassword").message, "${env:MISSING} is not set; export MISSING or write the value in the file");
    assert.equal(issueAt(issues, "ldap.bindDn").message, "${env:ALSO_MISSING} is not set; export ALSO_MISSING or write the value in the file");
  });

  it("reports a missing variable in a list at the item's path", () => {
    const issues = invalid({ trustedProxies: ["10.0.0.0/8", "${env:MISSING_NET}"] });
    assert.equal(issueAt(issues, "trustedProxies[1]").message, "${env:MISSING_NET} is not set; export MISSING_NET or write the value in the file");
  });

  it("reports a missing file at the key path", () => {
    const issues = invalid({ ldap: { bindPassword: "${file:nope.txt}" } }, {}, dir);
    assert.deepEqual(issues, [{ path: "ldap.bindPassword", message: "${file:nope.txt} cannot be read (ENOENT); check the path" }]);
  });

  it("leaves text that only looks like a reference alone", () => {
    assert.equal(validate({ ldap: { bindDn: "${other:X} and $HOME", bindPassword: "pw" } }, {}).ldap.bindDn, "${other:X} and $HOME");
  });
});

describe("validate: values read through ${env:} and ${file:} stay out of problems", () => {
  let dir: string;
  const SHADOW = "root:$6$saltsalt$Hash0fTheRootPassw0rd:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::";
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-unit-secret-"));
    fs.writeFileSync(path.join(dir, "shadow"), `${SHADOW}\n`);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Every problem's text, checked to hold none of `secrets` (nor a line of one). */
  function problems(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, secrets: string[]): readonly ConfigIssue[] {
    const issues = invalid(raw, env, dir);
    const text = issues.map((i) => `${i.path}: ${i.message}`).join("\n");
    for (const secret of secrets) for (const part of [secret, ...secret.split("\n")]) assert.ok(!text.includes(part), `"${part}" is printed:\n${text}`);
    return issues;
  }

  it('names the file, not its content, when a value read from ${file:} is not valid (site.sessionTimeout: "${file:/etc/shadow}")', () => {
    const file = path.join(dir, "shadow");
    const issues = problems({ site: { sessionTimeout: `\${file:${file}}` } }, {}, [SHADOW]);
    assert.match(issueAt(issues, "site.sessionTimeout").message, new RegExp(`got the value read from \\$\\{file:${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\}$`));
  });

  it("names the variable when a value read from ${env:} is not valid, also inside a longer value and a list", () => {
    const env = { TIMEOUT: "hunter2-is-my-password", PW: "hunter3-redis-pw", NET: "10.0.0.0/99-secret", RX: "(unclosed-secret" };
    const issues = problems(
      { site: { sessionTimeout: "${env:TIMEOUT}", passwordComplexity: "${env:RX}" }, store: { redis: "redis:/:${env:PW}@cache:6379" }, trustedProxies: ["${env:NET}"] },
      env,
      Object.values(env),
    );
    assert.match(issueAt(issues, "site.sessionTimeout").message, /the value read from \$\{env:TIMEOUT\}/);
    assert.match(issueAt(issues, "store.redis").message, /the value made from "redis:\/:\$\{env:PW\}@cache:6379"/);
    assert.match(issueAt(issues, "trustedProxies[0]").message, /\$\{env:NET\}/);
    assert.match(issueAt(issues, "site.passwordComplexity").message, /\$\{env:RX\}/);
  });

  it("hides a secret quoted by a cross-field rule too (ldap.userFilter read from a file)", () => {
    fs.writeFileSync(path.join(dir, "filter"), "uid=secret-filter-text\n");
    problems({ ldap: { url: "ldaps://ldap:636", userBase: "dc=x", userFilter: "${file:filter}" } }, {}, ["uid=secret-filter-text"]);
  });

  it("never quotes the password of a URL-like value, written inline or in a PORTCULLIS_ variable, even a malformed one", () => {
    const issues = problems(
      { mail: { smtp: "smtp://u:S3cr3t-INL2@h:99999" }, upstream: { url: "ftp://u:S3cr3t-UP@h" } },
      { PORTCULLIS_STORE_REDIS: "rediss//:S3cr3t-RP@127.0.0.1:1", PORTCULLIS_LDAP_URL: "ldap//u:S3cr3t-LP@h" },
      ["S3cr3t-INL2", "S3cr3t-UP", "S3cr3t-RP", "S3cr3t-LP"],
    );
    assert.match(issueAt(issues, "mail.smtp").message, /smtp:\/\/u:\*+@h:99999/);
    assert.match(issueAt(issues, "store.redis").message, /rediss\/\/:\*+@127\.0\.0\.1:1/);
  });

  it("still quotes values written in the file itself", () => {
    assert.match(issueAt(invalid({ site: { sessionTimeout: "soon" } }), "site.sessionTimeout").message, /"soon"/);
  });
});

describe("formatPath", () => {
  it("joins keys with dots and indexes with brackets", () => {
    assert.equal(formatPath(["access", "rules", 0, "policy"]), "access.rules[0].policy");
    assert.equal(formatPath(["trustedProxies", 2]), "trustedProxies[2]");
    assert.equal(formatPath([]), "");
  });
});

describe("loadConfig", () => {
  let dir: string;
  const write = (name: string, text: string): string => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-unit-load-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads a YAML file, applies the environment and names the file it read", () => {
    const file = write("ok.yaml", "# comment\nports:\n  secure: 5443\n  insecure: '5080'\nsite:\n  maxFailedLogins: 7\n  sessionTimeout: 30 minutes\n");
    const { config, source } = loadConfig({ file: "ok.yaml", cwd: dir, env: { PORTCULLIS_SITE_MAXFAILEDLOGINS: "3" } });
    assert.equal(source, file);
    assert.equal(config.ports.secure, 5443);
    assert.equal(config.ports.insecure, 5080);
    assert.equal(config.site.maxFailedLogins, 3);
    assert.equal(config.site.sessionTimeout, "30 minutes");
    assert.ok(Object.isFrozen(config));
  });

  it("reads an absolute path whatever cwd is", () => {
    const file = write("abs.yaml", "workers: 1\nlogging:\n  level: debug\n");
    const { config, source } = loadConfig({ file, cwd: os.homedir(), env: {} });
    assert.equal(source, file);
    assert.equal(config.logging.level, "debug");
  });

  it("runs on defaults when no file is given", () => {
    const { config, source } = loadConfig({ env: {} });
    assert.equal(source, null);
    assert.equal(config.ports.secure, 4064);
  });

  it("treats an empty file as defaults", () => {
    const file = write("empty.yaml", "# nothing here\n");
    const { config, source } = loadConfig({ file, env: {} });
    assert.equal(source, file);
    assert.equal(config.ports.insecure, 4063);
  });

  it("refuses a missing file with ERR_CONFIG_FILE naming it", () => {
    const missing = path.join(dir, "missing.yaml");
    const issues = issuesOf(() => loadConfig({ file: "missing.yaml", cwd: dir, env: {} }), "ERR_CONFIG_FILE");
    assert.deepEqual(issues, [{ path: "", message: `config file ${missing} does not exist; create it or leave --config out to run on defaults` }]);
  });

  it("runs on defaults when an optional file is missing", () => {
    const { config, source } = loadConfig({ file: "missing.yaml", cwd: dir, optional: true, env: { PORTCULLIS_WORKERS: "1" } });
    assert.equal(source, null);
    assert.equal(config.workers, 1);
  });

  it("refuses invalid YAML with ERR_CONFIG_FILE and the line and column", () => {
    const file = write("bad.yaml", "ports:\n  secure: 5443\n insecure: 5080\n");
    const issues = issuesOf(() => loadConfig({ file, env: {} }), "ERR_CONFIG_FILE");
    assert.ok(issues.length >= 1);
    assert.equal(issues[0]!.path, "");
    assert.ok(issues[0]!.message.startsWith(`${file}:3:1 `), issues[0]!.message);
  });

  it("refuses an unterminated quote with the line number", () => {
    const file = write("quote.yaml", "ports:\n  secure: \"5443\n");
    const issues = issuesOf(() => loadConfig({ file, env: {} }), "ERR_CONFIG_FILE");
    assert.match(issues[0]!.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:\\d+:\\d+ .*quote`));
  });

  it("refuses a duplicated key with the line of the duplicate", () => {
    const file = write("dup.yaml", "ports:\n  secure: 1\n  secure: 2\n");
    const issues = issuesOf(() => loadConfig({ file, env: {} }), "ERR_CONFIG_FILE");
    assert.ok(issues[0]!.message.startsWith(`${file}:3:3 `), issues[0]!.message);
  });

  it("refuses a file whose top level is a list", () => {
    const file = write("list.yaml", "- ports\n- site\n");
    assert.deepEqual(issuesOf(() => loadConfig({ file, env: {} }), "ERR_CONFIG_FILE"), [
      { path: "", message: `${file} must hold a map of settings at the top level` },
    ]);
  });

  it("refuses a file whose top level is a scalar", () => {
    const file = write("scalar.yaml", "hello\n");
    assert.deepEqual(issuesOf(() => loadConfig({ file, env: {} }), "ERR_CONFIG_FILE"), [
      { path: "", message: `${file} must hold a map of settings at the top level` },
    ]);
  });

  it("reports the schema problems of a readable file as ERR_CONFIG_INVALID", () => {
    const file = write("invalid.yaml", "ports:\n  secure: 44x\nsite:\n  maxFailedLogin: 3\n");
    assert.deepEqual(issuesOf(() => loadConfig({ file, env: {} })), [
      { path: "ports.secure", message: 'must be a port number (1-65535), got "44x"' },
      { path: "site.maxFailedLogin", message: 'is not a known key; did you mean "maxFailedLogins"?' },
    ]);
  });

  it("resolves ${file:} references against cwd", () => {
    write("pw.txt", "from-file\n");
    write("subst.yaml", "ldap:\n  bindDn: cn=svc\n  bindPassword: ${file:pw.txt}\n");
    assert.equal(loadConfig({ file: "subst.yaml", cwd: dir, env: {} }).config.ldap.bindPassword, "from-file");
  });
});
