// The console's payments page (GET /admin/payments, filtered by user; a payment marked
// refunded after a confirmation, the refund itself being made at the provider) and the list
// of every organization (GET /admin/organizations, searched by name or domain) with each
// one's details. Everything the server sends is inserted as text.
import { t } from './i18n.js';
import { h, clear, toast, fmtDate, fmtMoney, showError } from './dom.js';
import { api } from './api.js';

const PAGE = 25;

// GET path, or null after saying on the page why not (this server has no such API: its
// route answers 404 NOT_FOUND, as /admin/payments does without ENABLE_PAYMENTS).
async function load(main, path, near) {
  try {
    return await api('GET', path);
  } catch (err) {
    const missing = err.status === 404 && err.code === 'NOT_FOUND';
    (near || main).append(h('p', { class: missing ? 'notice' : 'form-error', role: 'alert', id: missing ? 'ops-unavailable' : null },
      missing ? t('ops_not_available') : err.detail));
    return null;
  }
}

const table = (id, heads, tbody) => h('div', { class: 'table-wrap' }, h('table', { id },
  h('thead', {}, h('tr', {}, heads.map((x) => h('th', { scope: 'col' }, x)))), tbody));

function pager(el, state, total, load) {
  clear(el).append(
    h('button', { type: 'button', class: 'secondary', disabled: state.offset === 0, onclick: () => { state.offset -= PAGE; load(); } }, t('prev')),
    h('span', { class: 'hint' }, `${total ? state.offset + 1 : 0}–${Math.min(state.offset + PAGE, total)} / ${total}`),
    h('button', { type: 'button', class: 'secondary', disabled: state.offset + PAGE >= total, onclick: () => { state.offset += PAGE; load(); } }, t('next')));
}

// ---- payments ----

// Asks for a confirmation and an optional reason; resolves to {reason} or null.
function refundDialog(message) {
  return new Promise((resolve) => {
    const reason = h('textarea', { id: 'refund-reason', name: 'reason', rows: 2, maxlength: 500 });
    const dlg = h('dialog', { class: 'dialog', 'aria-label': t('refund') });
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    dlg.append(h('p', { id: 'refund-message' }, message),
      h('div', { class: 'field' }, h('label', { for: 'refund-reason' }, t('refund_reason')), reason),
      h('div', { class: 'row end' },
        h('button', { type: 'button', class: 'secondary', onclick: () => done(null) }, t('cancel')),
        h('button', { type: 'button', class: 'danger', 'data-confirm': '1', onclick: () => done({ reason: reason.value.trim() }) },
          t('refund'))));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(null); });
    document.body.append(dlg);
    dlg.showModal();
    dlg.querySelector('[data-confirm]').focus();
  });
}

// An e-mail address -> the id of that user (GET /users?email=...), or null.
async function userIdOf(email) {
  const r = await api('GET', `/users?${new URLSearchParams({ email, limit: 10 })}`);
  return (r.items || []).find((u) => u.email.toLowerCase() === email.toLowerCase())?.id || null;
}

