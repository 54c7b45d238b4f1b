/**
 * The configuration contract of SPEC §3 and §4: every key, its type and its default, declared once.
 * Unknown keys are errors (a typo must not silently fall back to a default).
 */
import { z } from "zod";
import {
  bool,
  cidrItem,
  cron,
  headerName,
  hostPort,
  integer,
  interval,
  intervalText,
  list,
  oneOf,
  optionalDate,
  optionalOrigin,
  optionalOneOf,
  optionalRegex,
  optionalText,
  optionalUrl,
  pathPrefix,
  port,
  portPrefix,
  rate,
  redisField,
  regex,
  regexItem,
  text,
  textItem,
  url,
} from "./fields.js";

const section = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape).prefault({} as never);

const DEFAULT_LOGIN_FAILURE_MESSAGE =
  "Your login attempt failed because the username and password combination you provided was invalid or the site is " +
  "currently at the maximum number of user sessions. After %d failed login attempts, your user account will be locked. " +
  "If you believe your account is currently locked, you can:<ul><li>Unlock it by resetting your password</li>" +
  "<li>Wait one hour for it to unlock automatically</li></ul>";

/** XNAT site-config properties (SPEC §4); live-editable over REST, so each field is also used alone. */
export const siteFields = {
  securityChannel: oneOf(["https", "any"], "https"),
  requireLogin: bool(true),
  refreshGuestFrequency: intervalText("1 day"),
  restrictUserListAccessToAdmins: bool(true),
  uiAllowNonAdminProjectCreation: bool(true),
  allowNonAdminsToClaimUnassignedSessions: bool(true),
  ipsThatCanSendEmailsThroughRest: regex("^.*$"),
  sessionTimeout: intervalText("15 minutes"),
  sessionTimeoutMessage: text("Session timed out at TIMEOUT_TIME."),
  aliasTokenTimeout: intervalText("2 days"),
  aliasTokenTimeoutSchedule: cron("0 0 * * * *"),
  concurrentMaxSessions: integer(1000, 1),
  uiLoginFailureMessage: text(DEFAULT_LOGIN_FAILURE_MESSAGE),
  maxFailedLogins: integer(5, -1, Number.MAX_SAFE_INTEGER, " (-1 never locks)"),
  maxFailedLoginsLockoutDuration: intervalText("1 hour"),
  resetFailedLoginsSchedule: cron("0 0 * * * *"),
  canResetFailedLoginsWithForgotPassword: bool(true),
  inactivityBeforeLockout: intervalText("1 year"),
  inactivityBeforeLockoutSchedule: cron("0 0 1 * * ?"),
  interactiveAgentIds: list(regexItem, [".*MSIE.*", ".*Mozilla.*", ".*AppleWebKit.*", ".*Opera.*"]),
  dataPaths: list(textItem, ["/xapi/**", "/data/**", "/REST/**", "/fs/**"]),
  passwordComplexity: regex("^.*$"),
  passwordComplexityMessage: text("Password is not sufficiently complex."),
  passwordExpirationType: oneOf(["disabled", "interval", "date"], "disabled"),
  passwordExpirationInterval: intervalText("1 year"),
  passwordExpirationDate: optionalDate(),
  passwordReuseRestriction: oneOf(["none", "historical"], "none"),
  passwordHistoryDuration: intervalText("1 year"),
  requireSaltedPasswords: bool(false),
  enableCsrfToken: bool(true),
  csrfEmailAlert: bool(false),
} as const;

export type SiteKey = keyof typeof siteFields;
export const siteKeys = Object.keys(siteFields) as SiteKey[];

/** Site properties that a non-admin may read (SPEC §4). */
export const publicSiteKeys: readonly SiteKey[] = [
  "requireLogin",
  "sessionTimeout",
  "sessionTimeoutMessage",
  "passwordComplexityMessage",
  "uiLoginFailureMessage",
];

/** `store.redis`: a URL, a Sentinel group, or Cluster nodes; absent means the embedded store. */
const redis = redisField();

const policy = ["bypass", "authenticated", "admin", "deny"] as const;

