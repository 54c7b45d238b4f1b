import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AndFilter, EqualityFilter, FilterParser } from "ldapts";
import { escapeFilterValue, fillFilter } from "../../src/ldap/filter.js";

/** Reverses RFC 4515 value escaping: every `\XX` becomes the byte 0xXX, the result is read as UTF-8. */
function unescapeValue(escaped: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    if (escaped[i] === "\\") {
      const hex = escaped.slice(i + 1, i + 3);
      assert.match(hex, /^[0-9a-f]{2}$/, `"\\" not followed by two lower-case hex digits in ${escaped}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      // Unescaped characters stand for their own UTF-8 bytes.
      const ch = String.fromCodePoint(escaped.codePointAt(i)!);
      bytes.push(...Buffer.from(ch, "utf8"));
      i += ch.length - 1;
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** The filter with every `\XX` escape removed, so that what is left is its structure and plain text. */
function withoutEscapes(filter: string): string {
  return filter.replace(/\\[0-9a-f]{2}/g, "");
}

describe("escapeFilterValue (RFC 4515 §3)", () => {
  for (const [char, escaped] of [
    ["*", "\\2a"],
    ["(", "\\28"],
    [")", "\\29"],
    ["\\", "\\5c"],
    ["\0", "\\00"],
  ] as const) {
    it(`escapes ${JSON.stringify(char)} as ${escaped}`, () => {
      assert.equal(escapeFilterValue(char), escaped);
      assert.equal(escapeFilterValue(`a${char}b`), `a${escaped}b`);
    });
  }

  it("escapes every special character in a value, in place, however many there are", () => {
    assert.equal(escapeFilterValue("*()\\\0*"), "\\2a\\28\\29\\5c\\00\\2a");
  });

  it("leaves characters beyond ASCII as they are (RFC 4515 UTFMB), so the LDAP client encodes them once as UTF-8", () => {
    assert.equal(escapeFilterValue("é"), "é");
    assert.equal(escapeFilterValue("josé"), "josé");
    assert.equal(escapeFilterValue("日本*"), "日本\\2a");
    assert.equal(escapeFilterValue("😀"), "😀");
  });

  it("escapes control characters and DEL as \\XX", () => {
    assert.equal(escapeFilterValue("a\nb"), "a\\0ab");
    assert.equal(escapeFilterValue("\t\r\x1b\x7f"), "\\09\\0d\\1b\\7f");
  });

  it("leaves plain user names, e-mail addresses and DN-like text unchanged", () => {
    for (const name of ["jdoe", "Alice.Liddell", "bob_1-2", "user@example.org", "uid=x,ou=people", "a b", "~!#$%^&+=[]{}|;:'\"<>,.?/`"]) {
      assert.equal(escapeFilterValue(name), name);
    }
  });

  it("returns the empty string for the empty string", () => {
    assert.equal(escapeFilterValue(""), "");
  });

  it("produces no ASCII control character and only lower-case \\XX escapes that decode back to the original value", () => {
    for (const value of ["*)(uid=*", "é\0\\()*", "日本\n\x7f", "plain", "(|(x=1))", "\u00ff\u0100"]) {
      const escaped = escapeFilterValue(value);
      assert.doesNotMatch(escaped, /[\x00-\x1f\x7f]/, escaped);
      assert.doesNotMatch(withoutEscapes(escaped), /[*()\\\0]/, escaped);
      assert.equal(unescapeValue(escaped), value);
    }
  });
});

