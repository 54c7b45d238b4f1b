/** The cross-field rules for `ldap.*` and `security.*` (src/config/load.ts `ldapIssues`), through `validate`. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validate } from "../../src/config/load.js";
import { ConfigError, type ConfigIssue } from "../../src/errors.js";

function invalid(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): readonly ConfigIssue[] {
  try {
    validate(raw, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, "ERR_CONFIG_INVALID");
    return err.issues;
  }
  assert.fail("expected a ConfigError, but nothing was thrown");
}

function issueAt(issues: readonly ConfigIssue[], key: string): ConfigIssue {
  const found = issues.find((i) => i.path === key);
  assert.ok(found, `no issue at ${key}; issues: ${JSON.stringify(issues)}`);
  return found;
}

function noIssueAt(issues: readonly ConfigIssue[], key: string): void {
  assert.equal(issues.find((i) => i.path === key), undefined, `unexpected issue at ${key}; issues: ${JSON.stringify(issues)}`);
}

/** A complete ldaps:// section that validates on its own. */
const LDAPS = {
  url: "ldaps://ldap.example.org:636",
  bindDn: "cn=portcullis,ou=services,dc=example,dc=org",
  bindPassword: "service-secret",
  userBase: "ou=people,dc=example,dc=org",
  userFilter: "(&(objectClass=inetOrgPerson)(uid={username}))",
  groupBase: "ou=groups,dc=example,dc=org",
  groupFilter: "(member={dn})",
  adminGroups: ["admins"],
};

/** The issues of `{ ldap: { ...LDAPS, ...ldap } }` (plus `rest`), which must not validate. */
function ldapInvalid(ldap: Record<string, unknown>, rest: Record<string, unknown> = {}): readonly ConfigIssue[] {
  return invalid({ ldap: { ...LDAPS, ...ldap }, ...rest });
}

