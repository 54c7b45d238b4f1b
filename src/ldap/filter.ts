/**
 * LDAP search filters from the configured templates (`ldap.userFilter`, `ldap.groupFilter`):
 * every value put into a template is escaped per RFC 4515 §3, so a user name such as `*)(uid=*`
 * matches itself and nothing else.
 */

/** Escapes `*`, `(`, `)`, `\`, NUL and every non-ASCII byte as `\XX` (RFC 4515 §3). */
export function escapeFilterValue(value: string): string {
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    // Visible ASCII other than the four specials passes; everything else is written as \XX.
    if (byte >= 0x20 && byte < 0x7f && byte !== 0x2a && byte !== 0x28 && byte !== 0x29 && byte !== 0x5c) out += String.fromCharCode(byte);
    else out += `\\${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** Replaces each `{name}` of the template with the escaped value; unknown placeholders are left as written. */
export function fillFilter(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? escapeFilterValue(values[name]!) : whole));
}
