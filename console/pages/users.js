// console/pages/users — the console's users: list, add with a role, change a role or a
// password, remove. Admins only: the API refuses everyone else (src/admin/routes/users.ts),
// and for them this page says so instead of showing forms. A new password ends the user's
// sessions; a new role applies from their next request.
import { api } from '../api.js';
import { Field, RemoveButton, formValues, may, useAction, when, withKitWords } from '../kit.js';
import { Empty, ErrorLine, html, useLoad } from '../ui.js';

const P = '/api/v1/users';
const ROLES = ['admin', 'operator', 'viewer'];
const enc = encodeURIComponent;

export const USER_WORDS = withKitWords({
  en: {
    users: 'Users', user: 'User name', role: 'Role', passwordChanged: 'Password changed', addUser: 'Add a user', newPassword: 'New password',
    setPassword: 'Set password', passwordHelp: 'at least 8 characters', adminOnly: 'Only an admin manages console users.',
    admin: 'admin: everything', operator: 'operator: all but users and configuration', viewer: 'viewer: read only',
    roleSet: 'Role changed.', changeRole: 'Change role', passwordSet: 'Password set; their sessions were ended.',
    emptyUsers: 'No console user yet. Add one above (or with mta user add on the server).',
  },
  zh: {
    users: '用户', user: '用户名', role: '角色', passwordChanged: '密码修改时间', addUser: '添加用户', newPassword: '新密码',
    setPassword: '设置密码', passwordHelp: '至少 8 个字符', adminOnly: '只有管理员可以管理控制台用户。',
    admin: '管理员：全部权限', operator: '操作员：除用户和配置外的全部权限', viewer: '只读：仅查看',
    roleSet: '角色已修改。', changeRole: '修改角色', passwordSet: '密码已设置，该用户的会话已结束。',
    emptyUsers: '还没有控制台用户。请在上方添加（或在服务器上执行 mta user add）。',
  },
});

/** Uncontrolled (selected options): a re-render while the operator picks does not undo the pick. */
function RoleSelect({ t, value, label }) {
  return html`<select name="role" aria-label=${label}>${ROLES.map((r) => html`<option value=${r} selected=${r === value}>${t[r]}</option>`)}</select>`;
}

function UserRow({ t, lang, u, act, reload }) {
  // A button, not the select's change: arrow keys on a closed select fire a change for every step.
  const setRole = async (ev) => {
    const { values } = formValues(ev);
    if (values.role === u.role) return;
    if (await act.run(() => api('PUT', `${P}/${enc(u.name)}/role`, { role: values.role }), t.roleSet)) reload();
  };
  const setPassword = async (ev) => {
    const { values, reset } = formValues(ev);
    if (await act.run(() => api('PUT', `${P}/${enc(u.name)}/password`, { password: values.password }), t.passwordSet)) { reset(); reload(); }
  };
  const remove = async () => { if (await act.run(() => api('DELETE', `${P}/${enc(u.name)}`), t.removed)) reload(); };
  return html`<tr data-user=${u.name}>
    <td>${u.name}</td>
    <td><form class="inline-form" onSubmit=${setRole} data-testid="role-form"><${RoleSelect} t=${t} value=${u.role} label=${`${t.role} ${u.name}`} />
      <button type="submit" class="plain">${t.changeRole}</button></form></td>
    <td>${when(t, u.created, lang)}</td><td>${when(t, u.password_changed, lang)}</td>
    <td class="row-actions"><form class="inline-form" onSubmit=${setPassword}>
      <input name="password" type="password" autocomplete="new-password" minlength="8" required aria-label=${`${t.newPassword} ${u.name}`} placeholder=${t.newPassword} />
      <button type="submit" class="plain">${t.setPassword}</button></form>
      <${RemoveButton} t=${t} what=${u.name} onConfirm=${remove} /></td>
  </tr>`;
}

export function Users({ t, role, lang }) {
  const admin = may(role, 'admin');
  // Not asked at all below admin: the answer would only be the 403.
  const { data, error, reload } = useLoad(() => (admin ? api('GET', P) : Promise.resolve(null)), [admin]);
  const act = useAction(t);
  if (!admin) return html`<section><h1>${t.users}</h1><p class="notice" data-testid="admin-only">${t.adminOnly}</p></section>`;
  const add = async (ev) => {
    const { values, reset } = formValues(ev);
    if (await act.run(() => api('POST', P, { name: values.name.trim(), role: values.role, password: values.password }), t.added)) { reset(); reload(); }
  };
  return html`<section>
    <h1>${t.users}</h1>
    <form class="inline-form" onSubmit=${add} data-testid="add-user">
      <${Field} label=${t.user} name="name" required autocomplete="off" />
      <${Field} label=${t.role}><${RoleSelect} t=${t} value="viewer" /><//>
      <${Field} label=${t.password} name="password" type="password" autocomplete="new-password" minlength="8" required placeholder=${t.passwordHelp} />
      <button type="submit" disabled=${act.busy}>${t.addUser}</button>
    </form>
    ${act.line}
    <${ErrorLine} t=${t} error=${error} />
    ${data && (data.items.length === 0 ? html`<${Empty} t=${t} text=${t.emptyUsers} />` : html`<div class="scroll"><table data-testid="users">
      <thead><tr><th>${t.user}</th><th>${t.role}</th><th>${t.created}</th><th>${t.passwordChanged}</th><th>${t.actions}</th></tr></thead>
      <tbody>${data.items.map((u) => html`<${UserRow} t=${t} lang=${lang} u=${u} act=${act} reload=${reload} key=${u.name} />`)}</tbody>
    </table></div>`)}
    ${!data && !error && html`<p>${t.loading}</p>`}
  </section>`;
}
