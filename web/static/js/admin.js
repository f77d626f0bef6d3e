// The admin console: a dashboard (users by plan; requests and p95 latency per route from
// /metrics), users (search, filter, edit plan / role / active), and the audit log (filter by
// action, pages, CSV of what is shown).
import { t } from './i18n.js';
import { h, clear, toast, fmtDate, showError } from './dom.js';
import { api, currentUser, logout, onSession, restoreSession } from './api.js';
import { authView } from './views/auth.js';

const PLANS = ['free', 'pro', 'enterprise'];
const PAGE = 25;
let chart = null;

function header(active) {
  const top = clear(document.getElementById('top'));
  const user = currentUser();
  const tabs = [['dashboard', 'dashboard'], ['users', 'users'], ['audit', 'audit_log']];
  top.append(h('a', { class: 'brand', href: '/admin' }, `${t('app_name')} · ${t('nav_admin')}`),
    h('nav', { 'aria-label': t('nav_main') }, h('ul', {},
      user?.is_superuser ? tabs.map(([k, label]) => h('li', {}, h('a', { href: `#/${k}`, 'aria-current': k === active ? 'page' : null }, t(label)))) : null,
      h('li', {}, h('a', { href: '/' }, t('nav_app'))))),
    user ? h('div', { class: 'who' }, h('span', { class: 'email' }, user.email),
      h('button', { type: 'button', class: 'secondary', id: 'logout', onclick: () => logout() }, t('nav_logout'))) : null);
}

async function usersView(main) {
  const state = { offset: 0 };
  const email = h('input', { id: 'q-email', name: 'email', type: 'search', placeholder: t('search_email') });
  const plan = h('select', { id: 'q-plan', name: 'plan' }, h('option', { value: '' }, t('any')), PLANS.map((p) => h('option', { value: p }, p)));
  const activeSel = h('select', { id: 'q-active', name: 'is_active' }, h('option', { value: '' }, t('any')),
    h('option', { value: 'true' }, t('active_only')), h('option', { value: 'false' }, t('inactive_only')));
  const filters = h('form', { class: 'filters', id: 'user-filters', role: 'search' },
    h('label', {}, t('search_email'), email), h('label', {}, t('filter_plan'), plan), h('label', {}, t('active'), activeSel),
    h('button', { type: 'submit' }, t('search_email')));
  const tbody = h('tbody', { id: 'user-rows' });
  const pager = h('div', { class: 'row' });
  main.append(h('h1', {}, t('users')),
    filters, h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {},
      [t('email'), t('filter_plan'), t('role'), t('active'), t('doc_added'), ''].map((x) => h('th', { scope: 'col' }, x)))), tbody)), pager);
  filters.addEventListener('submit', (e) => { e.preventDefault(); state.offset = 0; load(); });

  async function load() {
    const q = new URLSearchParams({ limit: PAGE, offset: state.offset });
    if (email.value.trim()) q.set('email', email.value.trim());
    if (plan.value) q.set('plan', plan.value);
    if (activeSel.value) q.set('is_active', activeSel.value);
    let data;
    try { data = await api('GET', `/users?${q}`); } catch (err) { showError(filters, err); return; }
    clear(tbody);
    if (!data.items.length) tbody.append(h('tr', {}, h('td', { colspan: 6, class: 'empty' }, t('no_rows'))));
    for (const u of data.items) {
      const planSel = h('select', { name: 'subscription_plan', 'aria-label': `${t('filter_plan')}: ${u.email}` },
        PLANS.map((p) => h('option', { value: p, selected: p === u.subscription_plan }, p)));
      const roleSel = h('select', { name: 'is_superuser', 'aria-label': `${t('role')}: ${u.email}` },
        h('option', { value: 'false', selected: !u.is_superuser }, t('role_user')), h('option', { value: 'true', selected: u.is_superuser }, t('role_admin')));
      const active = h('input', { type: 'checkbox', name: 'is_active', checked: u.is_active, 'aria-label': `${t('active')}: ${u.email}` });
      const save = h('button', { type: 'button', class: 'small', dataset: { email: u.email } }, t('save'));
      const row = h('tr', { dataset: { email: u.email } }, h('td', {}, u.email), h('td', {}, planSel), h('td', {}, roleSel),
        h('td', {}, active), h('td', {}, fmtDate(u.created_at)), h('td', {}, save));
      save.addEventListener('click', async () => {
        save.disabled = true;
        try {
          await api('PATCH', `/users/${encodeURIComponent(u.id)}`, { body: {
            subscription_plan: planSel.value, is_superuser: roleSel.value === 'true', is_active: active.checked } });
          toast(t('saved'));
        } catch (err) { toast(err.detail); } finally { save.disabled = false; }
      });
      tbody.append(row);
    }
    clear(pager).append(
      h('button', { type: 'button', class: 'secondary', disabled: state.offset === 0, onclick: () => { state.offset -= PAGE; load(); } }, t('prev')),
      h('span', { class: 'hint' }, `${data.total ? state.offset + 1 : 0}–${Math.min(state.offset + PAGE, data.total)} / ${data.total}`),
      h('button', { type: 'button', class: 'secondary', disabled: state.offset + PAGE >= data.total, onclick: () => { state.offset += PAGE; load(); } }, t('next')));
  }
  await load();
}

