// The organization page: create or join one; with one, its name and settings, members and
// roles, invitations, leaving, usage today, widget keys and the widget's theme. What a role
// may not do is hidden here (the table of the README's "Support desk"); the server decides.
import { t } from '../i18n.js';
import { h, clear, confirmDialog, showError, toast, fmtDate } from '../dom.js';
import { api, reloadUser } from '../api.js';

const ROLES = ['owner', 'admin', 'agent', 'member'];
const MANAGERS = ['owner', 'admin'];

// Roles `actor` may give or take on a member whose role is `current` (null: a new member):
// owners any, admins agents and members only.
function assignable(actor, current) {
  if (actor === 'owner') return ROLES;
  if (actor === 'admin' && (!current || ['agent', 'member'].includes(current))) return ['agent', 'member'];
  return [];
}

function copyButton(text, code, id) {
  return h('button', { type: 'button', class: 'secondary small', id, onclick: async () => {
    try { await navigator.clipboard.writeText(text); toast(t('copied')); } catch { getSelection().selectAllChildren(code); }
  } }, t('copy'));
}

function field(id, label, input, hint) {
  return [h('label', { for: id }, label), input, hint ? h('p', { class: 'hint' }, hint) : null];
}

export async function orgView(main) {
  const me = await reloadUser();
  main.append(h('h1', {}, t('nav_org')));
  if (!me?.organization_id) { noOrg(main); return; }
  let org;
  try {
    org = await api('GET', `/organizations/${encodeURIComponent(me.organization_id)}`);
  } catch (err) {
    main.append(h('p', { class: 'form-error', role: 'alert' }, err.detail));
    return;
  }
  withOrg(main, org, me);
}

// ---- no organization: create one, or join with an invitation code ----

function noOrg(main) {
  const create = h('form', { class: 'card', id: 'org-create-form', 'aria-labelledby': 'h-org-create' },
    h('h2', { id: 'h-org-create' }, t('org_create_title')),
    h('p', { class: 'hint' }, t('org_create_hint')),
    field('org-name', t('org_name'), h('input', { id: 'org-name', name: 'name', maxlength: 100, required: true })),
    field('org-domain', t('org_domain_optional'), h('input', { id: 'org-domain', name: 'domain', maxlength: 253, placeholder: 'example.com' })),
    h('div', {}, h('button', { type: 'submit', id: 'org-create' }, t('org_create_button'))));
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { name: create.elements.name.value.trim() };
    const domain = create.elements.domain.value.trim();
    if (domain) body.domain = domain;
    try {
      await api('POST', '/organizations', { body });
      toast(t('org_created'));
      rerender(main);
    } catch (err) {
      if (err.code === 'ALREADY_IN_ORGANIZATION') err.field = 'name';
      if (err.code === 'DOMAIN_TAKEN') err.field = 'domain';
      showError(create, err);
    }
  });
  const join = h('form', { class: 'card', id: 'org-join-form', 'aria-labelledby': 'h-org-join' },
    h('h2', { id: 'h-org-join' }, t('org_join_title')),
    field('org-join-token', t('org_join_code'), h('input', { id: 'org-join-token', name: 'token', minlength: 8, maxlength: 100, required: true, autocomplete: 'off' }), t('org_join_hint')),
    h('div', {}, h('button', { type: 'submit', id: 'org-join' }, t('org_join_button'))));
  join.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('POST', '/organizations/join', { body: { token: join.elements.token.value.trim() } });
      toast(t('org_joined'));
      rerender(main);
    } catch (err) {
      if (!err.field) err.field = 'token';
      showError(join, err);
    }
  });
  main.append(h('div', { class: 'grid2' }, create, join));
}

async function rerender(main) {
  clear(main);
  await orgView(main);
}

// ---- with an organization ----

