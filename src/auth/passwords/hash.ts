/**
 * Password hashing: argon2id with a per-password salt (OWASP: m=19 MiB, t=2, p=1) as a PHC string.
 * Legacy hashes are verified only so that they can be replaced at the next successful login:
 * OMERO's unsalted base64(MD5(password)) and XNAT's SHA-256 forms. Every verification costs one
 * argon2id verification, whatever is stored (issue #15): an imported legacy account, an unknown
 * user and a damaged record take the same time, so timing tells no account kind from another.
 *
 * Stored legacy hashes are wrapped (SPEC §6.3): the store keeps argon2id of the legacy digest, in a
 * PHC string whose id names the legacy form —
 *
 *   $argon2id-<legacy>$v=19$m=19456,p=1,t=2[,ls=<hex>]$<salt>$<hash>
 *
 * where <legacy> is `omero-md5`, `xnat-sha256` or `xnat-sha256-salted`; the argon2id input is the
 * raw legacy digest (16 bytes of MD5(password), 32 bytes of SHA-256(password), or of
 * SHA-256(password + "{" + salt + "}")); `ls` is the XNAT salt as hex of its UTF-8 bytes, present
 * exactly for the salted form. Taking "-<legacy>" out of the id and ",ls=…" out of the parameters
 * leaves the standard argon2id PHC string of the digest. A login hashes the typed password the legacy
 * way and checks that with argon2; a stolen store yields no fast-to-crack digest.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import os from "node:os";
import argon2 from "argon2";
import { Semaphore } from "../../regulation/semaphore.js";

export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * argon2id runs on libuv's thread pool (4 threads) and takes 19 MiB per hash. More hashes at once
 * than there are cores make none finish sooner, but each holds its 19 MiB and a pool thread that
 * DNS and file work also need; so at most one per core runs, the rest wait their turn here. Known
 * and unknown users queue alike, so the wait reveals nothing.
 */
const slots = new Semaphore(Math.max(1, Math.min(4, os.availableParallelism())));

/** For tests: how many hashes run and wait now. */
export const argon2Load = { slots: slots.limit, running: (): number => slots.running, waiting: (): number => slots.waiting };

function inSlot<T>(work: () => Promise<T>): Promise<T> {
  return slots.run(work);
}

/** The legacy forms: OMERO's MD5, XNAT's SHA-256 and its salted variant. */
export type LegacyScheme = "omero-md5" | "xnat-sha256" | "xnat-sha256-salted";
/** What a stored hash is: argon2id, a bare legacy digest (until wrapped), or a wrapped one. */
export type HashScheme = "argon2id" | LegacyScheme | `argon2id-${LegacyScheme}`;

export async function hashPassword(password: string): Promise<string> {
  return inSlot(() => argon2.hash(password, ARGON2_OPTIONS));
}

interface Legacy {
  scheme: LegacyScheme;
  /** The XNAT salt, for the salted form only. */
  salt: string | undefined;
}

/** The legacy digest of a typed password. Strings are hashed as UTF-8. */
function legacyDigest(legacy: Legacy, password: string): Buffer {
  const text = legacy.salt === undefined ? password : `${password}{${legacy.salt}}`;
  return createHash(legacy.scheme === "omero-md5" ? "md5" : "sha256").update(text).digest();
}

function legacy(scheme: "omero-md5" | "xnat-sha256", salt: string | undefined): Legacy {
  return { scheme: salt === undefined ? scheme : "xnat-sha256-salted", salt };
}

/**
 * Bare legacy forms, as they arrive through `users import` (and as stores written before the
 * wrapping still hold them until the gateway's first start wraps them):
 * - OMERO: `base64(md5(utf8(password)))`, 24 characters, as is or as `omero-md5:<b64>`
 * - XNAT: hex SHA-256 of the password (64 hex digits, or `xnat-sha256:<hex>`), or, salted,
 *   `<hex>{<salt>}` where the digest is of password + "{" + salt + "}" (Spring's legacy
 *   ShaPasswordEncoder form, which XNAT 1.7 writes).
 */
const OMERO = /^(?:omero-md5:)?([A-Za-z0-9+/]{22}==)$/;
const XNAT = /^(?:xnat-sha256:)?([0-9a-f]{64})(?:\{([^}]*)\})?$/i;

function parseBare(stored: string): (Legacy & { digest: Buffer }) | null {
  const omero = OMERO.exec(stored);
  if (omero) return { ...legacy("omero-md5", undefined), digest: Buffer.from(omero[1]!, "base64") };
  const xnat = XNAT.exec(stored);
  if (xnat) return { ...legacy("xnat-sha256", xnat[2]), digest: Buffer.from(xnat[1]!, "hex") };
  return null;
}

