/**
 * Server-rendered pages of the gateway (login, change password): plain HTML forms that work without
 * JavaScript. Every value written into a page goes through escapeHtml; the one message that may hold
 * HTML (uiLoginFailureMessage, as in XNAT) arrives already reduced to an allow-list (./login-message.ts).
 */
import { escapeHtml } from "../pipeline/respond.js";

const STYLE = `
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f4f5f7;color:#1d2433;margin:0}
main{max-width:24rem;margin:10vh auto;background:#fff;padding:2rem 2rem 1.5rem;border-radius:.6rem;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.3rem;margin:0 0 1.2rem}label{display:block;margin:.8rem 0 .3rem;font-weight:600;font-size:.9rem}
input[type=text],input[type=password],select{width:100%;box-sizing:border-box;padding:.55rem;border:1px solid #b8bfcc;border-radius:.35rem;font-size:1rem}
button{margin-top:1.2rem;width:100%;padding:.65rem;border:0;border-radius:.35rem;background:#2456c7;color:#fff;font-size:1rem;cursor:pointer}
.message{padding:.7rem .8rem;border-radius:.35rem;margin-bottom:1rem;font-size:.9rem}
.error{background:#fdecea;border:1px solid #f5c2bd}.info{background:#eaf1fd;border:1px solid #bcd0f5}
.check{display:flex;gap:.5rem;align-items:center;font-weight:400;margin-top:1rem}
footer{margin-top:1.2rem;font-size:.8rem;color:#5b6475;text-align:center}`;

function layout(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>\n`;
}

function messageBox(html: string | undefined, kind: "error" | "info" = "error"): string {
  return html ? `<div class="message ${kind}" role="alert">${html}</div>` : "";
}

export interface LoginPage {
  /** `paths.prefix`, where the form posts. */
  prefix: string;
  returnTo: string;
  username?: string;
  /** The message as HTML: escaped text, or the sanitised uiLoginFailureMessage. */
  messageHtml?: string;
  messageKind?: "error" | "info";
  providers: readonly string[];
  /** Offer OMERO's "encrypt everything" choice (router allow mode). */
  offerEncryption: boolean;
}

/** How the providers are called on the login page. */
const PROVIDER_LABELS: Record<string, string> = { local: "Local account", ldap: "Directory (LDAP)" };

export function loginPage(p: LoginPage): string {
  const message = messageBox(p.messageHtml, p.messageKind);
  const provider =
    p.providers.length > 1
      ? `<label for="provider">Account type</label><select id="provider" name="provider"><option value="">Automatic</option>${p.providers.map((x) => `<option value="${escapeHtml(x)}">${escapeHtml(PROVIDER_LABELS[x] ?? x)}</option>`).join("")}</select>`
      : "";
  const encrypt = p.offerEncryption
    ? `<label class="check"><input type="checkbox" name="encrypted" value="true"> &#128274; Encrypt everything (keep this session on TLS only)</label>`
    : "";
  return layout(
    "Sign in",
    `<h1>Sign in</h1>${message}<form method="post" action="${escapeHtml(p.prefix)}/login">` +
      `<input type="hidden" name="returnTo" value="${escapeHtml(p.returnTo)}">` +
      `<label for="username">User name</label><input id="username" type="text" name="username" autocomplete="username" required autofocus value="${escapeHtml(p.username ?? "")}">` +
      `<label for="password">Password</label><input id="password" type="password" name="password" autocomplete="current-password" required>` +
      `${provider}${encrypt}<button type="submit">Sign in</button></form>` +
      `<footer><a href="${escapeHtml(p.prefix)}/password/forgot">Forgot your password?</a><br>Protected by portcullis</footer>`,
  );
}

export interface ForgotPage {
  prefix: string;
  /** Set after a request: the same text whether or not the account exists. */
  messageHtml?: string;
}

export function forgotPage(p: ForgotPage): string {
  return layout(
    "Forgot password",
    `<h1>Forgot your password?</h1>${messageBox(p.messageHtml, "info")}` +
      `<p>Give your user name. If the account has an email address, a link to choose a new password is mailed to it.</p>` +
      `<form method="post" action="${escapeHtml(p.prefix)}/password/forgot">` +
      `<label for="username">User name</label><input id="username" type="text" name="username" autocomplete="username" required autofocus>` +
      `<button type="submit">Send the link</button></form>` +
      `<footer><a href="${escapeHtml(p.prefix)}/login">Back to sign in</a></footer>`,
  );
}

export interface ResetPage {
  prefix: string;
  /** The link's token, sent back with the form; absent when the link is no longer valid. */
  token?: string;
  user?: string;
  messageHtml?: string;
}

export function resetPage(p: ResetPage): string {
  const form =
    p.token === undefined
      ? `<footer><a href="${escapeHtml(p.prefix)}/password/forgot">Ask for a new link</a></footer>`
      : `<form method="post" action="${escapeHtml(p.prefix)}/password/reset">` +
        `<input type="hidden" name="token" value="${escapeHtml(p.token)}">` +
        (p.user ? `<input type="hidden" name="username" autocomplete="username" value="${escapeHtml(p.user)}">` : "") +
        `<label for="newPassword">New password</label><input id="newPassword" type="password" name="newPassword" autocomplete="new-password" required autofocus>` +
        `<label for="confirm">New password again</label><input id="confirm" type="password" name="confirmPassword" autocomplete="new-password" required>` +
        `<button type="submit">Set the new password</button></form>`;
  return layout("Reset password", `<h1>Choose a new password${p.user ? ` for ${escapeHtml(p.user)}` : ""}</h1>${messageBox(p.messageHtml)}${form}`);
}

export interface PasswordPage {
  prefix: string;
  username: string;
  messageHtml?: string;
  messageKind?: "error" | "info";
  returnTo: string;
}

export function passwordPage(p: PasswordPage): string {
  const message = messageBox(p.messageHtml, p.messageKind);
  return layout(
    "Change password",
    `<h1>Choose a new password</h1>${message}<form method="post" action="${escapeHtml(p.prefix)}/password">` +
      `<input type="hidden" name="returnTo" value="${escapeHtml(p.returnTo)}">` +
      `<label for="username">User name</label><input id="username" type="text" name="username" autocomplete="username" required value="${escapeHtml(p.username)}">` +
      `<label for="password">Current password</label><input id="password" type="password" name="password" autocomplete="current-password" required>` +
      `<label for="newPassword">New password</label><input id="newPassword" type="password" name="newPassword" autocomplete="new-password" required>` +
      `<label for="confirm">New password again</label><input id="confirm" type="password" name="confirmPassword" autocomplete="new-password" required>` +
      `<button type="submit">Change password</button></form>`,
  );
}
