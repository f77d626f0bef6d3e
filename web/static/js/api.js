// The JSON API as the pages use it. The access token lives in this module's memory only; the
// refresh token is an HttpOnly cookie that only /auth sees (the server sets it because every
// /auth call here says X-Ragd-Session: cookie), so no script can read it. Refresh and logout
// send the session's CSRF token in X-CSRF-Token: kept in memory from the last token answer,
// or, after a reload, asked of GET /auth/csrf, so a reloaded page resumes its session
// silently (restoreSession) and nothing is stored where a script could read it.
import { t } from './i18n.js';

const session = { access: null, csrf: null, user: null };
const COOKIE_MODE = { 'X-Ragd-Session': 'cookie' };
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, body, headers) {
    const d = body?.detail;
    const text = typeof d === 'string' ? d : d?.message || d?.error || t('error_generic', { status });
    super(text);
    this.status = status;
    this.code = body?.code || (status === 0 ? 'NETWORK' : 'HTTP_' + status);
    this.detail = text;
    this.info = d && typeof d === 'object' ? d : null; // structured refusals (quota, daily limits)
    this.field = body?.field || null;
    this.body = body;
    const ra = headers?.get('Retry-After');
    this.retryAfter = ra ? parseInt(ra, 10) : null;
  }
}

export function onSession(fn) { listeners.add(fn); }

// Maintenance as responses reveal it: an X-Maintenance header (soft or hard) on any answer,
// or a 503 MAINTENANCE refusal with its details. fn gets {level, message?, ...}.
const maintListeners = new Set();
export function onMaintenance(fn) { maintListeners.add(fn); }
function seenMaintenance(res, data) {
  let m = null;
  if (res.status === 503 && data?.code === 'MAINTENANCE' && data.maintenance) {
    const ra = parseInt(res.headers.get('Retry-After') || '', 10);
    m = { ...data.maintenance, retry_after_seconds: Number.isFinite(ra) ? ra : null };
  } else if (res.headers.get('X-Maintenance')) {
    m = { level: res.headers.get('X-Maintenance'), from_header: true };
  }
  if (m) for (const fn of maintListeners) fn(m);
}
function changed() { for (const fn of listeners) fn(session.user); }

export function currentUser() { return session.user; }
export function loggedIn() { return !!session.access; }

async function raw(method, path, { body, form, signal, auth = true, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (auth && session.access) h.Authorization = `Bearer ${session.access}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) { h['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  try {
    return await fetch(path, { method, headers: h, body: payload, signal, credentials: 'same-origin' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { detail: t('error_network') });
  }
}

async function parse(res) {
  const text = await res.text();
  try { return text ? JSON.parse(text) : null; } catch { return { detail: text }; }
}

// The CSRF token of the session cookie, as the server derives it from the cookie now (null
// without a cookie).
async function csrfFromCookie() {
  try {
    const res = await raw('GET', '/auth/csrf', { auth: false });
    return res.ok ? (await parse(res))?.csrf_token || null : null;
  } catch { return null; }
}

let refreshing = null;
async function refresh() {
  refreshing ??= (async () => {
    const send = () => raw('POST', '/auth/refresh', { auth: false, headers: { ...COOKIE_MODE, 'X-CSRF-Token': session.csrf || '' } });
    if (!session.csrf) session.csrf = await csrfFromCookie();
    if (!session.csrf) return false;
    let res = await send();
    if (res.status === 403) { // another tab rotated the session: its cookie has a new token
      session.csrf = await csrfFromCookie();
      if (session.csrf) res = await send();
    }
    if (!res.ok) { clearSession(); return false; }
    const data = await parse(res);
    session.access = data.access_token;
    session.csrf = data.csrf_token;
    return true;
  })().catch(() => false).finally(() => { refreshing = null; });
  return refreshing;
}

// On page load: resumes the session the cookie holds, if any. Resolves to the user or null.
// A server in maintenance (503) keeps the session for a later call once it is back.
export async function restoreSession() {
  if (session.user) return session.user;
  if (!session.access && !(await refresh())) return null;
  try {
    session.user = await api('GET', '/auth/me');
  } catch (err) {
    if (err.status !== 503) clearSession();
    return null;
  }
  changed();
  return session.user;
}

// api('GET', '/documents') -> parsed body; throws ApiError on any non-2xx.
export async function api(method, path, opts = {}) {
  let res = await raw(method, path, opts);
  if (res.status === 401 && opts.auth !== false && (await refresh())) res = await raw(method, path, opts);
  const data = await parse(res);
  seenMaintenance(res, data);
  if (!res.ok) {
    if (res.status === 401 && opts.auth !== false) clearSession();
    throw new ApiError(res.status, data, res.headers);
  }
  return data;
}

function clearSession() {
  const had = !!session.access;
  session.access = session.csrf = session.user = null;
  if (had) changed();
}

async function startSession(tokens) {
  session.access = tokens.access_token;
  session.csrf = tokens.csrf_token;
  session.user = await api('GET', '/auth/me');
  changed();
  return session.user;
}

export async function login(email, password) {
  return startSession(await api('POST', '/auth/login', { body: { email, password }, auth: false, headers: COOKIE_MODE }));
}

export async function register(email, password, username) {
  const body = { email, password };
  if (username) body.username = username;
  return startSession(await api('POST', '/auth/register', { body, auth: false, headers: COOKIE_MODE }));
}

// Revokes the access token and its session on the server (every session with all), which
// also clears the cookies, then forgets the access token here.
export async function logout(all = false) {
  try {
    if (session.access) {
      const send = (csrf) => api('POST', '/auth/logout', { body: all ? { all_sessions: true } : {},
        headers: { ...COOKIE_MODE, ...(csrf ? { 'X-CSRF-Token': csrf } : {}) } });
      try {
        await send(session.csrf || (await csrfFromCookie()));
      } catch (err) {
        if (err.code !== 'CSRF_FAILED') throw err;
        await send(await csrfFromCookie()); // another tab rotated the session meanwhile
      }
    }
  } catch { /* gone anyway */ }
  clearSession();
}

export async function reloadUser() {
  session.user = await api('GET', '/auth/me');
  changed();
  return session.user;
}

// POST /chat/message with stream: true. onEvent gets each parsed event ({type: 'token'},
// {type: 'done'}, {type: 'error'}); resolves when the stream ends; throws ApiError when the
// request is refused before streaming (429, 422, 503 ...).
export async function streamChat(body, onEvent, signal) {
  let res = await raw('POST', '/chat/message', { body: { ...body, stream: true }, signal });
  if (res.status === 401 && (await refresh())) res = await raw('POST', '/chat/message', { body: { ...body, stream: true }, signal });
  if (!res.ok) {
    const data = await parse(res);
    seenMaintenance(res, data);
    throw new ApiError(res.status, data, res.headers);
  }
  seenMaintenance(res, null);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (!data || data === '[DONE]') continue;
      let ev;
      try { ev = JSON.parse(data); } catch { continue; } // a malformed event is skipped
      onEvent(ev);
    }
  }
}

// Upload with progress (fetch has no upload progress): XMLHttpRequest with the bearer token.
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/documents');
    if (session.access) xhr.setRequestHeader('Authorization', `Bearer ${session.access}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = { detail: xhr.responseText }; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, data, { get: (n) => xhr.getResponseHeader(n) }));
    };
    xhr.onerror = () => reject(new ApiError(0, { detail: t('error_network') }));
    const fd = new FormData();
    fd.append('file', file, file.name);
    xhr.send(fd);
  });
}