const accessRule = z.strictObject({
  paths: list(textItem, []).refine((p) => p.length > 0, { message: "must list at least one path pattern" }),
  methods: list(textItem, []).transform((m) => m.map((x) => x.toUpperCase())),
  networks: list(cidrItem, []),
  ipRegex: optionalRegex(),
  groups: list(textItem, []),
  users: list(textItem, []),
  policy: oneOf(policy, "authenticated"),
});

export const configSchema = z.strictObject({
  ports: section({
    insecure: port(4063),
    secure: port(4064),
    prefix: portPrefix(),
    host: text("0.0.0.0"),
    admin: hostPort("127.0.0.1:4065"),
  }),
  router: section({
    insecure: oneOf(["redirect", "reject", "allow"], "redirect"),
    forceEncryption: bool(false),
  }),
  tls: section({
    cert: text("certs/server.pem"),
    key: text("certs/server.key"),
    keyStore: optionalText(),
    keyStorePassword: optionalText(),
    minVersion: oneOf(["TLSv1.2", "TLSv1.3"], "TLSv1.2"),
    hsts: text("max-age=31536000"),
  }),
  upstream: section({
    url: url(["http:", "https:"], "http://127.0.0.1:4080"),
    timeout: interval("60 seconds"),
    ca: optionalText(),
  }),
  trustedProxies: list(cidrItem, []),
  store: section({
    redis,
    dataDir: text("data"),
  }),
  security: section({
    trustStore: optionalText(),
    trustStorePassword: optionalText(),
    keyStore: optionalText(),
    keyStorePassword: optionalText(),
  }),
  ldap: section({
    url: optionalUrl(["ldap:", "ldaps:"]),
    startTls: bool(false),
    bindDn: optionalText(),
    bindPassword: optionalText(),
    userBase: optionalText(),
    userFilter: text("(uid={username})"),
    groupBase: optionalText(),
    groupFilter: text("(member={dn})"),
    adminGroups: list(textItem, []),
    timeout: interval("10 seconds"),
    connectTimeout: interval("5 seconds"),
  }),
  session: section({
    cookieName: headerName("portcullis_session"),
    absoluteTimeout: interval("12 hours"),
    limitPolicy: oneOf(["refuse", "evictOldest"], "refuse"),
  }),
  regulation: section({
    maxFailuresPerIp: rate("50 per 10 minutes"),
  }),
  auth: section({
    credentialCacheTtl: interval("1 minute"),
  }),
  identity: section({
    headers: section({
      user: headerName("X-Remote-User"),
      groups: headerName("X-Remote-Groups"),
      email: headerName("X-Remote-Email"),
      provider: headerName("X-Remote-Provider"),
      /** Not in SPEC §3: the display name (LDAP displayName or cn), as Authelia's Remote-Name. */
      name: headerName("X-Remote-Name"),
    }),
    assertion: section({
      header: headerName("X-Portcullis-Assertion"),
      ttl: interval("5 minutes"),
    }),
  }),
  access: section({
    defaultPolicy: oneOf(policy, "authenticated"),
    /** Match rule paths without regard to case, for upstreams whose paths ignore case (SPEC §3). */
    caseInsensitivePaths: bool(false),
    rules: z.array(accessRule).optional().transform((r) => r ?? []),
  }),
  profile: optionalOneOf(["xnat"]),
  paths: section({
    prefix: pathPrefix("/gateway"),
  }),
  /** Not in SPEC §3: the address users reach the gateway at, used in mailed links (never the request's Host). */
  publicUrl: optionalOrigin(),
  mail: section({
    smtp: optionalUrl(["smtp:", "smtps:"]),
    from: optionalText(),
    adminEmail: optionalText(),
  }),
  workers: integer(1, 1, 64),
  logging: section({
    level: oneOf(["trace", "debug", "info", "warn", "error", "fatal", "silent"], "info"),
  }),
  /** Not in SPEC §3: limits of the HTTP listeners, named after Node's server options (README "Limits"). */
  limits: section({
    maxHeaderSize: integer(16384, 1024, 1048576),
    headersTimeout: interval("20 seconds"),
    requestTimeout: interval("5 minutes"),
    keepAliveTimeout: interval("5 seconds"),
    shutdownGrace: interval("10 seconds"),
  }),
  site: section(siteFields),
});

export type Config = z.output<typeof configSchema>;
export type SiteConfig = Config["site"];
export type RouterPolicy = Config["router"]["insecure"];