// Prometheus text -> [{name, labels, value}].
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

// The p95 of a cumulative histogram [{le, count}] (upper bound of the bucket holding it).
export function p95(buckets) {
  const sorted = buckets.slice().sort((a, b) => a.le - b.le);
  const total = sorted.length ? sorted[sorted.length - 1].count : 0;
  if (!total) return 0;
  const want = total * 0.95;
  for (const b of sorted) if (b.count >= want) return b.le;
  return Infinity;
}

function barChart(canvas, labels, data, label, counts = true) {
  const dark = matchMedia('(prefers-color-scheme: dark)').matches;
  const chart = new window.Chart(canvas, {
    type: 'bar',
    data: { labels, datasets: [{ label, data, backgroundColor: dark ? '#8ab4ff' : '#1f4fbf' }] },
    options: { maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: counts ? { precision: 0 } : {} } } },
  });
  charts.push(chart);
  return chart;
}

const charts = [];

// The API's routes, without the pages and files of this UI.
const isApiRoute = (r) => r && r !== 'unmatched' && r !== '/' && r !== '/admin' && !r.startsWith('/static/') && !r.startsWith('/vendor/');

async function dashboardView(main) {
  while (charts.length) charts.pop().destroy();
  const box = (id, title) => h('section', { class: 'card', 'aria-labelledby': `h-${id}` }, h('h2', { id: `h-${id}` }, title),
    h('div', { class: 'chart-box' }, h('canvas', { id, role: 'img', 'aria-label': title })));
  main.append(h('h1', {}, t('dashboard')), h('div', { class: 'grid2' },
    box('plan-chart', t('users_by_plan')), box('req-chart', t('requests_by_route')), box('lat-chart', t('p95_by_route'))));
  if (!window.Chart) return;
  const counts = await Promise.all(PLANS.map((p) => api('GET', `/users?limit=1&plan=${p}`).then((r) => r.total)));
  barChart(document.getElementById('plan-chart'), PLANS, counts, t('users_by_plan'));
  const res = await fetch('/metrics');
  const metrics = parseMetrics(await res.text());
  const byRoute = {};
  for (const m of metrics) {
    if (m.name === 'ragd_http_requests_total' && isApiRoute(m.labels.route)) byRoute[m.labels.route] = (byRoute[m.labels.route] || 0) + m.value;
  }
  const top = Object.entries(byRoute).sort((a, b) => b[1] - a[1]).slice(0, 10);
  barChart(document.getElementById('req-chart'), top.map((x) => x[0]), top.map((x) => x[1]), t('requests_by_route'));
  const hist = {};
  for (const m of metrics) {
    if (m.name !== 'ragd_http_request_duration_seconds_bucket') continue;
    (hist[m.labels.route] ||= []).push({ le: m.labels.le === '+Inf' ? Infinity : Number(m.labels.le), count: m.value });
  }
  const lat = top.map(([route]) => { const v = p95(hist[route] || []); return Number.isFinite(v) ? v * 1000 : 10000; });
  barChart(document.getElementById('lat-chart'), top.map((x) => x[0]), lat, t('p95_by_route'), false);
}

