/**
 * `uiLoginFailureMessage` as the login page and JSON clients get it. XNAT lets admins write HTML
 * there, so the page shows it as HTML, but only the allow-list of SPEC §2 survives: `p br ul ol li b
 * strong i em` and `a` with an `https:` link. Anything else (`<meta http-equiv=refresh>`, scripts,
 * styles, event attributes, forms) would run or redirect inside the gateway's own origin, where the
 * CSP cannot tell it from the page. JSON clients get the same text without markup.
 */
import sanitizeHtml from "sanitize-html";

export interface LoginMessage {
  /** Safe to write into a page as it is. */
  readonly html: string;
  /** Plain text: tags removed, entities decoded, one line per paragraph or list item. */
  readonly text: string;
}

const ALLOWED: sanitizeHtml.IOptions = {
  allowedTags: ["p", "br", "ul", "ol", "li", "b", "strong", "i", "em", "a"],
  allowedAttributes: { a: ["href", "rel"] },
  allowedSchemes: ["https"],
  allowedSchemesByTag: {},
  allowedSchemesAppliedToAttributes: ["href"],
  allowProtocolRelative: false,
  disallowedTagsMode: "discard",
  transformTags: {
    // Only absolute https links: a relative or scheme-less href would stay on the gateway's origin
    // (a logout or admin route), which the allow-list does not mean to offer.
    a: (_tag, attribs): sanitizeHtml.Tag => {
      const href = attribs.href ?? "";
      return { tagName: "a", attribs: /^https:\/\/\S/i.test(href) ? { href, rel: "noopener noreferrer" } : {} };
    },
  },
};

const STRIP: sanitizeHtml.IOptions = { allowedTags: [], allowedAttributes: {} };

/** Where a line ends in the text: before these tags of the sanitised HTML (which writes them in this form). */
const LINE_BREAK = /<(?:br \/|\/?p|\/?ul|\/?ol|\/li)>/g;
/** sanitize-html escapes only these in text; everything else was decoded when the HTML was parsed. */
const ESCAPED = /&(amp|lt|gt|quot);/g;
const CHARS: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"' };

export function renderLoginMessage(source: string): LoginMessage {
  const html = sanitizeHtml(source, ALLOWED);
  // Line breaks of the source are spaces in HTML; lines come from the markup only.
  const marked = html.replace(/\s+/g, " ").replace(LINE_BREAK, "\n$&").replace(/<li>/g, "\n- ");
  const text = sanitizeHtml(marked, STRIP)
    .replace(ESCAPED, (_m, name: string) => CHARS[name]!)
    .split("\n")
    .map((line) => line.replace(/\s+/g, " ").trim())
    .filter((line) => line !== "" && line !== "-")
    .join("\n");
  return { html, text };
}

/**
 * A renderer that keeps its last answer: the message changes only when an admin changes it, and
 * sanitising on every failed login would cost each one a parse of the admin's HTML.
 */
export function loginMessageCache(): (source: string) => LoginMessage {
  let last: { source: string; message: LoginMessage } | null = null;
  return (source) => {
    if (last === null || last.source !== source) last = { source, message: renderLoginMessage(source) };
    return last.message;
  };
}

/** The message of a failed login, shared by the routes that answer one (login, password change). */
export const loginFailureMessage = loginMessageCache();
