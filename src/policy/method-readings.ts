/**
 * The methods an upstream may run a request as. Method-override headers are removed before the rules
 * (SPEC §6.5), but frameworks also read a `_method` parameter: Spring's HiddenHttpMethodFilter (XNAT),
 * Rails (Rack::MethodOverride) and Laravel/Symfony turn a POST carrying `_method=DELETE` into a DELETE,
 * and Rack allows GET, HEAD and OPTIONS too. They find the parameter where the gateway cannot follow
 * them cheaply: Tomcat decodes parameter names (`%5fmethod`), PHP folds `.`, space and `[` in names to
 * `_`, Rack parses a POST without a Content-Type and `multipart/mixed` or `related` bodies as forms,
 * Laravel reads a JSON body's fields as parameters. The body is not read here, so a POST that could
 * carry the parameter — any body a framework may read parameters from, or a query with a parameter
 * name that could read as `_method` — is judged as each method
 * it could become, and the strictest rule applies.
 */
import type http from "node:http";

const OVERRIDABLE = ["POST", "PUT", "PATCH", "DELETE", "GET", "HEAD", "OPTIONS"] as const;
/**
 * Bodies some framework reads parameters from: forms, and JSON (Laravel merges a JSON body into its
 * request parameters, where Symfony's override finds `_method`); an absent or empty Content-Type
 * counts too (Rack).
 */
const PARAMETER_BODY = /^\s*(?:application\/x-www-form-urlencoded|multipart\/)|\/json\b|\+json\b/i;

export function methodReadings(req: Pick<http.IncomingMessage, "method" | "headers">, query: string): string | readonly string[] {
  const method = req.method ?? "GET";
  if (method !== "POST") return method;
  const type = req.headers["content-type"];
  if (type === undefined || type.trim() === "" || PARAMETER_BODY.test(type) || queryMayOverride(query)) return OVERRIDABLE;
  return method;
}

/**
 * Whether a parameter name in the query could be read as `_method` by some framework: names are
 * decoded (Tomcat) and compared without regard to case or to the characters PHP folds, so any name
 * that contains `method` once decoded counts. Stricter than any one framework, on purpose.
 */
function queryMayOverride(query: string): boolean {
  if (query === "") return false;
  let text = query.replace(/\+/g, " ");
  try {
    text = decodeURIComponent(text);
  } catch {
    // An undecodable query is read as it is; a name spelt with broken escapes cannot be a parameter.
  }
  return /method/i.test(text);
}
