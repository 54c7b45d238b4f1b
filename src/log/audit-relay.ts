/**
 * Account changes made from the command line reach every running gateway's audit log: the CLI logs
 * each event itself (so nothing is lost when no gateway runs, or on the embedded store, which no
 * other process shares) and publishes it on the store's `cli-audit` channel; every gateway process
 * subscribed there logs it again as its own audit line, `by: "cli"`. Pub/sub keeps nothing for a
 * process that is not listening, hence the CLI's own line. `auditId` is the same in every copy of one
 * event, so copies from several processes can be told from several events.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import type { Store, Unsubscribe } from "../store/store.js";
import { audit, type Logger } from "./logger.js";

export const CLI_AUDIT = "cli-audit";

/** Event names as the gateway writes them (`account.disabled`); anything else arriving is dropped. */
const EVENT = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

/** Who ran the command: the operating-system account, which a shared store cannot tell otherwise. */
function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    // A uid without a passwd entry (a container started with --user 1234).
    return `uid:${process.getuid?.() ?? "unknown"}`;
  }
}

/** Logs an account change made by the CLI and announces it to the gateways that share the store. */
export async function auditFromCli(store: Store, log: Logger, event: string, fields: Record<string, unknown>): Promise<void> {
  const line = { ...fields, by: "cli", osUser: osUser(), host: os.hostname(), auditId: randomUUID() };
  audit(log, event, line);
  try {
    await store.publish(CLI_AUDIT, JSON.stringify({ event, fields: line }));
  } catch (err) {
    log.warn({ err: (err as Error).message, auditId: line.auditId }, "running gateways were not told of this change; the line above is its record");
  }
}

/** Logs, as audit lines of this process, the CLI's events published on the store. */
export function relayCliAudits(store: Store, log: Logger): Promise<Unsubscribe> {
  return store.subscribe(CLI_AUDIT, (message) => {
    let parsed: { event?: unknown; fields?: unknown };
    try {
      parsed = JSON.parse(message) as typeof parsed;
    } catch {
      parsed = {};
    }
    const { event, fields } = parsed ?? {};
    if (typeof event !== "string" || !EVENT.test(event) || fields === null || typeof fields !== "object" || Array.isArray(fields)) {
      log.warn({ channel: CLI_AUDIT }, "an audit message that is not the CLI's was dropped");
      return;
    }
    audit(log, event, { ...(fields as Record<string, unknown>), by: "cli" });
  });
}
