/** Request ids: unique per process run, cheap to make, and not taken from the client (log injection). */
import { randomBytes } from "node:crypto";

const prefix = randomBytes(4).toString("hex");
let counter = 0;

export function nextRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${prefix}-${counter.toString(36)}`;
}
