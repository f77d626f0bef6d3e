// The console's operations pages: the provider key pool and its health, feature toggles,
// maintenance and notification channels. Everything the server sends is inserted as text;
// a provider key is typed into a password field, sent once and never shown again (the list
// shows its last four characters). A page whose API this server does not have yet says so.
import { t } from './i18n.js';
import { h, clear, toast, fmtDate, showError, confirmDialog } from './dom.js';
import { api } from './api.js';

const FORMATS = ['openai', 'gemini'];
const KEY_FEATURES = ['chat', 'flashcard', 'mcq', 'highyield', 'explain', 'map', 'embeddings', '*'];
const KEY_STATUSES = ['active', 'degraded', 'disabled'];
const URGENCIES = ['low', 'medium', 'high'];
const LEVELS = ['none', 'soft', 'hard'];

// GET path, or null after saying on the page that this server has no such API (its route
// answers 404 NOT_FOUND); other errors are shown next to the heading.
async function load(main, path) {
  try {
    return await api('GET', path);
  } catch (err) {
    const missing = err.status === 404 && err.code === 'NOT_FOUND';
    main.append(h('p', { class: missing ? 'notice' : 'form-error', role: 'alert', id: missing ? 'ops-unavailable' : null },
      missing ? t('ops_not_available') : err.detail));
    return null;
  }
}

// A value as short text: a key as "label …last4", other objects as "name: value" pairs
// (ids left out), lists joined; never markup.
function text(v) {
  if (v === null || v === undefined || v === '') return '–';
  if (Array.isArray(v)) return v.length ? v.map(text).join('; ') : '–';
  if (typeof v === 'object') {
    if ('last4' in v || 'key_last4' in v) return `${v.label || v.provider || ''} …${v.last4 || v.key_last4 || ''}`.trim();
    return Object.entries(v).filter(([k]) => k !== 'id' && !k.endsWith('_id'))
      .map(([k, x]) => `${k.replace(/_/g, ' ')}: ${text(x)}`).join(', ') || '–';
  }
  return String(v);
}
const table = (id, heads, tbody) => h('div', { class: 'table-wrap' }, h('table', { id },
  h('thead', {}, h('tr', {}, heads.map((x) => h('th', { scope: 'col' }, x)))), tbody));
const options = (values, current, label = (v) => v) => values.map((v) => h('option', { value: v, selected: v === current }, label(v)));
const listOf = (data, ...names) => (Array.isArray(data) ? data : names.map((n) => data?.[n]).find(Array.isArray) || []);

// ---- provider keys ----

function last4(k) {
  const v = k.last4 ?? k.key_last4 ?? k.key_hint ?? null;
  return v ? `…${String(v).slice(-4)}` : '–';
}

