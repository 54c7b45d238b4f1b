/**
 * Password hashing: argon2id with a per-password salt (OWASP: m=19 MiB, t=2, p=1) as a PHC string.
 * Legacy hashes are verified only so that they can be replaced at the next successful login:
 * OMERO's unsalted base64(MD5(password)) and XNAT's SHA-256 forms. All comparisons of digests are
 * constant-time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import os from "node:os";
import argon2 from "argon2";

export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * argon2id runs on libuv's thread pool (4 threads) and takes 19 MiB per hash. More hashes at once
 * than there are cores make none finish sooner, but each holds its 19 MiB and a pool thread that
 * DNS and file work also need; so at most one per core runs, the rest wait their turn here. Known
 * and unknown users queue alike, so the wait reveals nothing.
 */
const ARGON2_SLOTS = Math.max(1, Math.min(4, os.availableParallelism()));
let running = 0;
const waiting: (() => void)[] = [];

/** For tests: how many hashes run and wait now. */
export const argon2Load = { slots: ARGON2_SLOTS, running: (): number => running, waiting: (): number => waiting.length };

async function inSlot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= ARGON2_SLOTS) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try {
    return await work();
  } finally {
    // The slot passes straight to the next waiter (running stays the same) or is freed.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

export type HashScheme = "argon2id" | "omero-md5" | "xnat-sha256" | "xnat-sha256-salted";

export async function hashPassword(password: string): Promise<string> {
  return inSlot(() => argon2.hash(password, ARGON2_OPTIONS));
}

/**
 * Legacy formats, as they arrive through `users import`:
 * - OMERO: `base64(md5(utf8(password)))`, 24 characters, stored as is or as `omero-md5:<b64>`
 * - XNAT: hex SHA-256 of the password (64 hex digits, `xnat-sha256:<hex>`), or, salted,
 *   `xnat-sha256:<hex>{<salt>}` where the digest is of password + "{" + salt + "}" (Spring's
 *   legacy ShaPasswordEncoder form, which XNAT 1.7 writes).
 */
export function schemeOf(stored: string): HashScheme | null {
  if (stored.startsWith("$argon2id$")) return "argon2id";
  if (stored.startsWith("omero-md5:") || /^[A-Za-z0-9+/]{22}==$/.test(stored)) return "omero-md5";
  if (/^(xnat-sha256:)?[0-9a-f]{64}\{[^}]*\}$/i.test(stored)) return "xnat-sha256-salted";
  if (/^(xnat-sha256:)?[0-9a-f]{64}$/i.test(stored)) return "xnat-sha256";
  return null;
}

/** Whether a stored hash is one of the unsalted legacy forms (`requireSaltedPasswords`). */
export function isUnsalted(stored: string): boolean {
  const scheme = schemeOf(stored);
  return scheme === "omero-md5" || scheme === "xnat-sha256";
}

export function needsRehash(stored: string): boolean {
  if (schemeOf(stored) !== "argon2id") return true;
  return argon2.needsRehash(stored, ARGON2_OPTIONS);
}

function equalDigests(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  switch (schemeOf(stored)) {
    case "argon2id":
      try {
        return await inSlot(() => argon2.verify(stored, password));
      } catch {
        return false;
      }
    case "omero-md5": {
      const expected = Buffer.from(stored.replace(/^omero-md5:/, ""), "base64");
      return equalDigests(createHash("md5").update(password, "utf8").digest(), expected);
    }
    case "xnat-sha256": {
      const expected = Buffer.from(stored.replace(/^xnat-sha256:/i, ""), "hex");
      return equalDigests(createHash("sha256").update(password, "utf8").digest(), expected);
    }
    case "xnat-sha256-salted": {
      const m = /^(?:xnat-sha256:)?([0-9a-f]{64})\{([^}]*)\}$/i.exec(stored)!;
      const expected = Buffer.from(m[1]!, "hex");
      return equalDigests(createHash("sha256").update(`${password}{${m[2]}}`, "utf8").digest(), expected);
    }
    default:
      return false;
  }
}

let dummy: Promise<string> | undefined;
/**
 * Verifies against a fixed argon2id hash, for unknown users, so that a failed login takes about as
 * long whether or not the account exists (no user enumeration by timing).
 */
export async function verifyDummy(password: string): Promise<false> {
  dummy ??= hashPassword("portcullis-dummy-password-for-timing");
  const hash = await dummy;
  await inSlot(() => argon2.verify(hash, password)).catch(() => false);
  return false;
}