export async function paymentsView(main) {
  main.append(h('h1', {}, t('payments_title')));
  const who = h('input', { id: 'q-user', name: 'user', type: 'search', autocomplete: 'off' });
  const filters = h('form', { class: 'filters', id: 'payment-filters', role: 'search' },
    h('label', {}, t('filter_user'), who), h('button', { type: 'submit' }, t('filter_apply')));
  const tbody = h('tbody', { id: 'admin-payment-rows' });
  const pages = h('div', { class: 'row' });
  const state = { offset: 0, user: null };
  const first = await load(main, `/admin/payments?limit=${PAGE}`);
  if (!first) return;
  main.append(filters, table('admin-payments', [t('when'), t('pay_user'), t('pay_plan'), t('pay_provider'),
    t('pay_reference'), t('pay_status'), t('pay_amount'), ''], tbody), pages);
  const emails = new Map(); // user id -> e-mail, as far as this page has looked them up

  filters.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const old of filters.querySelectorAll('.form-error')) old.remove();
    const v = who.value.trim();
    state.offset = 0;
    state.user = null;
    if (v.includes('@')) {
      try { state.user = await userIdOf(v); } catch (err) { showError(filters, err); return; }
      if (!state.user) { showError(filters, { detail: t('user_not_found') }); return; }
      emails.set(state.user, v);
    } else if (v) {
      state.user = v;
    }
    draw(await fetchPage());
  });

  async function fetchPage() {
    const q = new URLSearchParams({ limit: PAGE, offset: state.offset });
    if (state.user) q.set('user_id', state.user);
    try { return await api('GET', `/admin/payments?${q}`); } catch (err) { showError(filters, err); return null; }
  }

  function row(p) {
    const refund = p.status === 'refunded' ? h('span', { class: 'hint' }, t('refunded_at', { when: fmtDate(p.refunded_at) }))
      : h('button', { type: 'button', class: 'small danger refund', dataset: { id: p.id } }, t('refund'));
    const amount = fmtMoney(p.amount_cents, p.currency || 'USD');
    if (refund.tagName === 'BUTTON') {
      refund.addEventListener('click', async () => {
        const ok = await refundDialog(t('refund_confirm', { amount, user: emails.get(p.user_id) || p.user_id,
          provider: t(`provider_${p.provider}`), ref: p.provider_ref }));
        if (!ok) return;
        refund.disabled = true;
        try {
          const r = await api('POST', `/admin/payments/${encodeURIComponent(p.id)}/refund`, { body: ok.reason ? { reason: ok.reason } : {} });
          toast(t('refund_done'));
          tr.replaceWith(row(r));
        } catch (err) {
          toast(err.detail);
          refund.disabled = false;
        }
      });
    }
    const tr = h('tr', { dataset: { id: p.id, status: p.status, user: p.user_id } },
      h('td', {}, fmtDate(p.created_at)),
      h('td', {}, emails.get(p.user_id) || h('code', {}, p.user_id)),
      h('td', {}, `${p.plan_type} · ${t(p.billing_cycle)}`),
      h('td', {}, t(`provider_${p.provider}`)),
      h('td', {}, h('code', {}, p.provider_ref)),
      h('td', {}, h('span', { class: `tag ${p.status === 'paid' ? 'ok' : 'warn'}` }, t(`pay_status_${p.status}`))),
      h('td', { class: 'num' }, amount),
      h('td', { class: 'actions' }, refund));
    return tr;
  }

  // The e-mail addresses of the page's users (GET /users/{id}); an id stays when one is gone.
  async function names(items) {
    const ids = [...new Set(items.map((p) => p.user_id))].filter((id) => !emails.has(id));
    await Promise.all(ids.map((id) => api('GET', `/users/${encodeURIComponent(id)}`)
      .then((u) => emails.set(id, u.email), () => emails.set(id, null))));
  }

  async function draw(data) {
    if (!data) return;
    await names(data.items);
    clear(tbody);
    if (!data.items.length) tbody.append(h('tr', {}, h('td', { colspan: 8, class: 'empty' }, t('no_rows'))));
    for (const p of data.items) tbody.append(row(p));
    pager(pages, state, data.total, async () => draw(await fetchPage()));
  }
  await draw(first);
}

// ---- organizations ----

const seen = new Map(); // id -> the list's row, for the details of a role that cannot open it

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '–')]));
}

