// DOM helpers. Text from the server is only ever set as text (h() children, textContent);
// the one HTML path is markdown(), which passes marked's output through DOMPurify.
import { t } from './i18n.js';

// h('button', {class: 'x', onclick: fn}, 'text', child...) -> element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let toastTimer;
export function toast(msg) {
  const el = document.getElementById('toast');
  el.textContent = msg;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 4000);
}

const PURIFY = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object',
    'embed', 'svg', 'math', 'img', 'video', 'audio', 'source', 'link', 'meta', 'base'],
  FORBID_ATTR: ['style', 'class', 'id', 'srcset'],
  ALLOW_DATA_ATTR: false,
};

// Links from a model or a document open in a new tab and only with http(s) or mailto.
let hooked = false;
function hookPurify() {
  if (hooked) return;
  hooked = true;
  window.DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A') {
      const href = node.getAttribute('href') || '';
      if (!/^(https?:|mailto:|#)/i.test(href)) node.removeAttribute('href');
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  });
}

// Markdown from a model, a document or a user -> a sanitised DocumentFragment.
export function markdown(text) {
  hookPurify();
  const html = window.marked.parse(String(text ?? ''), { mangle: false, headerIds: false });
  return window.DOMPurify.sanitize(html, { ...PURIFY, RETURN_DOM_FRAGMENT: true });
}

// Plain text with its line breaks (no HTML at all).
export function plain(text) {
  return h('div', { class: 'plain' }, String(text ?? ''));
}

export function fmtDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function fmtMoney(cents, currency = 'USD') {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(cents / 100);
}

// A labelled <meter>-like bar: used of limit (limit < 0 or null = unlimited).
export function bar(label, used, limit, key) {
  const unlimited = limit === null || limit === undefined || limit < 0;
  const pct = unlimited || limit === 0 ? (used > 0 ? 100 : 0) : Math.min(100, (used / limit) * 100);
  const level = pct >= 100 ? 'full' : pct >= 80 ? 'high' : 'ok';
  return h('div', { class: 'bar', dataset: key ? { res: key } : null },
    h('div', { class: 'bar-label' }, h('span', {}, label),
      h('span', {}, unlimited ? `${used} (${t('unlimited')})` : t('of_limit', { used, limit }))),
    h('div', { class: `bar-track ${level}`, role: 'progressbar', 'aria-label': label,
      'aria-valuemin': 0, 'aria-valuemax': unlimited ? used : limit, 'aria-valuenow': used },
    h('div', { class: 'bar-fill', dataset: { pct: Math.round(pct) } })));
}

// Widths are set through CSSOM (allowed by the CSP), never with style attributes.
export function applyBars(root) {
  for (const el of root.querySelectorAll('.bar-fill[data-pct]')) el.style.width = `${el.dataset.pct}%`;
}

// A confirm dialog built from text only. Resolves true or false.
export function confirmDialog(message, okLabel, cancelLabel = t('cancel')) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { class: 'dialog', 'aria-label': message });
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    dlg.append(h('p', {}, message), h('div', { class: 'row end' },
      h('button', { type: 'button', class: 'secondary', onclick: () => done(false) }, cancelLabel),
      h('button', { type: 'button', class: 'danger', 'data-confirm': '1', onclick: () => done(true) },
        okLabel)));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    dlg.querySelector('[data-confirm]').focus();
  });
}

// A modal showing nodes; returns the dialog.
export function showDialog(title, ...body) {
  const dlg = h('dialog', { class: 'dialog wide', 'aria-label': title });
  dlg.append(h('div', { class: 'row spread' }, h('h2', {}, title),
    h('button', { type: 'button', class: 'secondary', onclick: () => { dlg.close(); dlg.remove(); } },
      t('close'))), ...body);
  dlg.addEventListener('close', () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

// Shows an API error next to the element it belongs to (a form field when the server names one).
export function showError(form, err) {
  for (const old of form.querySelectorAll('.field-error, .form-error')) old.remove();
  for (const inv of form.querySelectorAll('[aria-invalid]')) inv.removeAttribute('aria-invalid');
  const msg = err.detail || t('error_generic', { status: err.status });
  const input = err.field && form.querySelector(`[name="${CSS.escape(err.field)}"]`);
  const id = `err-${Math.random().toString(36).slice(2)}`;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', id);
    input.after(h('p', { class: 'field-error', id, role: 'alert' }, msg));
    input.focus();
  } else {
    form.append(h('p', { class: 'form-error', id, role: 'alert' }, msg));
  }
}
