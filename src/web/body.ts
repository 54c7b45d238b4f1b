/** Reads the small bodies of the gateway's own forms and JSON routes: bounded, typed, never thrown at. */
import type http from "node:http";
import { GatewayError } from "../errors.js";
import { wantsJson } from "../pipeline/client-kind.js";
import type { RequestScope } from "../pipeline/scope.js";

const LIMIT = 16 * 1024;
/**
 * Lists and maps inside one another, at most. No route takes more than three; deeper JSON is refused
 * before it is parsed, because what handles a parsed value (structuredClone, zod, the audit log)
 * recurses and would throw RangeError far below what 16 KiB of brackets can reach.
 */
export const MAX_JSON_DEPTH = 32;

export type Fields = Record<string, string>;

export async function readBody(req: http.IncomingMessage): Promise<Fields> {
  const text = await readText(req);
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  try {
    return parseFields(text, type);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError("ERR_BAD_REQUEST", { message: "The request body is not valid JSON or form data." });
  }
}

/**
 * A JSON body as parsed, with its types kept (readBody flattens to strings and drops lists and maps,
 * which suits forms but not a JSON API that must report a value of the wrong type).
 */
export async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const text = await readText(req);
  checkDepth(text);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GatewayError("ERR_BAD_REQUEST", { message: "The request body is not valid JSON." });
  }
}

/** Refuses JSON text whose lists and maps nest deeper than MAX_JSON_DEPTH (one pass, strings skipped). */
function checkDepth(text: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) throw new GatewayError("ERR_BAD_REQUEST", { message: `The request body nests lists and maps more than ${MAX_JSON_DEPTH} deep.` });
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
}

/** The body as UTF-8 text, refused with 413 beyond LIMIT (declared or counted). */
function readText(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > LIMIT) {
      reject(new GatewayError("ERR_BODY_TOO_LARGE"));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > LIMIT) {
        req.destroy();
        reject(new GatewayError("ERR_BODY_TOO_LARGE"));
        return;
      }
      chunks.push(c);
    });
    req.on("error", () => reject(new GatewayError("ERR_BAD_REQUEST", { message: "The request body could not be read." })));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

function parseFields(text: string, type: string): Fields {
  if (text.trim() === "") return {};
  if (type === "application/json") {
    checkDepth(text);
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
    const out: Fields = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === "string") out[k] = v;
      else if (typeof v === "boolean" || typeof v === "number") out[k] = String(v);
    }
    return out;
  }
  const out: Fields = {};
  for (const [k, v] of new URLSearchParams(text)) if (!(k in out)) out[k] = v;
  return out;
}

export function isJsonRequest(req: http.IncomingMessage): boolean {
  return (req.headers["content-type"] ?? "").toLowerCase().startsWith("application/json");
}

/** Whether the client is answered in JSON (it sent JSON or asks for it) rather than with a page. */
export function answersJson(req: http.IncomingMessage): boolean {
  return isJsonRequest(req) || wantsJson(req.headers);
}

/** The query parameters of the request (the path is already normalised by the pipeline). */
export function queryOf(scope: Pick<RequestScope, "forwardPath" | "query">): URLSearchParams {
  return new URL(scope.forwardPath + scope.query, "https://gateway.invalid").searchParams;
}
