// console/api — the console's only way to the server: the same admin API scripts use,
// same origin, with the session cookie and, for changes, the session's CSRF token. A 401
// from any call but signing in means the session has ended (expired, signed out elsewhere):
// the shell listens for SESSION_ENDED and goes back to the sign-in form.
let csrf = null;

export const SESSION_ENDED = 'mta:session-ended';

function ended(status, path) {
  if (status === 401 && path !== '/api/v1/session') dispatchEvent(new Event(SESSION_ENDED));
}

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
  if (!res.ok) { ended(res.status, path); throw new ApiError(res.status, json); }
  if (json && typeof json.csrf_token === 'string') csrf = json.csrf_token;
  return json;
}

export const session = {
  current: () => api('GET', '/api/v1/session'),
  signIn: (name, password) => api('POST', '/api/v1/session', { name, password }),
  signOut: async () => { try { await api('DELETE', '/api/v1/session'); } finally { csrf = null; } },
};

/** A GET query string from the fields of `q` that have a value. */
export function query(q) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/**
 * POSTs `form` (multipart) with XMLHttpRequest, whose upload events fetch lacks: `onProgress`
 * gets the fraction sent (0..1). Resolves with the JSON answer; rejects with ApiError.
 */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    if (csrf) xhr.setRequestHeader('x-csrf-token', csrf);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let json;
      try { json = JSON.parse(xhr.responseText); } catch { json = undefined; }
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(1); resolve(json); } else { ended(xhr.status, path); reject(new ApiError(xhr.status, json)); }
    };
    xhr.onerror = () => reject(new ApiError(0, { error: { message: 'the connection failed' } }));
    xhr.send(form);
  });
}

/** Saves `text` as a file named `name` (a Blob download: the data is already in the page). */
export function download(name, text, type = 'text/csv') {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 0);
}

/** CSV text (RFC 4180 quoting) from a header row and rows of values. */
export function toCsv(header, rows) {
  const cell = (v) => { const s = v === null || v === undefined ? '' : String(v); return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; };
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}
