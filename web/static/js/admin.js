// The admin console: a dashboard (GET /admin/stats: activity per day, users and messages by
// plan, quota burn, top users, requests and p95 latency per route, the generation queue),
// users (search, filter, edit plan / role / active, reset usage), and the audit log (filter by
// action, pages, CSV of what is shown), the operations pages of admin_ops.js, and payments and
// organizations (admin_billing.js), and every organization's tickets (views/tickets.js). Each page
// is shown to the roles whose permissions allow reading it (GET /users/me lists them; without
// roles on the server, administrators see every page).
import { t } from './i18n.js';
import { h, clear, toast, fmtDate, showError, confirmDialog } from './dom.js';
import { api, currentUser, logout, onSession, restoreSession } from './api.js';
import { authView } from './views/auth.js';
import { providerKeysView, providerHealthView, featuresView, maintenanceView, notificationsView } from './admin_ops.js';
import { paymentsView, organizationsView } from './admin_billing.js';
import { inboxView, ticketView } from './views/tickets.js';

const PLANS = ['free', 'pro', 'enterprise'];
const PAGE = 25;

// The console's pages: hash, label, the permission that reads it, the view.
const PAGES = [
  ['dashboard', 'dashboard', 'stats.read', (m) => dashboardView(m)],
  ['users', 'users', 'users.read', (m) => usersView(m)],
  ['audit', 'audit_log', 'audit.read', (m) => auditView(m)],
  ['provider-keys', 'provider_keys', 'providers.read', providerKeysView],
  ['provider-health', 'provider_health', 'providers.read', providerHealthView],
  ['features', 'features_title', 'ops.read', featuresView],
  ['maintenance', 'maintenance_title', 'ops.read', maintenanceView],
  ['notifications', 'notifications_title', 'ops.read', notificationsView],
  ['organizations', 'organizations_title', 'users.read', organizationsView],
  ['payments', 'payments_title', 'plans.manage', paymentsView],
  // Every organization's tickets (#/tickets, one ticket at #/tickets/<id>).
  ['tickets', 'tickets_all_title', 'tickets.manage', (m, id) => (id ? ticketView(m, id, { console: true }) : inboxView(m, { console: true }))],
];

// Staff: administrators, and with roles every role but user.
const isStaff = (u) => !!u && (u.is_superuser || (u.role && u.role !== 'user'));
let perms = { user: null, list: null };
async function permissions(user) {
  if (perms.user !== user.id) {
    let list = null;
    try { list = (await api('GET', '/users/me')).permissions || null; } catch { list = null; }
    perms = { user: user.id, list };
  }
  return perms.list;
}
const allowed = (list, user, perm) => (list ? list.includes(perm) : !!user?.is_superuser);