export async function providerKeysView(main) {
  main.append(h('h1', {}, t('provider_keys')));
  const data = await load(main, '/admin/provider-keys');
  if (!data) return;
  const field = (id, label, input, hint) => h('div', { class: 'field' }, h('label', { for: id }, label), input,
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null);
  const form = h('form', { class: 'card form-grid', id: 'add-key-form', autocomplete: 'off', 'aria-labelledby': 'h-add-key' },
    h('h2', { id: 'h-add-key' }, t('add_provider_key')),
    field('pk-provider', t('pk_format'), h('select', { id: 'pk-provider', name: 'provider' }, options(FORMATS, 'openai'))),
    field('pk-base', t('pk_base_url'), h('input', { id: 'pk-base', name: 'base_url', type: 'url', placeholder: 'https://api.openai.com/v1', 'aria-describedby': 'pk-base-hint' }), t('pk_base_url_hint')),
    field('pk-model', t('pk_model'), h('input', { id: 'pk-model', name: 'model', maxlength: 200 })),
    field('pk-feature', t('pk_feature'), h('select', { id: 'pk-feature', name: 'feature' }, options(KEY_FEATURES, 'chat', (f) => (f === '*' ? t('pk_every_feature') : f)))),
    field('pk-label', t('pk_label'), h('input', { id: 'pk-label', name: 'label', maxlength: 100 })),
    field('pk-priority', t('pk_priority'), h('input', { id: 'pk-priority', name: 'priority', type: 'number', min: -1000000, max: 1000000, value: 50, 'aria-describedby': 'pk-priority-hint' }), t('pk_priority_hint')),
    field('pk-key', t('pk_key'), h('input', { id: 'pk-key', name: 'key', type: 'password', autocomplete: 'new-password', spellcheck: 'false', required: true, 'aria-describedby': 'pk-key-hint' }), t('pk_key_hint')),
    h('label', { class: 'row' }, h('input', { type: 'checkbox', id: 'pk-skip', name: 'skip_test' }), t('pk_skip_test')),
    h('div', {}, h('button', { type: 'submit', id: 'pk-submit' }, t('add_provider_key'))));
  const tbody = h('tbody', { id: 'provider-key-rows' });
  main.append(form, table('provider-keys', [t('pk_label'), t('pk_format'), t('pk_model'), t('pk_feature'), t('pk_priority'),
    t('doc_status'), t('pk_key'), t('key_last_used'), t('pk_failures'), t('pk_last_error'), ''], tbody));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = { provider: f.provider.value, feature: f.feature.value, priority: Number(f.priority.value) || 0, key: f.key.value };
    for (const k of ['base_url', 'model', 'label']) if (f[k].value.trim()) body[k] = f[k].value.trim();
    if (f.skip_test.checked) body.skip_test = true;
    const btn = f['pk-submit'] || form.querySelector('button[type=submit]');
    btn.disabled = true;
    try {
      await api('POST', '/admin/provider-keys', { body });
      form.reset(); // the key leaves the page with the request
      toast(t('pk_added'));
      await fill();
    } catch (err) {
      f.key.value = ''; // typed again on purpose, never kept
      showError(form, err);
    } finally { btn.disabled = false; }
  });

  async function fill(list) {
    let items = list;
    if (!items) {
      try { items = listOf(await api('GET', '/admin/provider-keys'), 'items', 'keys', 'provider_keys'); } catch (err) { toast(err.detail); return; }
    }
    clear(tbody);
    if (!items.length) tbody.append(h('tr', {}, h('td', { colspan: 11, class: 'empty' }, t('no_rows'))));
    for (const k of items) tbody.append(keyRow(k));
  }

  function keyRow(k) {
    const name = k.label || `${k.provider || k.format || ''} ${k.model || ''}`.trim() || String(k.id);
    // The entry made from the OPENAI_* variables is changed there, not here.
    const ro = !!k.read_only;
    const prio = h('input', { type: 'number', name: 'priority', min: -1000000, max: 1000000, value: k.priority ?? 0, class: 'narrow', disabled: ro, 'aria-label': `${t('pk_priority')}: ${name}` });
    const status = h('select', { name: 'status', disabled: ro, 'aria-label': `${t('doc_status')}: ${name}` }, options(KEY_STATUSES, k.status));
    const save = h('button', { type: 'button', class: 'small', disabled: ro }, t('save'));
    const test = h('button', { type: 'button', class: 'small secondary pk-test' }, t('pk_test'));
    const del = h('button', { type: 'button', class: 'small danger pk-delete', disabled: ro }, t('delete'));
    const id = encodeURIComponent(k.id);
    save.addEventListener('click', async () => {
      const body = {};
      if (Number(prio.value) !== k.priority) body.priority = Number(prio.value);
      if (status.value !== k.status) body.status = status.value;
      if (!Object.keys(body).length) { toast(t('saved')); return; }
      save.disabled = true;
      try { await api('PATCH', `/admin/provider-keys/${id}`, { body }); toast(t('saved')); await fill(); } catch (err) { toast(err.detail); } finally { save.disabled = false; }
    });
    test.addEventListener('click', async () => {
      test.disabled = true;
      try {
        const r = await api('POST', `/admin/provider-keys/${id}/test`); // {id, passed, error?, key}
        toast(r?.passed ? t('pk_test_ok', { label: name }) : t('pk_test_failed', { label: name, detail: text(r?.error) }));
        await fill();
      } catch (err) { toast(t('pk_test_failed', { label: name, detail: err.detail })); } finally { test.disabled = false; }
    });
    del.addEventListener('click', async () => {
      if (!(await confirmDialog(t('pk_confirm_delete', { label: name }), t('delete')))) return;
      try { await api('DELETE', `/admin/provider-keys/${id}?confirm=true`); toast(t('pk_deleted')); await fill(); } catch (err) { toast(err.detail); }
    });
    return h('tr', { dataset: { id: k.id, label: name } },
      h('td', {}, name, ro ? h('span', { class: 'tag' }, t('pk_from_env')) : null), h('td', {}, text(k.provider ?? k.format)), h('td', {}, text(k.model)), h('td', {}, text(k.feature)),
      h('td', {}, prio), h('td', {}, status), h('td', { class: 'last4' }, h('code', {}, last4(k))),
      h('td', {}, k.last_used_at ? fmtDate(k.last_used_at) : t('never')), h('td', {}, text(k.failure_count ?? 0)),
      h('td', { class: 'last-error' }, text(k.last_error)), h('td', { class: 'actions' }, save, ' ', test, ' ', del));
  }

  await fill(listOf(data, 'items', 'keys', 'provider_keys'));
}