function withOrg(main, org, me) {
  const role = org.your_role;
  const manage = MANAGERS.includes(role);
  const base = `/organizations/${encodeURIComponent(org.id)}`;
  main.dataset.orgRole = role;

  // Name, plan, role and usage today.
  const u = org.usage_today || {};
  const facts = h('dl', { class: 'facts', id: 'org-facts' },
    h('dt', {}, t('org_name')), h('dd', { id: 'org-name-shown' }, org.name),
    h('dt', {}, t('org_plan')), h('dd', {}, org.plan),
    h('dt', {}, t('org_your_role')), h('dd', { id: 'org-your-role' }, t(`org_role_${role}`)),
    h('dt', {}, t('org_members_count')), h('dd', {}, t('of_limit', { used: org.member_count, limit: org.max_users })),
    h('dt', {}, t('org_usage_messages')), h('dd', { id: 'org-usage-messages' },
      u.messages_limit === null || u.messages_limit === undefined ? `${u.messages ?? 0} (${t('unlimited')})`
        : t('of_limit', { used: u.messages ?? 0, limit: u.messages_limit })),
    h('dt', {}, t('org_usage_widget')), h('dd', {}, t('of_limit', { used: u.widget_messages ?? 0, limit: u.widget_messages_limit ?? 0 })),
    h('dt', {}, t('org_created_at')), h('dd', {}, fmtDate(org.created_at)));
  const overview = h('section', { class: 'card', id: 'org-overview', 'aria-labelledby': 'h-org-overview' },
    h('h2', { id: 'h-org-overview' }, t('org_overview')), facts);

  if (manage) {
    const s = org.settings || {};
    const on = new Set(s.features_enabled || []);
    const form = h('form', { id: 'org-settings-form', 'aria-label': t('org_settings') },
      h('h3', {}, t('org_settings')),
      field('org-edit-name', t('org_name'), h('input', { id: 'org-edit-name', name: 'name', maxlength: 100, required: true, value: org.name })),
      h('fieldset', {}, h('legend', {}, t('org_features')),
        ['chat', 'search', 'analytics', 'widget', 'tickets'].map((f) => h('label', { class: 'row' },
          h('input', { type: 'checkbox', name: 'feature', value: f, checked: on.has(f) }), t(`org_feature_${f}`)))),
      h('div', {}, h('button', { type: 'submit', id: 'org-save' }, t('save'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const features = [...form.querySelectorAll('input[name=feature]:checked')].map((x) => x.value);
      try {
        const o = await api('PATCH', base, { body: { name: form.elements.name.value.trim(), settings: { features_enabled: features } } });
        css(facts, '#org-name-shown').textContent = o.name;
        toast(t('saved'));
      } catch (err) {
        if (err.field === 'settings.features_enabled') err.field = null;
        showError(form, err);
      }
    });
    overview.append(form);
  }

  // Leaving (anyone; the last owner is refused with LAST_OWNER).
  const leaveBox = h('div', { id: 'org-leave-box' },
    h('button', { type: 'button', class: 'danger', id: 'org-leave', onclick: async () => {
      if (!(await confirmDialog(t('org_leave_confirm', { name: org.name }), t('org_leave')))) return;
      for (const old of leaveBox.querySelectorAll('.form-error')) old.remove();
      try {
        await api('DELETE', `${base}/members/${encodeURIComponent(me.id)}`);
        toast(t('org_left'));
        rerender(main);
      } catch (err) {
        leaveBox.append(h('p', { class: 'form-error', id: 'org-leave-error', role: 'alert' },
          err.code === 'LAST_OWNER' ? t('org_last_owner') : err.detail));
      }
    } }, t('org_leave')));
  overview.append(leaveBox);

  const members = membersSection(me, base, role);
  main.append(overview, members.el);
  if (manage) main.append(widgetKeysSection(base), themeSection(org, base));
  members.load();
}

function css(root, sel) { return root.querySelector(sel); }

function membersSection(me, base, role) {
  const manage = MANAGERS.includes(role);
  const tbody = h('tbody', { id: 'member-rows' });
  const invites = h('div', { id: 'org-invitations' });
  const el = h('section', { class: 'card', id: 'org-members', 'aria-labelledby': 'h-org-members' },
    h('h2', { id: 'h-org-members' }, t('org_members')),
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {},
      [t('email'), t('username'), t('org_role'), t('org_joined_at'), manage ? t('org_messages_today') : null, manage ? '' : null]
        .filter((x) => x !== null).map((x) => h('th', { scope: 'col' }, x)))), tbody)), invites);

  if (manage) {
    const result = h('div', { id: 'invite-result', 'aria-live': 'polite' });
    const form = h('form', { class: 'row wrap', id: 'invite-form', 'aria-label': t('org_invite') },
      h('label', { for: 'invite-email' }, t('email')),
      h('input', { id: 'invite-email', name: 'email', type: 'email', required: true, maxlength: 254 }),
      h('label', { for: 'invite-role' }, t('org_role')),
      h('select', { id: 'invite-role', name: 'role' }, assignable(role, null).map((r) =>
        h('option', { value: r, selected: r === 'member' }, t(`org_role_${r}`)))),
      h('button', { type: 'submit', id: 'invite-submit' }, t('org_invite')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(result);
      try {
        const r = await api('POST', `${base}/members`, { body: { email: form.elements.email.value.trim(), role: form.elements.role.value } });
        if (r.status === 'added') toast(t('org_member_added', { email: r.member.email }));
        else if (r.invite_token) {
          const code = h('code', { id: 'invite-token' }, r.invite_token);
          result.append(h('div', { class: 'card notice' }, h('p', {}, t('org_invite_token_once', { email: r.invitation.email })),
            code, copyButton(r.invite_token, code, 'invite-token-copy')));
        } else toast(t('org_invite_mailed', { email: r.invitation.email }));
        form.reset();
        load();
      } catch (err) { showError(form, err); }
    });
    el.append(h('h3', {}, t('org_invite')), h('p', { class: 'hint' }, t('org_invite_hint')), form, result);
  }

  async function load() {
    let data;
    try { data = await api('GET', `${base}/members`); } catch (err) { toast(err.detail); return; }
    clear(tbody);
    for (const m of data.members) {
      const self = m.user_id === me.id;
      const roles = self ? [] : assignable(role, m.role);
      let roleCell = t(`org_role_${m.role}`);
      if (manage && roles.length) {
        const sel = h('select', { 'aria-label': t('org_role_of', { email: m.email }), class: 'member-role' },
          roles.map((r) => h('option', { value: r, selected: r === m.role }, t(`org_role_${r}`))));
        sel.addEventListener('change', async () => {
          try {
            await api('PATCH', `${base}/members/${encodeURIComponent(m.user_id)}`, { body: { role: sel.value } });
            toast(t('org_role_changed', { email: m.email, role: t(`org_role_${sel.value}`) }));
          } catch (err) { toast(err.code === 'LAST_OWNER' ? t('org_last_owner') : err.detail); }
          load();
        });
        roleCell = sel;
      }
      const cells = [h('td', {}, m.email), h('td', {}, m.username || ''), h('td', {}, roleCell), h('td', {}, fmtDate(m.joined_at))];
      if (manage) {
        cells.push(h('td', {}, m.messages_today ?? ''));
        cells.push(h('td', {}, !self && roles.length ? h('button', { type: 'button', class: 'danger small member-remove', onclick: async () => {
          if (!(await confirmDialog(t('org_remove_confirm', { email: m.email }), t('org_remove')))) return;
          try {
            await api('DELETE', `${base}/members/${encodeURIComponent(m.user_id)}`);
            toast(t('org_removed', { email: m.email }));
          } catch (err) { toast(err.code === 'LAST_OWNER' ? t('org_last_owner') : err.detail); }
          load();
        } }, t('org_remove')) : ''));
      }
      tbody.append(h('tr', { dataset: { email: m.email, role: m.role } }, cells));
    }
    clear(invites);
    if (data.invitations?.length) {
      invites.append(h('h3', {}, t('org_pending_invitations')), h('ul', { class: 'plain-list', id: 'invitation-rows' },
        data.invitations.map((i) => h('li', { dataset: { email: i.email } },
          t('org_invitation_line', { email: i.email, role: t(`org_role_${i.role}`), when: fmtDate(i.expires_at) })))));
    }
  }
  return { el, load };
}

