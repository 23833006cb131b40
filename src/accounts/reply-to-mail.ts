/**
 * accounts/reply-to-mail — the verification mail of a sender's reply-to address: from the
 * sender itself (so it is signed with its domain's DKIM key and tests the very path
 * replies will take back), to the address, with the link and how long it works, in
 * English and Chinese. `Auto-Submitted: auto-generated` (RFC 3834) keeps auto-responders
 * from answering it. Pure: the caller spools the bytes.
 */
import MailComposer from 'nodemailer/lib/mail-composer';

export interface VerificationMailInput {
  sender: string;
  address: string;
  link: string;
  expiresAt: number;
  messageId: string;
  now: number;
}

export const VERIFICATION_SUBJECT = 'Confirm this reply-to address / 确认回信地址';

export function verificationMail(m: VerificationMailInput): Promise<Buffer> {
  const until = new Date(m.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const minutes = Math.max(1, Math.round((m.expiresAt - m.now) / 60_000));
  const text = [
    `${m.sender} asked to have replies to its mail sent to ${m.address}.`,
    '',
    'To confirm that this is your address, open this link and press the button:',
    '',
    m.link,
    '',
    `The link works once, for ${minutes} minutes (until ${until}). If you did not expect this mail, ignore it: nothing changes.`,
    '',
    `${m.sender} 申请将其邮件的回信地址设为 ${m.address}。`,
    `如确认这是您的地址，请在 ${minutes} 分钟内打开上面的链接并点击按钮（链接仅可使用一次）。如非本人操作，请忽略此邮件。`,
    '',
  ].join('\r\n');
  const composer = new MailComposer({
    from: m.sender, to: m.address, subject: VERIFICATION_SUBJECT, text, messageId: m.messageId, date: new Date(m.now),
    headers: [{ key: 'Auto-Submitted', value: 'auto-generated' }],
    disableFileAccess: true, disableUrlAccess: true, newline: 'win',
  });
  return new Promise((resolve, reject) => composer.compile().build((e: Error | null, b: Buffer) => (e ? reject(e) : resolve(b))));
}