const WRAPPED = /^\$argon2id-(omero-md5|xnat-sha256)(-salted)?(\$v=\d+\$[mtp]=\d+,[mtp]=\d+,[mtp]=\d+)(?:,ls=([0-9a-f]*))?(\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+)$/;

function parseWrapped(stored: string): (Legacy & { argon2: string }) | null {
  const m = WRAPPED.exec(stored);
  // The salt is there exactly when the id says salted (and only XNAT has a salted form).
  if (!m || (m[2] === undefined) !== (m[4] === undefined) || (m[2] !== undefined && m[1] !== "xnat-sha256")) return null;
  const salt = m[4] === undefined ? undefined : Buffer.from(m[4], "hex").toString();
  return { ...legacy(m[1] as "omero-md5" | "xnat-sha256", salt), argon2: `$argon2id${m[3]}${m[5]}` };
}

export function schemeOf(stored: string): HashScheme | null {
  if (stored.startsWith("$argon2id$")) return "argon2id";
  const wrapped = parseWrapped(stored);
  if (wrapped) return `argon2id-${wrapped.scheme}`;
  return parseBare(stored)?.scheme ?? null;
}

const UNSALTED: ReadonlySet<HashScheme | null> = new Set<HashScheme>(["omero-md5", "xnat-sha256", "argon2id-omero-md5", "argon2id-xnat-sha256"]);

/** Whether a stored hash is of an unsalted legacy form, bare or wrapped (`requireSaltedPasswords`). */
export function isUnsalted(stored: string): boolean {
  return UNSALTED.has(schemeOf(stored));
}

/** Whether a stored hash is a bare legacy digest, which the store must not keep (wrapLegacy). */
export function isBareLegacy(stored: string): boolean {
  return parseBare(stored) !== null;
}

/**
 * The wrapped form of a bare legacy hash (see the module comment); any other hash is returned as it
 * is, so that wrapping twice changes nothing.
 */
export async function wrapLegacy(stored: string): Promise<string> {
  const bare = parseBare(stored);
  if (!bare) return stored;
  // "$argon2id$v=19$m=19456,p=1,t=2$<salt>$<hash>"
  const [, , version, params, salt, hash] = (await inSlot(() => argon2.hash(bare.digest, ARGON2_OPTIONS))).split("$");
  const ls = bare.salt === undefined ? "" : `,ls=${Buffer.from(bare.salt).toString("hex")}`;
  return `$argon2id-${bare.scheme}$${version}$${params}${ls}$${salt}$${hash}`;
}

/** Whether a stored hash is weaker than a fresh argon2id of the password (legacy, or older parameters). */
export function needsRehash(stored: string): boolean {
  return schemeOf(stored) !== "argon2id" || argon2.needsRehash(stored, ARGON2_OPTIONS);
}

/**
 * One argon2 verification in a slot. A damaged hash (argon2 throws at once) verifies nothing, and
 * costs a dummy verification instead: answered at once, it would tell which accounts exist.
 */
async function argon2Verify(phc: string, plain: string | Buffer, password: string): Promise<boolean> {
  try {
    return await inSlot(() => argon2.verify(phc, plain));
  } catch {
    return verifyDummy(password);
  }
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  if (schemeOf(stored) === "argon2id") return argon2Verify(stored, password, password);
  const wrapped = parseWrapped(stored);
  if (wrapped) return argon2Verify(wrapped.argon2, legacyDigest(wrapped, password), password);
  const bare = parseBare(stored);
  // A bare digest is compared in constant time (the formats fix both lengths), then costs what an
  // argon2id verification costs; an unrecognised or empty hash verifies nothing, at the same cost.
  const ok = bare !== null && timingSafeEqual(legacyDigest(bare, password), bare.digest);
  await verifyDummy(password);
  return ok;
}

let dummy: Promise<string> | undefined;
/**
 * Verifies against a fixed argon2id hash, for unknown users, so that a failed login takes about as
 * long whether or not the account exists (no user enumeration by timing). The hash is of random
 * bytes that no typed password can match.
 */
export async function verifyDummy(password: string): Promise<false> {
  dummy ??= inSlot(() => argon2.hash(randomBytes(32), ARGON2_OPTIONS));
  const phc = await dummy;
  await inSlot(() => argon2.verify(phc, password)).catch(() => false);
  return false;
}
