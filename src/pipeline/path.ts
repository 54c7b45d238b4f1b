/**
 * Request-target normalisation (SPEC §8.1; RFC 3986 §5.2.4 dot segments, repeated slashes merged).
 * Decoding comes first and normalisation after it, once: an encoded slash (`%2F`) separates segments
 * like `/` does, so `/admin/../admin/x`, `//admin/x`, `/%61dmin/x` and `/x/%2e%2e/admin/x` all meet
 * `/admin/**`. The upstream gets the normalised path with its encoding kept; every way an upstream
 * may read that forwarded path (Tomcat's `;parameters`, `%2F` kept inside a segment) is given
 * beside `path`, so rules can hold for each. Shapes that upstreams read in incompatible ways are
 * refused with 400 rather than guessed at.
 */
import { badPath } from "../errors.js";

export interface NormalisedTarget {
  /** Percent-decoded and normalised: what gateway routes and access rules match. */
  path: string;
  /**
   * Every other reading of `forwardPath` an upstream may take (Tomcat's, XNAT's server, with
   * `;parameters` dropped first); set only when one differs from `path`. Access rules must hold for
   * each, and the strictest applies.
   */
  otherReadings?: string[];
  /** What the upstream receives: dot segments resolved and empty segments merged, encoding kept. */
  forwardPath: string;
  query: string;
}

/** Segments of unreserved and sub-delimiter characters but `;`, none empty but a trailing one. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9._~!$&'()*+,=:@-]+)*\/?$/;
const DOT_SEGMENT = /\/\.{1,2}(?:\/|$)/;
const ENCODED_SLASH = /%2f/i;
const ENCODED_SLASHES = /%2f/gi;
/** A dot segment with a path parameter (`..;x`): Tomcat reads it as `..`, others as a name. */
const DOT_WITH_PARAMS = /^\.{1,2};/;
/** An escape left after one decoding: `%252f` is `%2f` to us and `/` to an upstream that decodes twice. */
const ESCAPE = /%[0-9a-f]{2}/i;
// NUL and other control characters have no business in a path and confuse upstream parsers.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** One name of the decoded path, with the text it was sent as and what separated it from the one before. */
interface Piece {
  raw: string;
  /** "/" or, inside a segment, the encoded slash as it was sent (`%2F`, `%2f`). */
  sep: string;
}

