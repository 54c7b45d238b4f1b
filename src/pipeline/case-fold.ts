/**
 * Case folding for upstreams whose paths ignore case (`access.caseInsensitivePaths`). Lower-casing is
 * not enough: Java's `equalsIgnoreCase`, which Spring's case-insensitive AntPathMatcher uses, also
 * equates four non-ASCII letters with ASCII ones (`ı` and `İ` with `i`, `ſ` with `s`, the Kelvin
 * sign `K` with `k`), so `/admın/x` is `/admin/x` to such an upstream and must meet its rule.
 */
const JAVA_ASCII_TWINS = /[\u0130\u0131\u017f\u212a]/g;
const HAS_TWIN = /[\u0130\u0131\u017f\u212a]/;
const TWIN: Record<string, string> = { "\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k" };

export function foldCase(path: string): string {
  return HAS_TWIN.test(path) ? path.replace(JAVA_ASCII_TWINS, (c) => TWIN[c]!).toLowerCase() : path.toLowerCase();
}