function csvCell(v) {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  // A leading = + - @ would be read as a formula by spreadsheets.
  const safe = /^[=+\-@]/.test(s) ? `'${s}` : s;
  return /[",\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

async function auditView(main) {
  const state = { offset: 0, items: [] };
  const action = h('input', { id: 'q-action', name: 'action', placeholder: 'user.update' });
  const filters = h('form', { class: 'filters', id: 'audit-filters', role: 'search' },
    h('label', {}, t('action_filter'), action), h('button', { type: 'submit' }, t('action_filter')),
    h('button', { type: 'button', class: 'secondary', id: 'audit-csv', onclick: download }, t('download_csv')));
  const tbody = h('tbody', { id: 'audit-rows' });
  const pager = h('div', { class: 'row' });
  main.append(h('h1', {}, t('audit_log')), filters, h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {},
    [t('when'), t('who'), t('action'), t('target'), t('details')].map((x) => h('th', { scope: 'col' }, x)))), tbody)), pager);
  filters.addEventListener('submit', (e) => { e.preventDefault(); state.offset = 0; load(); });

  function download() {
    const cols = ['id', 'created_at', 'actor_email', 'action', 'target_type', 'target_id', 'details', 'request_id', 'ip'];
    const csv = [cols.join(','), ...state.items.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n');
    const a = h('a', { href: URL.createObjectURL(new Blob([csv], { type: 'text/csv' })), download: 'audit-log.csv' });
    document.body.append(a);
    a.click();
    a.remove();
  }

  async function load() {
    const q = new URLSearchParams({ limit: PAGE, offset: state.offset });
    if (action.value.trim()) q.set('action', action.value.trim());
    let data;
    try { data = await api('GET', `/admin/audit-log?${q}`); } catch (err) { showError(filters, err); return; }
    state.items = data.items;
    clear(tbody);
    if (!data.items.length) tbody.append(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, t('no_rows'))));
    for (const e of data.items) {
      tbody.append(h('tr', {}, h('td', {}, fmtDate(e.created_at)), h('td', {}, e.actor_email || e.actor_id || ''),
        h('td', {}, e.action), h('td', {}, `${e.target_type || ''} ${e.target_id || ''}`),
        h('td', {}, h('code', {}, typeof e.details === 'object' ? JSON.stringify(e.details) : String(e.details ?? '')))));
    }
    clear(pager).append(
      h('button', { type: 'button', class: 'secondary', disabled: state.offset === 0, onclick: () => { state.offset -= PAGE; load(); } }, t('prev')),
      h('span', { class: 'hint' }, `${data.total ? state.offset + 1 : 0}–${Math.min(state.offset + PAGE, data.total)} / ${data.total}`),
      h('button', { type: 'button', class: 'secondary', disabled: state.offset + PAGE >= data.total, onclick: () => { state.offset += PAGE; load(); } }, t('next')));
  }
  await load();
}

async function render() {
  const name = location.hash.replace(/^#\/?/, '') || 'dashboard';
  const main = clear(document.getElementById('main'));
  const user = currentUser();
  header(name);
  document.body.dataset.view = user ? name : 'login';
  if (!user) {
    authView(main, 'login', { noSwitch: true, onDone: render });
    return;
  }
  if (!user.is_superuser) {
    main.append(h('p', { class: 'form-error', role: 'alert', id: 'admin-required' }, t('admin_required')));
    return;
  }
  if (name === 'audit') await auditView(main);
  else if (name === 'users') await usersView(main);
  else await dashboardView(main);
  document.title = `${t('admin_title')} · ${t('app_name')}`;
}

document.querySelector('.skip').textContent = t('skip_to_content');
let restored = false;
onSession((user) => { if (restored && !user) render(); });
window.addEventListener('hashchange', render);
restoreSession().finally(() => { restored = true; render(); });
