// fetch() with the session cookie and the CSRF token on writes; errors carry the API's code and
// field errors so forms can show them next to the field.
let csrf = null;

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.errors = body?.errors || [];
  }
}

export async function session() {
  const r = await fetch('/api/session', { credentials: 'same-origin' });
  const j = await r.json();
  csrf = j.csrf;
  return j;
}

export function setCsrf(token) {
  csrf = token;
}

export async function api(method, url, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const r = await fetch(url, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  const json = text ? JSON.parse(text) : null;
  if (r.status === 401 && !url.startsWith('/api/auth/login')) {
    window.location.href = '/login.html';
    throw new ApiError(401, json);
  }
  if (!r.ok) throw new ApiError(r.status, json);
  return json;
}

export async function logout() {
  try {
    await api('POST', '/api/auth/logout', {});
  } finally {
    window.location.href = '/login.html';
  }
}