/** Throws ERR_BAD_PATH (400) for targets that cannot be decoded, are ambiguous, or are not origin- or absolute-form. */
export function normaliseTarget(rawUrl: string): NormalisedTarget {
  let target = rawUrl;
  if (!target.startsWith("/")) {
    // absolute-form (RFC 9112 §3.2.2): keep its path; the Host header names the site.
    // RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid and must be rejected.
    const m = /^https?:\/\/[^/?#]+([/?][^#]*)?$/i.exec(target);
    if (!m) throw badPath();
    // "/" in front of the path or query; the "//" it makes before a path is merged below.
    target = `/${m[1] ?? ""}`;
  }
  const q = target.indexOf("?");
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? "" : target.slice(q);
  // Most paths have nothing to normalise: plain segments, no dot segments, no escapes, no `;`. The
  // full reading below gives such a path back unchanged, with no other reading.
  if (PLAIN_PATH.test(rawPath) && !DOT_SEGMENT.test(rawPath)) return { path: rawPath, forwardPath: rawPath, query };

  const forwardPath = normalise(rawPath);
  const path = readAs(forwardPath, false, true);
  const result: NormalisedTarget = { path, forwardPath, query };
  const others = new Set([
    // Tomcat drops `;parameters` from each segment of the raw path before it decodes; with
    // encodedSolidusHandling=decode it then splits on `%2F`, with "passthrough" it keeps it.
    readAs(forwardPath, true, true),
    readAs(forwardPath, true, false),
    // Go's ServeMux, Express route parameters and Apache's AllowEncodedSlashes NoDecode keep `%2F`
    // inside a segment: `/data/projects/a%2Fb` is one project there, and must meet `/data/projects/*`.
    readAs(forwardPath, false, false),
  ]);
  others.delete(path);
  if (others.size > 0) result.otherReadings = [...others];
  return result;
}

/** The path to forward: decoded to find its names, normalised, with each kept name as it was sent. */
function normalise(rawPath: string): string {
  if (rawPath.includes("#")) throw badPath();
  // Some upstreams (and WHATWG URL parsing, which http-proxy-3 uses for upgrades) read "\" as "/":
  // a path the rules would judge differently from the upstream is refused.
  if (rawPath.includes("\\") || /%5c/i.test(rawPath)) throw badPath();

  const kept: Piece[] = [];
  let trailingSlash = false;
  const segments = rawPath.split("/");
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    const name = decode(seg);
    if (name === "." || name === "..") {
      if (name === "..") kept.pop();
      trailingSlash = last;
      continue;
    }
    if (seg === "") {
      trailingSlash = last; // repeated slashes merge; a final one stays
      continue;
    }
    // An encoded slash separates names like "/" does. Where it would make an empty name or a dot
    // segment ("/%2Fadmin", "/a%2F", "..%2Fadmin", "/admin%2F..%2Fpublic") upstreams part ways:
    // nginx merges and resolves them, Express and Go keep them, Tomcat refuses them. Rather than
    // guess which reading the upstream takes, the request is refused; no client needs these shapes.
    // Null without an encoded slash, when the one part below never reads it.
    const separators = seg.match(ENCODED_SLASHES);
    const parts = seg.split(ENCODED_SLASH);
    for (let j = 0; j < parts.length; j++) {
      // Escapes never straddle an encoded slash (each "%" starts one), so the parts decode alone.
      const part = decode(parts[j]!);
      if (part === "" || part === "." || part === ".." || DOT_WITH_PARAMS.test(part)) throw badPath();
      kept.push({ raw: parts[j]!, sep: j === 0 ? "/" : separators![j - 1]! });
    }
  }
  // A path that keeps no name ended in an empty or dot segment, which set trailingSlash.
  const joined = kept.map((p) => p.sep + p.raw).join("");
  return trailingSlash ? `${joined}/` : joined;
}

/**
 * How an upstream reads a forwarded (already normalised) path: decoded once, with or without Tomcat's
 * `;parameters`, and with `%2F` as a separator or as part of a name (shown as `%2F`, which a decoded
 * name cannot hold since escapes left after decoding are refused). Empty names merge, as Tomcat
 * merges what dropping `;x` from `/;x/admin` leaves.
 */
function readAs(forwardPath: string, dropParams: boolean, splitEncodedSlash: boolean): string {
  const names: string[] = [];
  let trailingSlash!: boolean; // set by every pass: a forwarded path starts with "/"
  const segments = forwardPath.split("/");
  for (let i = 1; i < segments.length; i++) {
    const seg = dropParams ? segments[i]!.split(";", 1)[0]! : segments[i]!;
    const decoded = decode(seg);
    const parts = splitEncodedSlash ? decoded.split("/") : [decoded.replaceAll("/", "%2F")];
    for (const part of parts) {
      // normalise() leaves no dot segment, and refuses ".;x", the only name dropping `;x` could make one of.
      if (part === "." || part === "..") throw badPath();
      if (part !== "") names.push(part);
    }
    trailingSlash = parts.at(-1) === "";
  }
  const joined = `/${names.join("/")}`;
  return trailingSlash && names.length > 0 ? `${joined}/` : joined;
}

function decode(seg: string): string {
  if (!seg.includes("%")) return seg;
  let out: string;
  try {
    out = decodeURIComponent(seg);
  } catch {
    throw badPath();
  }
  if (CONTROL.test(out)) throw badPath();
  // An upstream that decodes twice (a servlet calling URLDecoder on getRequestURI, a second proxy)
  // reads "/%2561dmin" as "/admin" and "/%252e%252e/" as "/../": a double-encoded escape is refused.
  if (ESCAPE.test(out)) throw badPath();
  return out;
}