describe("fillFilter", () => {
  it("puts the escaped user name into the template", () => {
    assert.equal(fillFilter("(uid={username})", { username: "jdoe" }), "(uid=jdoe)");
    assert.equal(fillFilter("(uid={username})", { username: "a*b" }), "(uid=a\\2ab)");
  });

  const injections = ["*)(uid=*", "admin)(|(uid=*", "*", "\\", "x)(objectClass=*))(&(uid=x", "*)(|(objectClass=*", "admin)\0", ")(", "é)("];
  for (const attempt of injections) {
    it(`keeps the structure of (uid={username}) for the injection attempt ${JSON.stringify(attempt)}`, () => {
      const filter = fillFilter("(uid={username})", { username: attempt });
      assert.ok(filter.startsWith("(uid=") && filter.endsWith(")"), filter);
      const value = filter.slice("(uid=".length, -1);
      // Inside the value no parenthesis, asterisk, NUL or lone backslash survives unescaped.
      assert.doesNotMatch(withoutEscapes(value), /[()*\\\0]/, filter);
      // The filter has exactly the template's parentheses: one opening, one closing.
      const structure = withoutEscapes(filter);
      assert.equal([...structure].filter((c) => c === "(").length, 1, filter);
      assert.equal([...structure].filter((c) => c === ")").length, 1, filter);
      assert.equal(unescapeValue(value), attempt);
    });
  }

  it("yields, as parsed by the LDAP client, one equality match on uid with the attempt as its value", () => {
    for (const attempt of injections) {
      const parsed = FilterParser.parseString(fillFilter("(uid={username})", { username: attempt }));
      assert.ok(parsed instanceof EqualityFilter, `${JSON.stringify(attempt)} parsed as ${parsed.constructor.name}`);
      assert.equal(parsed.attribute, "uid");
      assert.equal(parsed.value, attempt);
    }
  });

  it("keeps the structure of a compound template for an injection attempt", () => {
    const template = "(&(objectClass=person)(|(uid={username})(mail={username})))";
    const filter = fillFilter(template, { username: "*)(uid=*))(|(uid=*" });
    assert.equal(
      filter,
      "(&(objectClass=person)(|(uid=\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a)(mail=\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a)))",
    );
    assert.equal(withoutEscapes(filter).replace(/[^()]/g, ""), template.replace(/[^()]/g, ""));
    const parsed = FilterParser.parseString(filter);
    assert.ok(parsed instanceof AndFilter, parsed.constructor.name);
    assert.equal(parsed.filters.length, 2);
  });

  it("escapes the parentheses, backslashes and keeps the commas of a {dn} value", () => {
    assert.equal(
      fillFilter("(member={dn})", { dn: "cn=Carol (Star) Danvers,ou=people,dc=example,dc=org" }),
      "(member=cn=Carol \\28Star\\29 Danvers,ou=people,dc=example,dc=org)",
    );
    // A DN's own escaped comma is a backslash in the value, so it becomes \5c in the filter.
    assert.equal(fillFilter("(member={dn})", { dn: "cn=Smith\\, John,ou=people" }), "(member=cn=Smith\\5c, John,ou=people)");
  });

  it("fills {dn} and {username} in the same template, each with its own value", () => {
    assert.equal(
      fillFilter("(|(member={dn})(memberUid={username}))", { dn: "uid=a(b),ou=p", username: "a(b" }),
      "(|(member=uid=a\\28b\\29,ou=p)(memberUid=a\\28b))",
    );
  });

  it("fills every occurrence of a placeholder", () => {
    assert.equal(fillFilter("(|(uid={username})(cn={username}))", { username: "x*" }), "(|(uid=x\\2a)(cn=x\\2a))");
  });

  it("leaves unknown placeholders as written", () => {
    assert.equal(fillFilter("(&(uid={username})(o={org}))", { username: "jdoe" }), "(&(uid=jdoe)(o={org}))");
    assert.equal(fillFilter("(member={dn})", { username: "jdoe" }), "(member={dn})");
    assert.equal(fillFilter("(uid={username})", {}), "(uid={username})");
  });

  it("does not treat inherited object properties as values", () => {
    assert.equal(fillFilter("(x={constructor})(y={tostring})", {}), "(x={constructor})(y={tostring})");
  });

  it("does not expand a placeholder that appears inside a value", () => {
    assert.equal(fillFilter("(uid={username})", { username: "{username}" }), "(uid={username})");
    assert.equal(fillFilter("(|(member={dn})(uid={username}))", { dn: "{username}", username: "{dn}" }), "(|(member={username})(uid={dn}))");
  });
});
