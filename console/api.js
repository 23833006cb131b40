// console/api — the console's only way to the server: the same admin API scripts use,
// same origin, with the session cookie and, for changes, the session's CSRF token.
let csrf = null;

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

export async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json().catch(() => undefined);
  if (!res.ok) throw new ApiError(res.status, json);
  if (json && typeof json.csrf_token === 'string') csrf = json.csrf_token;
  return json;
}

export const session = {
  current: () => api('GET', '/api/v1/session'),
  signIn: (name, password) => api('POST', '/api/v1/session', { name, password }),
  signOut: async () => { try { await api('DELETE', '/api/v1/session'); } finally { csrf = null; } },
};
