// console/pages/senders — sender addresses (发信地址): the list with type (trigger / batch),
// SMTP password set or not, state and reply-to; adding one; setting or resetting the SMTP
// password; the reply-to and its verification (set: a link is mailed to it, valid 10
// minutes; resend; clear), shown with its state; disabling, enabling and removing. A password is made here in the browser from
// crypto.getRandomValues, sent once to the API (which keeps only its scrypt hash) and
// shown once: neither the server nor this page can show it again. Changes are an admin's.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { CopyButton, Field, More, RemoveButton, fill, formValues, may, useAction, usePaged, when, withKitWords } from '../kit.js';
import { Empty, ErrorLine, html } from '../ui.js';

const P = '/api/v1/senders';
const enc = encodeURIComponent;

export const SENDER_WORDS = withKitWords({
  en: {
    senders: 'Sender addresses', address: 'Address', type: 'Type', trigger: 'trigger', batch: 'batch', replyTo: 'Reply-to', smtp: 'SMTP password',
    state: 'State', enabled: 'enabled', disabled: 'disabled', set: 'set', notSet: 'not set', addSender: 'Add a sender',
    withPassword: 'Make an SMTP password now', setPassword: 'Set SMTP password', resetPassword: 'Reset SMTP password', disable: 'Disable', enable: 'Enable',
    newPassword: 'SMTP password for {a} (shown only now: copy it into your application):', dismiss: 'I have copied it',
    emptySenders: 'No sender address yet. Add one on a domain you have added under Domains; give it an SMTP password to send through SMTP.',
    typeHelp: 'trigger: transactional, delivered first; batch: bulk mail',
    rt_none: 'none', rt_pending: 'waiting for the link', rt_expired: 'link ran out', rt_verified: 'verified',
    setReplyTo: 'Set reply-to', resend: 'Resend link', clear: 'Clear', replyToSent: 'A verification link was mailed to {a}; it works for 10 minutes.',
    replyToHelp: 'Used in Reply-To only once the link mailed to it has been opened and confirmed.',
  },
  zh: {
    senders: '发信地址', address: '发信地址', type: '类型', trigger: '触发邮件', batch: '批量邮件', replyTo: '回信地址', smtp: 'SMTP 密码',
    state: '状态', enabled: '正常', disabled: '已停用', set: '已设置', notSet: '未设置', addSender: '新建发信地址',
    withPassword: '同时生成 SMTP 密码', setPassword: '设置 SMTP 密码', resetPassword: '重置 SMTP 密码', disable: '停用', enable: '启用',
    newPassword: '{a} 的 SMTP 密码（仅显示这一次，请复制到您的应用中）：', dismiss: '我已复制',
    emptySenders: '还没有发信地址。请在“发信域名”中已添加的域名下新建，设置 SMTP 密码后即可通过 SMTP 发信。',
    typeHelp: '触发邮件：事务类邮件，优先投递；批量邮件：群发',
    rt_none: '未设置', rt_pending: '等待验证', rt_expired: '链接已过期', rt_verified: '已验证',
    setReplyTo: '设置回信地址', resend: '重发验证邮件', clear: '清除', replyToSent: '验证链接已发送到 {a}，10 分钟内有效。',
    replyToHelp: '只有在打开邮件中的链接并确认后，才会用作 Reply-To。',
  },
});

/** 20 random characters from an alphabet without look-alikes: about 115 bits. */
function newPassword() {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  // 256 % 56 leaves a slight bias toward the first 32 letters: about 0.3 bits less in all.
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}

/** The password just made, until the operator says it has been copied. */
function OnceBox({ t, shown, onDismiss }) {
  return html`<div class="once" role="status" data-testid="once">
    <p>${fill(t.newPassword, { a: shown.address })}</p>
    <p class="copyable"><code data-testid="password">${shown.password}</code><${CopyButton} t=${t} text=${shown.password} label=${t.smtp} /></p>
    <button type="button" class="plain" data-read data-testid="dismiss" onClick=${onDismiss}>${t.dismiss}</button>
  </div>`;
}