// ---- provider health ----

// An object rendered generically: scalars as a list of terms, arrays of objects and objects
// of objects ({chat: {...}, mcq: {...}}) as tables, anything deeper as JSON text.
const isPlain = (v) => v && typeof v === 'object' && !Array.isArray(v);
function describe(obj, idBase) {
  const out = [];
  const dl = h('dl', { class: 'facts' });
  for (const [k, v] of Object.entries(obj || {})) {
    if (isPlain(v) && Object.keys(v).length && Object.values(v).every(isPlain)) {
      const cols = [...new Set(Object.values(v).flatMap((r) => Object.keys(r)))];
      out.push(h('section', { class: 'card', 'aria-labelledby': `${idBase}-${k}` }, h('h2', { id: `${idBase}-${k}` }, k.replace(/_/g, ' ')),
        table(`${idBase}-${k}-table`, ['', ...cols.map((c) => c.replace(/_/g, ' '))],
          h('tbody', {}, Object.entries(v).map(([name, r]) => h('tr', {}, h('th', { scope: 'row' }, name), cols.map((c) => h('td', {}, text(r[c])))))))));
    } else if (Array.isArray(v) && v.length && typeof v[0] === 'object' && v[0] !== null) {
      const cols = [...new Set(v.flatMap((r) => Object.keys(r)))];
      out.push(h('section', { class: 'card', 'aria-labelledby': `${idBase}-${k}` }, h('h2', { id: `${idBase}-${k}` }, k.replace(/_/g, ' ')),
        table(`${idBase}-${k}-table`, cols.map((c) => c.replace(/_/g, ' ')),
          h('tbody', {}, v.map((r) => h('tr', {}, cols.map((c) => h('td', {}, text(r[c])))))))));
    } else if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).some((x) => x && typeof x === 'object')) {
      out.push(h('section', { class: 'card', 'aria-labelledby': `${idBase}-${k}` }, h('h2', { id: `${idBase}-${k}` }, k.replace(/_/g, ' ')),
        ...describe(v, `${idBase}-${k}`)));
    } else {
      dl.append(h('dt', {}, k.replace(/_/g, ' ')), h('dd', {}, text(v)));
    }
  }
  if (dl.childElementCount) out.unshift(dl);
  return out;
}