// ---- widget keys (owners and admins) ----

function snippet(key) {
  return `<script src="${location.origin}/widget.js" data-key="${key}" async></script>`;
}

function shownOnce(box, k, titleKey) {
  const code = h('code', { id: 'new-widget-key' }, k.key);
  const parts = [h('p', {}, t(titleKey)), code, copyButton(k.key, code, 'widget-key-copy')];
  if (k.key.startsWith('pk_')) {
    const snip = h('code', { id: 'widget-snippet', class: 'plain' }, snippet(k.key));
    parts.push(h('p', {}, t('widget_snippet_hint')), snip, copyButton(snippet(k.key), snip, 'widget-snippet-copy'));
  }
  clear(box).append(h('div', { class: 'card notice', role: 'status' }, parts));
  code.scrollIntoView({ block: 'nearest' });
}

function widgetKeysSection(base) {
  const created = h('div', { id: 'widget-key-created', 'aria-live': 'polite' });
  const tbody = h('tbody', { id: 'widget-key-rows' });
  const kind = h('select', { id: 'wk-kind', name: 'kind' },
    h('option', { value: 'publishable' }, t('widget_kind_publishable')),
    h('option', { value: 'secret' }, t('widget_kind_secret')));
  const originsWrap = h('div', { id: 'wk-origins-wrap' },
    field('wk-origins', t('widget_origins'), h('textarea', { id: 'wk-origins', name: 'allowed_origins', rows: 2, placeholder: 'https://shop.example.com' }), t('widget_origins_hint')));
  kind.addEventListener('change', () => { originsWrap.hidden = kind.value !== 'publishable'; });
  const form = h('form', { id: 'widget-key-form', 'aria-label': t('widget_create') },
    field('wk-name', t('key_name'), h('input', { id: 'wk-name', name: 'name', maxlength: 100 })),
    field('wk-kind', t('widget_kind'), kind), originsWrap,
    h('div', {}, h('button', { type: 'submit', id: 'wk-create' }, t('widget_create'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { kind: kind.value };
    const name = form.elements.name.value.trim();
    if (name) body.name = name;
    if (kind.value === 'publishable') {
      body.allowed_origins = form.elements.allowed_origins.value.split(/[\s,]+/).filter(Boolean);
    }
    try {
      const k = await api('POST', `${base}/widget-keys`, { body });
      shownOnce(created, k, 'widget_key_created');
      form.reset();
      originsWrap.hidden = false;
      load();
    } catch (err) { showError(form, err); }
  });
  const el = h('section', { class: 'card', id: 'org-widget-keys', 'aria-labelledby': 'h-widget-keys' },
    h('h2', { id: 'h-widget-keys' }, t('widget_keys_title')), h('p', { class: 'hint' }, t('widget_keys_hint')),
    form, created,
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {},
      [t('key_name'), t('widget_kind'), t('key_prefix'), t('widget_origins'), t('doc_added'), t('key_last_used'), ''].map((x) => h('th', { scope: 'col' }, x)))), tbody)));

  async function load() {
    let data;
    try { data = await api('GET', `${base}/widget-keys`); } catch (err) { toast(err.detail); return; }
    clear(tbody);
    const keys = data.keys.filter((k) => k.active);
    if (!keys.length) tbody.append(h('tr', {}, h('td', { colspan: 7, class: 'empty' }, t('widget_no_keys'))));
    for (const k of keys) {
      const label = k.name || k.prefix;
      tbody.append(h('tr', { dataset: { id: k.id, prefix: k.prefix } },
        h('td', {}, k.name || ''), h('td', {}, t(`widget_kind_${k.kind}`)), h('td', {}, h('code', {}, `${k.prefix}…`)),
        h('td', {}, (k.allowed_origins || []).join(', ')), h('td', {}, fmtDate(k.created_at)),
        h('td', {}, k.last_used_at ? fmtDate(k.last_used_at) : t('never')),
        h('td', {}, h('div', { class: 'row' },
          h('button', { type: 'button', class: 'secondary small wk-rotate', onclick: async () => {
            if (!(await confirmDialog(t('widget_rotate_confirm', { name: label }), t('widget_rotate')))) return;
            try {
              const n = await api('POST', `${base}/widget-keys/${encodeURIComponent(k.id)}/rotate`);
              shownOnce(created, n, 'widget_key_rotated');
              load();
            } catch (err) { toast(err.detail); }
          } }, t('widget_rotate')),
          h('button', { type: 'button', class: 'danger small wk-revoke', onclick: async () => {
            if (!(await confirmDialog(t('widget_revoke_confirm', { name: label }), t('revoke')))) return;
            try {
              await api('DELETE', `${base}/widget-keys/${encodeURIComponent(k.id)}`);
              clear(created);
              toast(t('widget_revoked'));
              load();
            } catch (err) { toast(err.detail); }
          } }, t('revoke'))))));
    }
  }
  load();
  return el;
}