export function Senders({ t, role, lang }) {
  const { items, error, reload, next } = usePaged(P);
  const act = useAction(t);
  const [shown, setShown] = useState(null);
  const admin = may(role, 'admin');
  const add = async (ev) => {
    const { values, reset } = formValues(ev);
    const password = values.password ? newPassword() : undefined;
    const body = { address: values.address.trim(), type: values.type, ...(values.reply_to.trim() ? { reply_to: values.reply_to.trim() } : {}), ...(password ? { password } : {}) };
    const s = await act.run(() => api('POST', P, body), t.added);
    if (!s) return;
    reset();
    setShown(password ? { address: s.address, password } : null);
    reload();
  };
  const setPassword = async (s) => {
    const password = newPassword();
    if (await act.run(() => api('PUT', `${P}/${enc(s.address)}/password`, { password }), t.saved)) { setShown({ address: s.address, password }); reload(); }
  };
  const toggle = async (s) => { if (await act.run(() => api('POST', `${P}/${enc(s.address)}/${s.disabled ? 'enable' : 'disable'}`, {}), t.saved)) reload(); };
  const setReplyTo = async (ev, s) => {
    const { values, reset } = formValues(ev);
    const address = values.reply_to.trim();
    if (await act.run(() => api('PUT', `${P}/${enc(s.address)}/reply-to`, { address }), fill(t.replyToSent, { a: address }))) { reset(); reload(); }
  };
  const resend = async (s) => { if (await act.run(() => api('POST', `${P}/${enc(s.address)}/reply-to/resend`, {}), fill(t.replyToSent, { a: s.reply_to }))) reload(); };
  const clearReplyTo = async (s) => { if (await act.run(() => api('DELETE', `${P}/${enc(s.address)}/reply-to`), t.saved)) reload(); };
  const remove = async (s) => { if (await act.run(() => api('DELETE', `${P}/${enc(s.address)}`), t.removed)) reload(); };
  return html`<section>
    <h1>${t.senders}</h1>
    ${admin && html`<form class="inline-form" onSubmit=${add} data-testid="add-sender">
      <${Field} label=${t.address} name="address" type="email" required placeholder="noreply@mail.example.com" />
      <${Field} label=${t.type} title=${t.typeHelp}><select name="type"><option value="trigger">${t.trigger}</option><option value="batch">${t.batch}</option></select><//>
      <${Field} label=${t.replyTo} name="reply_to" type="email" placeholder="support@example.com" />
      <label class="check"><input type="checkbox" name="password" value="1" checked /> ${t.withPassword}</label>
      <button type="submit" disabled=${act.busy}>${t.addSender}</button>
    </form>`}
    ${act.line}
    ${shown && html`<${OnceBox} t=${t} shown=${shown} onDismiss=${() => setShown(null)} />`}
    <${ErrorLine} t=${t} error=${error} />
    ${items && (items.length === 0 ? html`<${Empty} t=${t} text=${t.emptySenders} />` : html`<div class="scroll"><table data-testid="senders">
      <thead><tr><th>${t.address}</th><th>${t.type}</th><th title=${t.replyToHelp}>${t.replyTo}</th><th>${t.smtp}</th><th>${t.state}</th><th>${t.created}</th>${admin && html`<th>${t.actions}</th>`}</tr></thead>
      <tbody>${items.map((s) => html`<tr data-sender=${s.address}>
        <td>${s.address}</td><td>${t[s.type]}</td>
        <td data-key="reply-to">${s.reply_to ?? ''} <span class=${`badge ${s.reply_to_state === 'verified' ? 'good' : s.reply_to_state === 'none' ? 'quiet' : 'bad'}`} data-state=${s.reply_to_state}>${t[`rt_${s.reply_to_state}`]}</span>
          ${admin && html`<form class="inline-form" data-testid="reply-to-form" onSubmit=${(ev) => setReplyTo(ev, s)}>
            <input name="reply_to" type="email" required aria-label=${t.replyTo} placeholder="support@example.com" />
            <button type="submit" class="plain" disabled=${act.busy}>${t.setReplyTo}</button></form>
            ${(s.reply_to_state === 'pending' || s.reply_to_state === 'expired') && html`<button type="button" class="plain" data-testid="resend" onClick=${() => resend(s)}>${t.resend}</button>`}
            ${s.reply_to && html`<button type="button" class="plain" data-testid="clear-reply-to" onClick=${() => clearReplyTo(s)}>${t.clear}</button>`}`}
        </td>
        <td data-key="smtp">${s.smtp_enabled ? t.set : t.notSet}</td>
        <td data-key="state"><span class=${`badge ${s.disabled ? 'bad' : 'good'}`}>${s.disabled ? t.disabled : t.enabled}</span></td>
        <td>${when(t, s.created_at, lang)}</td>
        ${admin && html`<td class="row-actions">
          <button type="button" class="plain" data-testid="password-btn" onClick=${() => setPassword(s)}>${s.smtp_enabled ? t.resetPassword : t.setPassword}</button>
          <button type="button" class="plain" data-testid="toggle" onClick=${() => toggle(s)}>${s.disabled ? t.enable : t.disable}</button>
          <${RemoveButton} t=${t} what=${s.address} onConfirm=${() => remove(s)} />
        </td>`}
      </tr>`)}</tbody></table></div>`)}
    <${More} t=${t} act=${act} next=${next} />
    ${!items && !error && html`<p>${t.loading}</p>`}
  </section>`;
}
