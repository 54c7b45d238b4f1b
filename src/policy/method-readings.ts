/**
 * The methods an upstream may run a request as. Method-override headers are removed before the rules
 * (SPEC §6.5), but frameworks also read a `_method` parameter: Spring's HiddenHttpMethodFilter (XNAT),
 * Rails and Laravel turn a POST carrying `_method=DELETE` in its query or form body into a DELETE.
 * The body is not read here, so a POST that could carry the parameter — a form body, or `_method` in
 * the query — is judged as each method it could become, and the strictest rule applies.
 */
import type http from "node:http";

const OVERRIDABLE = ["POST", "PUT", "PATCH", "DELETE"] as const;
const FORM = /^\s*(?:application\/x-www-form-urlencoded|multipart\/form-data)\b/i;
const METHOD_PARAM = /[?&]_method=/i;

export function methodReadings(req: http.IncomingMessage, query: string): string | readonly string[] {
  const method = req.method ?? "GET";
  if (method !== "POST") return method;
  const type = req.headers["content-type"];
  if ((type !== undefined && FORM.test(type)) || (query !== "" && METHOD_PARAM.test(query))) return OVERRIDABLE;
  return method;
}