export async function organizationsView(main, id) {
  if (id) { await organizationView(main, id); return; }
  main.append(h('h1', {}, t('organizations_title')));
  const q = h('input', { id: 'q-org', name: 'q', type: 'search', maxlength: 100 });
  const filters = h('form', { class: 'filters', id: 'org-filters', role: 'search' },
    h('label', {}, t('org_search'), q), h('button', { type: 'submit' }, t('filter_apply')));
  const tbody = h('tbody', { id: 'admin-org-rows' });
  const pages = h('div', { class: 'row' });
  const state = { offset: 0 };
  main.append(filters, table('admin-orgs', [t('org_col_name'), t('org_col_domain'), t('pay_plan'), t('org_col_members'),
    t('org_col_created')], tbody), pages);
  filters.addEventListener('submit', (e) => { e.preventDefault(); state.offset = 0; draw(); });

  async function draw() {
    for (const old of filters.querySelectorAll('.form-error, .notice')) old.remove();
    const p = new URLSearchParams({ limit: PAGE, offset: state.offset });
    if (q.value.trim()) p.set('q', q.value.trim());
    const data = await load(main, `/admin/organizations?${p}`, filters);
    if (!data) return;
    clear(tbody);
    if (!data.items.length) tbody.append(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, t('no_rows'))));
    for (const o of data.items) {
      seen.set(o.id, o);
      tbody.append(h('tr', { dataset: { id: o.id } },
        h('td', {}, h('a', { href: `#/organizations/${encodeURIComponent(o.id)}`, class: 'org-link' }, o.name)),
        h('td', {}, o.domain || '–'), h('td', {}, o.plan), h('td', { class: 'num' }, String(o.members)),
        h('td', {}, fmtDate(o.created_at))));
    }
    pager(pages, state, data.total, draw);
  }
  await draw();
}

// One organization: GET /organizations/{id} and its members for a platform admin who may
// act in it (users.manage); otherwise what the list showed.
async function organizationView(main, id) {
  const back = h('p', {}, h('a', { href: '#/organizations', id: 'org-back' }, t('org_back')));
  const head = h('h1', { id: 'org-title' }, t('organizations_title'));
  main.append(back, head);
  let org = null, members = null;
  const perms = (await api('GET', '/users/me').catch(() => null))?.permissions;
  if (!perms || perms.includes('users.manage')) { // the server lets such an admin act as an owner
    try {
      org = await api('GET', `/organizations/${encodeURIComponent(id)}`);
      members = (await api('GET', `/organizations/${encodeURIComponent(id)}/members`)).members || [];
    } catch (err) {
      if (err.status !== 404 && err.status !== 403) { main.append(h('p', { class: 'form-error', role: 'alert' }, err.detail)); return; }
    }
  }
  const brief = seen.get(id);
  if (!org && !brief) { main.append(h('p', { class: 'form-error', role: 'alert', id: 'org-missing' }, t('org_not_found'))); return; }
  head.textContent = (org || brief).name;
  if (!org) {
    main.append(h('p', { class: 'notice', id: 'org-limited' }, t('org_details_limited')),
      h('section', { class: 'card', id: 'org-facts' }, facts([[t('org_col_domain'), brief.domain], [t('pay_plan'), brief.plan],
        [t('org_col_members'), String(brief.members)], [t('org_col_created'), fmtDate(brief.created_at)]])));
    return;
  }
  main.append(h('section', { class: 'card', id: 'org-facts', dataset: { id: org.id } }, facts([
    [t('org_col_domain'), org.domain], [t('pay_plan'), org.plan],
    [t('org_col_members'), `${org.member_count} / ${org.max_users > 0 ? org.max_users : t('unlimited')}`],
    [t('org_usage_messages'), org.usage_today?.messages_limit ? `${org.usage_today.messages} / ${org.usage_today.messages_limit}` : String(org.usage_today?.messages ?? 0)],
    [t('org_usage_widget'), `${org.usage_today?.widget_messages ?? 0} / ${org.usage_today?.widget_messages_limit ?? 0}`],
    [t('org_col_created'), fmtDate(org.created_at)]])),
  h('section', { class: 'card', 'aria-labelledby': 'h-org-members' }, h('h2', { id: 'h-org-members' }, t('org_members')),
    table('admin-org-members', [t('email'), t('org_role'), t('org_col_created')],
      h('tbody', {}, members.map((m) => h('tr', { dataset: { id: m.user_id } }, h('td', {}, m.email),
        h('td', {}, t(`org_role_${m.role}`)), h('td', {}, fmtDate(m.joined_at))))))));
}
