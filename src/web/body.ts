/** Reads the small bodies of the gateway's own forms and JSON routes: bounded, typed, never thrown at. */
import type http from "node:http";
import { GatewayError } from "../errors.js";
import { wantsJson } from "../pipeline/respond.js";
import type { RequestScope } from "../pipeline/scope.js";

const LIMIT = 16 * 1024;

export type Fields = Record<string, string>;

export async function readBody(req: http.IncomingMessage): Promise<Fields> {
  const text = await readText(req);
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  try {
    return parseFields(text, type);
  } catch {
    throw new GatewayError("ERR_BAD_REQUEST", 400, "The request body is not valid JSON or form data.");
  }
}

/**
 * A JSON body as parsed, with its types kept (readBody flattens to strings and drops lists and maps,
 * which suits forms but not a JSON API that must report a value of the wrong type).
 */
export async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const text = await readText(req);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GatewayError("ERR_BAD_REQUEST", 400, "The request body is not valid JSON.");
  }
}

/** The body as UTF-8 text, refused with 413 beyond LIMIT (declared or counted). */
function readText(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > LIMIT) {
      reject(new GatewayError("ERR_BAD_REQUEST", 413, "The request body is too large."));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > LIMIT) {
        req.destroy();
        reject(new GatewayError("ERR_BAD_REQUEST", 413, "The request body is too large."));
        return;
      }
      chunks.push(c);
    });
    req.on("error", () => reject(new GatewayError("ERR_BAD_REQUEST", 400, "The request body could not be read.")));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

function parseFields(text: string, type: string): Fields {
  if (text.trim() === "") return {};
  if (type === "application/json") {
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
  return isJsonRequest(req) || wantsJson(req);
}

/** The query parameters of the request (the path is already normalised by the pipeline). */
export function queryOf(scope: Pick<RequestScope, "forwardPath" | "query">): URLSearchParams {
  return new URL(scope.forwardPath + scope.query, "https://gateway.invalid").searchParams;
}
