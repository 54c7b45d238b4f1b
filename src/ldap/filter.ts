/**
 * LDAP search filters from the configured templates (`ldap.userFilter`, `ldap.groupFilter`):
 * every value put into a template is escaped per RFC 4515 §3, so a user name such as `*)(uid=*`
 * matches itself and nothing else.
 */

/**
 * Escapes `*`, `(`, `)`, `\`, NUL and the other ASCII control characters as `\XX` (RFC 4515 §3).
 * Characters beyond ASCII are left as they are, which RFC 4515 allows (UTFMB): ldapts re-encodes a
 * string filter's `\XX` escapes one byte per character, so escaping UTF-8 bytes would garble them.
 */
export function escapeFilterValue(value: string): string {
  let out = "";
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x80) out += ch;
    else if (code < 0x20 || code === 0x7f || ch === "*" || ch === "(" || ch === ")" || ch === "\\") out += `\\${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return out;
}

/** Replaces each `{name}` of the template with the escaped value; unknown placeholders are left as written. */
export function fillFilter(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? escapeFilterValue(values[name]!) : whole));
}