function header(active, list) {
  const top = clear(document.getElementById('top'));
  const user = currentUser();
  const tabs = isStaff(user) ? PAGES.filter((p) => allowed(list, user, p[2])) : [];
  top.append(h('a', { class: 'brand', href: '/admin' }, `${t('app_name')} · ${t('nav_admin')}`),
    h('nav', { 'aria-label': t('nav_main') }, h('ul', {},
      tabs.map(([k, label]) => h('li', {}, h('a', { href: `#/${k}`, 'aria-current': k === active ? 'page' : null }, t(label)))),
      h('li', {}, h('a', { href: '/' }, t('nav_app'))))),
    user ? h('div', { class: 'who' }, h('span', { class: 'email' }, user.email),
      h('button', { type: 'button', class: 'secondary', id: 'logout', onclick: () => logout() }, t('nav_logout'))) : '');
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
      const reset = h('button', { type: 'button', class: 'small secondary reset-usage', dataset: { email: u.email } }, t('reset_usage'));
      reset.addEventListener('click', async () => {
        if (!(await confirmDialog(t('confirm_reset_usage', { email: u.email }), t('reset_usage')))) return;
        reset.disabled = true;
        try {
          await api('POST', `/users/${encodeURIComponent(u.id)}/reset-usage`);
          toast(t('usage_reset_done', { email: u.email }));
        } catch (err) {
          toast(err.status === 404 && err.code === 'NOT_FOUND' ? t('not_available') : err.detail);
        } finally { reset.disabled = false; }
      });
      const row = h('tr', { dataset: { email: u.email } }, h('td', {}, u.email), h('td', {}, planSel), h('td', {}, roleSel),
        h('td', {}, active), h('td', {}, fmtDate(u.created_at)), h('td', { class: 'actions' }, save, ' ', reset));
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

// Prometheus text -> [{name, labels, value}] (kept for tools that read /metrics directly).
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

const charts = [];

function palette() {
  const dark = matchMedia('(prefers-color-scheme: dark)').matches;
  return dark ? ['#8ab4ff', '#f0b35a', '#7fd6a4'] : ['#1f4fbf', '#a64d00', '#1d7a46'];
}

// datasets: [{label, data}]; opts: {counts, horizontal, percent, type}
function chart(canvas, labels, datasets, opts = {}) {
  const colors = palette();
  const c = new window.Chart(canvas, {
    type: opts.type || 'bar',
    data: { labels, datasets: datasets.map((d, i) => ({ ...d, backgroundColor: colors[i % 3], borderColor: colors[i % 3] })) },
    options: { maintainAspectRatio: false, animation: false, indexAxis: opts.horizontal ? 'y' : 'x',
      plugins: { legend: { display: datasets.length > 1 } },
      scales: { [opts.horizontal ? 'x' : 'y']: { beginAtZero: true, ticks: opts.counts === false ? {} : { precision: 0 } } } },
  });
  charts.push(c);
  return c;
}

const pct = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);

function tile(id, label, value) {
  return h('div', { class: 'tile', id }, h('span', { class: 'tile-value' }, value), h('span', { class: 'tile-label' }, label));
}