describe("validate: LDAP settings that must go together", () => {
  it("accepts a complete ldaps:// configuration with a truststore and a client keystore", () => {
    const config = validate({
      ldap: LDAPS,
      security: { trustStore: "certs/ldap-trust.jks", trustStorePassword: "changeit", keyStore: "certs/client.p12", keyStorePassword: "s3cret" },
    });
    assert.equal(config.ldap.url?.href, "ldaps://ldap.example.org:636");
    assert.equal(config.ldap.startTls, false);
    assert.equal(config.ldap.userFilter, LDAPS.userFilter);
    assert.deepEqual(config.ldap.adminGroups, ["admins"]);
    assert.equal(config.security.trustStore, "certs/ldap-trust.jks");
    assert.equal(config.security.keyStorePassword, "s3cret");
  });

  it("accepts ldap:// with startTls: true", () => {
    const config = validate({ ldap: { ...LDAPS, url: "ldap://ldap.example.org:389", startTls: true } });
    assert.equal(config.ldap.url?.protocol, "ldap:");
    assert.equal(config.ldap.startTls, true);
  });

  it("accepts a minimal anonymous-search configuration: url and userBase only", () => {
    const config = validate({ ldap: { url: "ldaps://ldap.example.org", userBase: "ou=people,dc=example,dc=org" } });
    assert.equal(config.ldap.bindDn, undefined);
    assert.equal(config.ldap.userFilter, "(uid={username})");
  });

  it("does not require ldap.userBase or check the filters while ldap.url is unset", () => {
    const config = validate({ ldap: { userFilter: "uid=x", adminGroups: [] } });
    assert.equal(config.ldap.url, undefined);
  });

  it("refuses ldap:// without startTls on ldap.url, mentioning ldaps and startTls", () => {
    const issues = ldapInvalid({ url: "ldap://ldap.example.org:389" });
    const issue = issueAt(issues, "ldap.url");
    assert.match(issue.message, /ldaps/);
    assert.match(issue.message, /startTls/);
    assert.match(issue.message, /clear/);
    assert.equal(issues.length, 1, JSON.stringify(issues));
  });

  it("refuses ldap:// with startTls: false written out", () => {
    issueAt(ldapInvalid({ url: "ldap://ldap.example.org", startTls: false }), "ldap.url");
  });

  it("refuses ldaps:// together with startTls on ldap.startTls", () => {
    const issues = ldapInvalid({ startTls: true });
    assert.match(issueAt(issues, "ldap.startTls").message, /ldaps:\/\//);
    noIssueAt(issues, "ldap.url");
    assert.equal(issues.length, 1, JSON.stringify(issues));
  });

  it("requires ldap.userBase when ldap.url is set", () => {
    const issues = ldapInvalid({ userBase: undefined });
    assert.match(issueAt(issues, "ldap.userBase").message, /must be set when ldap\.url is/);
    assert.equal(issues.length, 1, JSON.stringify(issues));
  });

  it("requires ldap.userBase also when it is written as an empty string", () => {
    issueAt(ldapInvalid({ userBase: "" }), "ldap.userBase");
  });

  it("requires {username} in ldap.userFilter", () => {
    const issues = ldapInvalid({ userFilter: "(uid={user})" });
    const issue = issueAt(issues, "ldap.userFilter");
    assert.match(issue.message, /\{username\}/);
    assert.ok(issue.message.includes('"(uid={user})"'), issue.message);
    assert.equal(issues.length, 1, JSON.stringify(issues));
  });

  it("requires ldap.userFilter to be in parentheses", () => {
    const issues = ldapInvalid({ userFilter: "uid={username}" });
    assert.match(issueAt(issues, "ldap.userFilter").message, /in parentheses/);
    assert.equal(issues.length, 1, JSON.stringify(issues));
  });

  it("requires ldap.groupFilter to be in parentheses", () => {
    const issues = ldapInvalid({ groupFilter: "member={dn}" });
    assert.match(issueAt(issues, "ldap.groupFilter").message, /in parentheses/);
  });

  it("requires {dn} or {username} in ldap.groupFilter when ldap.groupBase is set", () => {
    const issues = ldapInvalid({ groupFilter: "(objectClass=groupOfNames)" });
    const issue = issueAt(issues, "ldap.groupFilter");
    assert.match(issue.message, /\{dn\} or \{username\}/);
    assert.equal(issues.length, 1, JSON.stringify(issues));
  });

  it("accepts a groupFilter with {username} instead of {dn}", () => {
    assert.equal(validate({ ldap: { ...LDAPS, groupFilter: "(memberUid={username})" } }).ldap.groupFilter, "(memberUid={username})");
  });

  it("does not require a placeholder in ldap.groupFilter when ldap.groupBase is unset", () => {
    const config = validate({ ldap: { ...LDAPS, groupBase: undefined, adminGroups: [], groupFilter: "(objectClass=groupOfNames)" } });
    assert.equal(config.ldap.groupBase, undefined);
  });

  it("refuses ldap.adminGroups without ldap.groupBase", () => {
    const issues = ldapInvalid({ groupBase: undefined });
    assert.match(issueAt(issues, "ldap.adminGroups").message, /ldap\.groupBase/);
    assert.equal(issues.length, 1, JSON.stringify(issues));
  });

  it("refuses ldap.bindPassword without ldap.bindDn", () => {
    const issues = ldapInvalid({ bindDn: undefined });
    assert.match(issueAt(issues, "ldap.bindPassword").message, /ldap\.bindDn is not/);
    assert.equal(issues.length, 1, JSON.stringify(issues));
  });

  it("refuses ldap.bindDn without ldap.bindPassword, pointing at ${file:} and ${env:}", () => {
    const issues = ldapInvalid({ bindPassword: undefined });
    const issue = issueAt(issues, "ldap.bindPassword");
    assert.match(issue.message, /must be set when ldap\.bindDn is/);
    assert.match(issue.message, /\$\{file:path\}/);
    assert.equal(issues.length, 1, JSON.stringify(issues));
  });

  it("checks the bind pair even without ldap.url", () => {
    issueAt(invalid({ ldap: { bindPassword: "x" } }), "ldap.bindPassword");
    issueAt(invalid({ ldap: { bindDn: "cn=svc" } }), "ldap.bindPassword");
  });

  it("refuses security.trustStorePassword without security.trustStore", () => {
    const issues = invalid({ security: { trustStorePassword: "changeit" } });
    assert.deepEqual(issues, [
      { path: "security.trustStorePassword", message: "is set but security.trustStore is not; set security.trustStore or remove the password" },
    ]);
  });

  it("refuses security.keyStorePassword without security.keyStore", () => {
    const issues = invalid({ security: { keyStorePassword: "s3cret" } });
    assert.deepEqual(issues, [{ path: "security.keyStorePassword", message: "is set but security.keyStore is not; set security.keyStore or remove the password" }]);
  });

  it("accepts security stores without passwords (PEM files)", () => {
    const config = validate({ security: { trustStore: "ca.pem", keyStore: "client.pem" } });
    assert.equal(config.security.trustStorePassword, undefined);
    assert.equal(config.security.keyStore, "client.pem");
  });

  it("applies the rules to values given through PORTCULLIS_* environment variables", () => {
    const issues = invalid({}, { PORTCULLIS_LDAP_URL: "ldap://ldap.example.org", PORTCULLIS_LDAP_USERBASE: "ou=people" });
    issueAt(issues, "ldap.url");
    assert.equal(validate({}, { PORTCULLIS_LDAP_URL: "ldap://ldap.example.org", PORTCULLIS_LDAP_USERBASE: "ou=people", PORTCULLIS_LDAP_STARTTLS: "true" }).ldap.startTls, true);
  });

  it("reports every LDAP and security problem at once", () => {
    const issues = invalid({
      ldap: { url: "ldap://ldap.example.org", bindDn: "cn=svc", userFilter: "uid=x", groupFilter: "(cn=staff)", groupBase: "ou=groups", adminGroups: ["admins"] },
      security: { trustStorePassword: "a", keyStorePassword: "b" },
    });
    const paths = new Set(issues.map((i) => i.path));
    for (const key of [
      "ldap.url",
      "ldap.userBase",
      "ldap.userFilter",
      "ldap.groupFilter",
      "ldap.bindPassword",
      "security.trustStorePassword",
      "security.keyStorePassword",
    ]) {
      assert.ok(paths.has(key), `no issue at ${key}; issues: ${JSON.stringify(issues)}`);
    }
    // userFilter is both without {username} and outside parentheses: two issues on the same key.
    assert.equal(issues.filter((i) => i.path === "ldap.userFilter").length, 2, JSON.stringify(issues));
  });

  it("reports the adminGroups rule together with the ldaps/startTls rule", () => {
    const issues = ldapInvalid({ startTls: true, groupBase: undefined });
    issueAt(issues, "ldap.startTls");
    issueAt(issues, "ldap.adminGroups");
    assert.equal(issues.length, 2, JSON.stringify(issues));
  });

  it("reports the LDAP rules together with a key that does not parse", () => {
    const issues = invalid({ ldap: { ...LDAPS, url: "ldap://ldap.example.org", timeout: "soon" } });
    issueAt(issues, "ldap.timeout");
    issueAt(issues, "ldap.url");
  });
});