export async function providerHealthView(main) {
  main.append(h('h1', {}, t('provider_health')));
  const data = await load(main, '/admin/providers/health');
  if (!data) return;
  const box = h('div', { id: 'provider-health' }, ...describe(data, 'ph'));
  main.append(h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', id: 'health-refresh', onclick: async () => {
    try { clear(box).append(...describe(await api('GET', '/admin/providers/health'), 'ph')); } catch (err) { toast(err.detail); }
  } }, t('refresh'))), box);
}

// ---- features ----

export async function featuresView(main) {
  main.append(h('h1', {}, t('features_title')));
  const data = await load(main, '/admin/features');
  if (!data) return;
  const tbody = h('tbody', { id: 'feature-rows' });
  main.append(h('p', { class: 'hint' }, t('features_hint')),
    table('features', [t('feature_name'), t('feature_description'), t('feature_enabled'), t('feature_rollout'), t('feature_updated'), ''], tbody));
  for (const f of listOf(data, 'features', 'items')) {
    const on = h('input', { type: 'checkbox', name: 'enabled', checked: f.is_enabled, 'aria-label': `${t('feature_enabled')}: ${f.name}` });
    const roll = h('input', { type: 'number', name: 'rollout_percentage', min: 0, max: 100, value: f.rollout_percentage ?? 100, class: 'narrow', 'aria-label': `${t('feature_rollout')}: ${f.name}` });
    const save = h('button', { type: 'button', class: 'small' }, t('save'));
    const row = h('tr', { dataset: { feature: f.name } }, h('td', {}, h('code', {}, f.name),
      f.unavailable ? h('span', { class: 'tag warn' }, t('feature_unavailable')) : null),
    h('td', {}, text(f.description)), h('td', {}, on), h('td', {}, roll),
    h('td', {}, f.updated_at ? `${fmtDate(f.updated_at)} ${f.updated_by ? `· ${f.updated_by}` : ''}` : '–'), h('td', {}, save));
    save.addEventListener('click', async () => {
      save.disabled = true;
      try {
        await api('PUT', `/admin/features/${encodeURIComponent(f.name)}`, { body: { enabled: on.checked, rollout_percentage: Number(roll.value) } });
        toast(t('saved'));
      } catch (err) { toast(err.detail); } finally { save.disabled = false; }
    });
    tbody.append(row);
  }
}

// ---- maintenance ----

