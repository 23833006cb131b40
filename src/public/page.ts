/**
 * public/page — the few HTML pages the public endpoint serves: the unsubscribe and the
 * reply-to verification confirmations (GET), their results (POST) and errors. Self-contained (inline style, no
 * scripts, no external resources), so the Content-Security-Policy can forbid everything.
 */
import { escapeHtml } from './unsubscribe-links.js';

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex,nofollow"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f5f5f5;color:#222;margin:0}
main{max-width:32rem;margin:10vh auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.1)}
h1{font-size:1.3rem;margin-top:0}button{font-size:1rem;padding:.6rem 1.4rem;border:0;border-radius:4px;background:#c0392b;color:#fff;cursor:pointer}
.muted{color:#777;font-size:.9rem}</style></head>
<body><main>${body}</main></body></html>
`;
}

/** GET: shows what would happen and asks for the click; changes nothing (link scanners fetch it). */
export function confirmPage(maskedAddress: string, domain: string, action: string): string {
  return page('Unsubscribe', `<h1>Unsubscribe</h1>
<p>Stop mail from <strong>${escapeHtml(domain)}</strong> to <strong>${escapeHtml(maskedAddress)}</strong>?</p>
<form method="post" action="${escapeHtml(action)}"><input type="hidden" name="confirm" value="yes"><button type="submit">Unsubscribe</button></form>
<p class="muted">If you did not mean to, close this page: nothing changes until you press the button.</p>`);
}

export function donePage(maskedAddress: string, domain: string, already: boolean): string {
  return page('Unsubscribed', `<h1>You are unsubscribed</h1>
<p><strong>${escapeHtml(maskedAddress)}</strong> ${already ? 'was already unsubscribed' : 'will no longer receive mail'} from <strong>${escapeHtml(domain)}</strong>.</p>`);
}

const CUT_LINK = 'If you followed a link from an email, it may have been cut or changed; try copying the whole link.';

/** `hint`: what to do next, when the cause is known (default: the link may have been cut). */
export function errorPage(status: number, message: string, hint = CUT_LINK): string {
  return page(`Error ${status}`, `<h1>${escapeHtml(message)}</h1>
<p class="muted">${escapeHtml(hint)}</p>`);
}

/** GET of a reply-to verification link: names what would be confirmed; only the button's POST confirms. */
export function replyToConfirmPage(sender: string, address: string, action: string): string {
  return page('Confirm reply-to address', `<h1>Confirm your reply-to address</h1>
<p>Replies to mail from <strong>${escapeHtml(sender)}</strong> will go to <strong>${escapeHtml(address)}</strong>.</p>
<form method="post" action="${escapeHtml(action)}"><input type="hidden" name="confirm" value="yes"><button type="submit" style="background:#2e7d32">Confirm</button></form>
<p class="muted">If you did not ask for this, close this page: nothing changes until you press the button.</p>`);
}

export function replyToDonePage(sender: string, address: string): string {
  return page('Reply-to address confirmed', `<h1>Reply-to address confirmed</h1>
<p>Replies to mail from <strong>${escapeHtml(sender)}</strong> now go to <strong>${escapeHtml(address)}</strong>.</p>`);
}
