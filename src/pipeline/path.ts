/**
 * Request-target normalisation (RFC 3986 §5.2.4 dot segments, repeated slashes merged). Rules match
 * the decoded form, so `/admin/../admin/x`, `//admin/x` and `/%61dmin/x` all meet `/admin/**`; the
 * upstream gets the same path with its encoding kept, so both sides see one resource.
 */
import { badPath } from "../errors.js";

export interface NormalisedTarget {
  path: string;
  /**
   * The path as Tomcat (XNAT's server) reads it, with `;parameters` dropped from each segment;
   * set only when it differs from `path`. Access rules must hold for both readings.
   */
  paramFreePath?: string;
  forwardPath: string;
  query: string;
}

const DOT = /^(\.|%2e)$/i;
const DOTDOT = /^(\.|%2e){2}$/i;
/** A dot segment with a path parameter (`..;x`): Tomcat reads it as `..`, others as a name; refused. */
const DOT_WITH_PARAMS = /^(\.|%2e){1,2};/i;

/** Segments of unreserved and sub-delimiter characters but `;`, none empty but a trailing one. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9._~!$&'()*+,=:@-]+)*\/?$/;
const DOT_SEGMENT = /\/\.{1,2}(?:\/|$)/;

/** Throws ERR_BAD_PATH (400) for targets that cannot be decoded or are not origin- or absolute-form. */
export function normaliseTarget(rawUrl: string): NormalisedTarget {
  let target = rawUrl;
  if (!target.startsWith("/")) {
    // absolute-form (RFC 9112 §3.2.2): keep its path; the Host header names the site.
    const m = /^https?:\/\/[^/?#]*([/?][^#]*)?$/i.exec(target);
    if (!m) throw badPath();
    target = m[1] === undefined ? "/" : m[1].startsWith("?") ? `/${m[1]}` : m[1];
  }
  const q = target.indexOf("?");
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? "" : target.slice(q);
  // Most paths have nothing to normalise: plain segments, no dot segments, no escapes, no `;`.
  if (PLAIN_PATH.test(rawPath) && !DOT_SEGMENT.test(rawPath)) return { path: rawPath, forwardPath: rawPath, query };
  if (rawPath.includes("#")) throw badPath();
  // Some upstreams (and WHATWG URL parsing, which http-proxy-3 uses for upgrades) read "\" as "/":
  // a path the rules would judge differently from the upstream is refused.
  if (rawPath.includes("\\") || /%5c/i.test(rawPath)) throw badPath();

  const raw: string[] = [];
  const decoded: string[] = [];
  const segments = rawPath.split("/");
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (DOT.test(seg)) {
      if (last) raw.push(""), decoded.push("");
      continue;
    }
    if (DOTDOT.test(seg)) {
      raw.pop();
      decoded.pop();
      if (last) raw.push(""), decoded.push("");
      continue;
    }
    if (DOT_WITH_PARAMS.test(seg)) throw badPath();
    if (seg === "" && !last) continue; // merge repeated slashes
    const plain = decodeSegment(seg);
    if (/^\.{1,2};/.test(plain)) throw badPath();
    raw.push(seg);
    decoded.push(plain);
  }
  // An encoded slash that forms a dot segment once decoded ("..%2Fadmin") reads differently to
  // different upstreams; rather than guess which reading the upstream takes, it is refused.
  for (const d of decoded) {
    if (d.includes("/") && d.split("/").some((part) => part === "." || part === "..")) throw badPath();
  }
  const path = `/${decoded.join("/")}`;
  const result: NormalisedTarget = { path, forwardPath: `/${raw.join("/")}`, query };
  if (path.includes(";")) result.paramFreePath = `/${decoded.map((d) => d.replace(/;.*$/s, "")).join("/")}`;
  return result;
}

function decodeSegment(seg: string): string {
  if (!seg.includes("%")) return seg;
  let out: string;
  try {
    out = decodeURIComponent(seg);
  } catch {
    throw badPath();
  }
  // NUL and other control characters have no business in a path and confuse upstream parsers.
  if (/[\u0000-\u001f\u007f]/.test(out)) throw badPath();
  return out;
}
