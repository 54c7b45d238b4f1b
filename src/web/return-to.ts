/**
 * `returnTo` after login: only same-origin relative paths are followed; anything else — absolute URLs,
 * scheme-relative `//evil`, backslash tricks, control characters — becomes "/" (no open redirects).
 */
export function safeReturnTo(value: string | undefined | null): string {
  if (!value || value.length > 2048) return "/";
  if (!value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) return "/";
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return "/";
  try {
    const resolved = new URL(value, "https://gateway.invalid");
    if (resolved.origin !== "https://gateway.invalid") return "/";
    // Dot segments can turn "/.//evil" into "//evil" once resolved: judge the result too.
    if (resolved.pathname.startsWith("//") || resolved.pathname.startsWith("/\\")) return "/";
    return resolved.pathname + resolved.search + resolved.hash;
  } catch {
    return "/";
  }
}