async function dashboardView(main) {
  while (charts.length) charts.pop().destroy();
  const box = (id, title) => h('section', { class: 'card', 'aria-labelledby': `h-${id}` }, h('h2', { id: `h-${id}` }, title),
    h('div', { class: 'chart-box' }, h('canvas', { id, role: 'img', 'aria-label': title })));
  const tiles = h('div', { class: 'tiles', id: 'stat-tiles' });
  const head = h('h1', {}, t('dashboard'));
  main.append(head, tiles, h('div', { class: 'grid2' },
    box('daily-chart', t('activity_per_day')), box('plan-chart', t('users_by_plan')),
    box('burn-chart', t('quota_burn_by_plan')), box('top-chart', t('top_users')),
    box('req-chart', t('requests_by_route')), box('lat-chart', t('p95_by_route')),
    box('feature-chart', t('feature_popularity'))));
  let st;
  try { st = await api('GET', '/admin/stats'); } catch (err) { head.after(h('p', { class: 'form-error', role: 'alert' }, err.detail)); return; }
  const g = st.server.generation;
  const num = (v, d = 0) => (v === null || v === undefined ? '–' : Number(v).toFixed(d));
  const burn = st.quota_burn;
  tiles.append(
    tile('tile-burn', t('quota_burn_month', { elapsed: num(pct(burn.month_elapsed), 0) }), burn.burn === null ? '–' : `${num(pct(burn.burn), 1)} %`),
    tile('tile-at-limit', t('users_at_limit'), String(burn.users_at_limit)),
    tile('tile-over80', t('users_over_80'), String(burn.users_over_80_percent)),
    tile('tile-tps', t('gen_tokens_per_s'), num(g.last_tokens_per_second, 1)),
    tile('tile-queue', t('gen_queue_depth'), num(g.queue_depth)),
    tile('tile-inflight', t('inflight'), String(st.server.inflight)));
  // Over the dashboard's window: requests and tokens per account, and free-to-paid conversion.
  const pu = st.per_user || {};
  const cv = st.conversion || {};
  tiles.append(
    tile('tile-avg-requests', t('avg_requests_per_user', { active: num(pu.average_requests_per_active_user, 1) }), num(pu.average_requests_per_user, 1)),
    tile('tile-avg-tokens', t('avg_tokens_per_user', { active: num(pu.average_tokens_per_active_user, 0) }), num(pu.average_tokens_per_user, 0)),
    tile('tile-conversion', t('free_to_paid', { converted: cv.converted ?? 0, of: cv.free_at_start ?? 0 }),
      cv.rate === null || cv.rate === undefined ? '–' : `${num(pct(cv.rate), 1)} %`));
  if (!window.Chart) return;
  chart(document.getElementById('daily-chart'), st.daily.map((d) => d.date.slice(5)),
    [{ label: t('messages'), data: st.daily.map((d) => d.messages) }, { label: t('searches'), data: st.daily.map((d) => d.searches) }]);
  const order = [...PLANS, ...st.plans.map((p) => p.plan).filter((p) => !PLANS.includes(p))];
  const byPlan = Object.fromEntries(st.plans.map((p) => [p.plan, p]));
  chart(document.getElementById('plan-chart'), order,
    [{ label: t('users'), data: order.map((p) => byPlan[p]?.users || 0) }, { label: t('messages_this_month'), data: order.map((p) => byPlan[p]?.messages || 0) }]);
  const limited = st.plans.filter((p) => p.quota_burn !== null);
  chart(document.getElementById('burn-chart'), limited.map((p) => p.plan),
    [{ label: t('quota_burn_pct'), data: limited.map((p) => pct(p.quota_burn)) }], { counts: false });
  chart(document.getElementById('top-chart'), st.top_users.map((u) => u.email),
    [{ label: t('messages_this_month'), data: st.top_users.map((u) => u.messages) }], { horizontal: true });
  const routes = st.server.routes;
  chart(document.getElementById('req-chart'), routes.map((r) => r.route), [{ label: t('requests_by_route'), data: routes.map((r) => r.requests) }]);
  chart(document.getElementById('lat-chart'), routes.map((r) => r.route), [{ label: t('p95_by_route'), data: routes.map((r) => (r.p95_ms === null ? 10000 : r.p95_ms)) }], { counts: false });
  const pop = st.feature_popularity || [];
  chart(document.getElementById('feature-chart'), pop.map((f) => t(`popularity_${f.feature}`)),
    [{ label: t('feature_uses'), data: pop.map((f) => f.uses) }], { horizontal: true });
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
  // #/page or #/page/id (one organization).
  const [name, sub] = (location.hash.replace(/^#\/?/, '') || 'dashboard').split('/');
  const main = clear(document.getElementById('main'));
  const user = currentUser();
  document.body.dataset.view = user ? name : 'login';
  if (!user) {
    header(name, null);
    authView(main, 'login', { noSwitch: true, onDone: render });
    return;
  }
  if (!isStaff(user)) {
    header(name, null);
    main.append(h('p', { class: 'form-error', role: 'alert', id: 'admin-required' }, t('admin_required')));
    return;
  }
  const list = await permissions(user);
  const pages = PAGES.filter((p) => allowed(list, user, p[2]));
  const page = pages.find((p) => p[0] === name) || pages[0];
  header(page ? page[0] : name, list);
  if (!page) {
    main.append(h('p', { class: 'form-error', role: 'alert', id: 'admin-required' }, t('admin_required')));
    return;
  }
  document.body.dataset.view = page[0];
  await page[3](main, page[0] === name && sub ? decodeURIComponent(sub) : null);
  document.title = `${t(page[1])} · ${t('admin_title')}`;
}

document.querySelector('.skip').textContent = t('skip_to_content');
let restored = false;
onSession((user) => { if (restored && !user) render(); });
window.addEventListener('hashchange', render);
restoreSession().finally(() => { restored = true; render(); });