// <input type=datetime-local> (local time) <-> ISO-8601 UTC without milliseconds.
function toIso(local) {
  if (!local) return null;
  const d = new Date(local);
  return isNaN(d) ? null : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
function toLocalInput(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || isNaN(d)) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export async function maintenanceView(main) {
  main.append(h('h1', {}, t('maintenance_title')));
  const m = await load(main, '/admin/maintenance');
  if (!m) return;
  const state = h('section', { class: 'card', id: 'maintenance-state', 'aria-labelledby': 'h-maint-now' });
  const show = (s) => {
    clear(state).append(h('h2', { id: 'h-maint-now' }, t('maint_now')),
      h('p', { id: 'maint-level', dataset: { level: s.level } }, t(`maint_level_${s.level}`) ?? s.level),
      s.level !== 'none' ? h('dl', { class: 'facts' },
        h('dt', {}, t('maint_reason')), h('dd', {}, text(s.reason)),
        h('dt', {}, t('maint_message')), h('dd', {}, text(s.message)),
        h('dt', {}, t('maint_eta')), h('dd', {}, s.estimated_restoration ? fmtDate(s.estimated_restoration) : '–'),
        h('dt', {}, t('maint_since')), h('dd', {}, s.since ? fmtDate(s.since) : '–'),
        h('dt', {}, t('maint_set_by')), h('dd', {}, s.automatic ? t('maint_automatic') : text(s.set_by))) : '',
      s.feature_outages?.length ? h('div', {}, h('h3', {}, t('maint_outages')),
        h('ul', { id: 'feature-outages' }, s.feature_outages.map((o) => h('li', {}, `${o.feature} · ${fmtDate(o.since)}`)))) : '');
  };
  show(m);
  const level = h('select', { id: 'm-level', name: 'level' }, options(LEVELS, m.level, (l) => t(`maint_level_${l}`)));
  const form = h('form', { class: 'card form-grid', id: 'maintenance-form', 'aria-labelledby': 'h-maint-set' },
    h('h2', { id: 'h-maint-set' }, t('maint_change')),
    h('div', { class: 'field' }, h('label', { for: 'm-level' }, t('maint_level')), level),
    h('div', { class: 'field' }, h('label', { for: 'm-reason' }, t('maint_reason')),
      h('input', { id: 'm-reason', name: 'reason', maxlength: 255, required: true })),
    h('div', { class: 'field' }, h('label', { for: 'm-message' }, t('maint_message')),
      h('textarea', { id: 'm-message', name: 'message', maxlength: 500, rows: 2, 'aria-describedby': 'm-message-hint' }),
      h('p', { class: 'hint', id: 'm-message-hint' }, t('maint_message_hint'))),
    h('div', { class: 'field' }, h('label', { for: 'm-eta' }, t('maint_eta')),
      h('input', { id: 'm-eta', name: 'estimated_restoration', type: 'datetime-local', value: toLocalInput(m.estimated_restoration) })),
    h('div', {}, h('button', { type: 'submit', id: 'm-submit' }, t('maint_apply'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = { level: f.level.value, reason: f.reason.value.trim() };
    if (f.message.value.trim()) body.message = f.message.value.trim();
    const eta = toIso(f.estimated_restoration.value);
    if (eta) body.estimated_restoration = eta;
    if (body.level === 'hard' && !(await confirmDialog(t('maint_confirm_hard'), t('maint_apply')))) return;
    try {
      show(await api('PUT', '/admin/maintenance', { body }));
      toast(t('saved'));
    } catch (err) { showError(form, err); }
  });
  main.append(state, form);
}

// ---- notifications ----

function channelForm(name, ch, events, targetsEl) {
  const all = h('input', { type: 'checkbox', name: `${name}-all`, checked: ch.events === null || ch.events === undefined });
  const picks = h('fieldset', { class: 'events', hidden: all.checked },
    h('legend', {}, t('notif_events')),
    events.map((e) => h('label', { class: 'row' }, h('input', { type: 'checkbox', name: `${name}-event`, value: e.name,
      checked: Array.isArray(ch.events) && ch.events.includes(e.name) }), `${e.title || e.name} (${e.urgency})`)));
  all.addEventListener('change', () => { picks.hidden = all.checked; });
  const box = h('fieldset', { class: 'card', id: `notif-${name}` },
    h('legend', {}, t(`notif_${name}`)),
    h('label', { class: 'row' }, h('input', { type: 'checkbox', name: `${name}-enabled`, checked: ch.enabled }), t('notif_enabled')),
    h('div', { class: 'field' }, h('label', { for: `${name}-urgency` }, t('notif_min_urgency')),
      h('select', { id: `${name}-urgency`, name: `${name}-urgency` }, options(URGENCIES, ch.min_urgency))),
    h('label', { class: 'row' }, all, t('notif_all_events')), picks, targetsEl);
  return {
    box,
    value: () => ({
      enabled: box.querySelector(`[name="${name}-enabled"]`).checked,
      min_urgency: box.querySelector(`[name="${name}-urgency"]`).value,
      events: all.checked ? null : [...box.querySelectorAll(`[name="${name}-event"]:checked`)].map((x) => x.value),
    }),
  };
}

export async function notificationsView(main) {
  main.append(h('h1', {}, t('notifications_title')));
  const data = await load(main, '/admin/notifications');
  if (!data) return;
  const holder = h('div', {});
  main.append(holder);
  draw(data);

  function draw(s) {
    const events = s.events || [];
    const recipients = h('textarea', { id: 'email-recipients', name: 'recipients', rows: 3, 'aria-describedby': 'email-recipients-hint' },
      (s.email?.recipients || []).join('\n'));
    const email = channelForm('email', s.email || {}, events, h('div', { class: 'field' },
      h('label', { for: 'email-recipients' }, t('notif_recipients')), recipients,
      h('p', { class: 'hint', id: 'email-recipients-hint' }, s.email?.smtp_configured === false ? t('notif_no_smtp') : t('notif_recipients_hint'))));
    // Webhook URLs are secrets: the server shows them shortened and takes {id} to keep one.
    const kept = new Map((s.webhook?.urls || []).map((u) => [u.id, u]));
    const urlList = h('ul', { id: 'webhook-urls', class: 'plain-list' });
    const drawUrls = () => {
      clear(urlList);
      if (!kept.size) urlList.append(h('li', { class: 'empty' }, t('notif_no_webhooks')));
      for (const [id, u] of kept) {
        urlList.append(h('li', { class: 'row', dataset: { id } }, h('code', {}, u.url),
          h('button', { type: 'button', class: 'small secondary', 'aria-label': `${t('remove')}: ${u.url}`, onclick: () => { kept.delete(id); drawUrls(); } }, t('remove'))));
      }
    };
    drawUrls();
    const newUrl = h('input', { id: 'webhook-new', name: 'webhook_url', type: 'url', autocomplete: 'off', placeholder: 'https://hooks.example.com/…', 'aria-describedby': 'webhook-new-hint' });
    const webhook = channelForm('webhook', s.webhook || {}, events, h('div', {}, urlList,
      h('div', { class: 'field' }, h('label', { for: 'webhook-new' }, t('notif_add_webhook')), newUrl,
        h('p', { class: 'hint', id: 'webhook-new-hint' }, s.webhook?.signed ? t('notif_signed') : t('notif_unsigned')))));
    const form = h('form', { id: 'notifications-form' }, email.box, webhook.box,
      h('div', { class: 'row wrap' }, h('button', { type: 'submit', id: 'notif-save' }, t('save')),
        h('button', { type: 'button', class: 'secondary', id: 'notif-test' }, t('notif_send_test'))));
    const ob = s.outbox;
    const outbox = ob ? h('section', { class: 'card', id: 'notif-outbox', 'aria-labelledby': 'h-outbox' }, h('h2', { id: 'h-outbox' }, t('notif_outbox')),
      h('dl', { class: 'facts' }, ['pending', 'retrying', 'delivered', 'abandoned', 'unrouted'].flatMap((k) => [h('dt', {}, t(`notif_${k}`)), h('dd', {}, text(ob[k]))]),
        h('dt', {}, t('notif_oldest')), h('dd', {}, ob.oldest_pending_at ? fmtDate(ob.oldest_pending_at) : '–'))) : null;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const urls = [...kept.keys()].map((id) => ({ id }));
      if (newUrl.value.trim()) urls.push(newUrl.value.trim());
      const body = {
        email: { ...email.value(), recipients: recipients.value.split(/[\n,]/).map((x) => x.trim()).filter(Boolean) },
        webhook: { ...webhook.value(), urls },
      };
      try {
        const saved = await api('PUT', '/admin/notifications', { body });
        toast(t('saved'));
        draw(saved);
      } catch (err) { showError(form, err); }
    });
    form.querySelector('#notif-test').addEventListener('click', async () => {
      try {
        const r = await api('POST', '/admin/notifications/test');
        toast(t('notif_test_sent', { n: r?.targets ?? 0 }));
      } catch (err) { toast(err.detail); }
    });
    clear(holder).append(form, outbox || '',
      s.updated_at ? h('p', { class: 'hint' }, t('notif_updated', { when: fmtDate(s.updated_at), who: s.updated_by || '–' })) : '');
  }
}