// ---- the widget's theme, with a preview drawn from the form as it changes ----

const HEX = /^#[0-9a-fA-F]{6}$/;

function themeSection(org, base) {
  const w = (org.settings && org.settings.widget) || {};
  const form = h('form', { id: 'widget-theme-form', 'aria-label': t('widget_theme') },
    field('wt-title', t('widget_theme_title'), h('input', { id: 'wt-title', name: 'title', maxlength: 60, value: w.title || '' })),
    field('wt-greeting', t('widget_theme_greeting'), h('textarea', { id: 'wt-greeting', name: 'greeting', maxlength: 280, rows: 2 }, w.greeting || '')),
    field('wt-primary', t('widget_theme_primary'), h('input', { id: 'wt-primary', name: 'primary_color', type: 'color', value: HEX.test(w.primary_color || '') ? w.primary_color : '#2563eb' })),
    field('wt-text', t('widget_theme_text'), h('input', { id: 'wt-text', name: 'text_color', type: 'color', value: HEX.test(w.text_color || '') ? w.text_color : '#ffffff' })),
    field('wt-position', t('widget_theme_position'), h('select', { id: 'wt-position', name: 'position' },
      ['bottom-right', 'bottom-left'].map((p) => h('option', { value: p, selected: (w.position || 'bottom-right') === p }, t(`widget_pos_${p}`))))),
    h('div', {}, h('button', { type: 'submit', id: 'wt-save' }, t('save'))));

  const pTitle = h('div', { class: 'wp-head' });
  const pGreet = h('p', { class: 'wp-msg' });
  const pLaunch = h('span', { class: 'wp-launch', 'aria-hidden': 'true' });
  const panel = h('div', { class: 'wp-panel' }, pTitle, pGreet);
  const preview = h('div', { class: 'widget-preview', id: 'widget-preview', role: 'img', 'aria-label': t('widget_preview') }, panel, pLaunch);
  function draw() {
    const f = form.elements;
    pTitle.textContent = f.title.value || t('widget_theme_title');
    pGreet.textContent = f.greeting.value;
    for (const el of [pTitle, pLaunch]) { el.style.background = f.primary_color.value; el.style.color = f.text_color.value; }
    preview.dataset.position = f.position.value;
  }
  form.addEventListener('input', draw);
  form.addEventListener('change', draw);
  draw();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = form.elements;
    const widget = { title: f.title.value, greeting: f.greeting.value, primary_color: f.primary_color.value,
      text_color: f.text_color.value, position: f.position.value };
    try {
      await api('PATCH', base, { body: { settings: { widget } } });
      toast(t('saved'));
    } catch (err) {
      if (err.field?.startsWith('settings.widget.')) {
        const map = { title: 'title', greeting: 'greeting', primary_color: 'primary_color', text_color: 'text_color', position: 'position' };
        err.field = map[err.field.slice('settings.widget.'.length)] || null;
      }
      showError(form, err);
    }
  });
  return h('section', { class: 'card', id: 'org-widget-theme', 'aria-labelledby': 'h-widget-theme' },
    h('h2', { id: 'h-widget-theme' }, t('widget_theme')), h('div', { class: 'theme-grid' }, form,
      h('div', {}, h('h3', {}, t('widget_preview')), preview)));
}
