// fetch() with the session cookie and the CSRF token on writes; errors carry the API's code and
// field errors so forms can show them next to the field.
let csrf = null;

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.errors = body?.errors || [];
    /** Seconds the server asked to wait before trying again (Retry-After on 429/503), if it said. */
    this.retryAfter = retryAfter;
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
    window.location.href = loginUrl();
    throw new ApiError(401, json);
  }
  if (!r.ok) {
    const retry = Number(r.headers.get('retry-after'));
    throw new ApiError(r.status, json, Number.isFinite(retry) && retry > 0 ? retry : undefined);
  }
  return json;
}

/**
 * The sign-in page, told where to come back to (issue 17 point 1): a link from an email opens the
 * incident it names, even when the browser has to sign in first.
 */
export function loginUrl() {
  const here = `${window.location.pathname}${window.location.search}${window.location.hash}`;
  return here === '/' || here.startsWith('/login.html') ? '/login.html' : `/login.html?next=${encodeURIComponent(here)}`;
}

/**
 * Where to go after signing in: `next` when it is a path on this server (never another origin:
 * `//host` and `/\host` are refused), else the role's home.
 */
export function afterLogin(home) {
  const next = new URLSearchParams(window.location.search).get('next');
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return home;
  return next;
}

export async function logout() {
  try {
    await api('POST', '/api/auth/logout', {});
  } finally {
    window.location.href = '/login.html';
  }
}
