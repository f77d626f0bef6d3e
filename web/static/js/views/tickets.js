// The agent inbox (GET /tickets with filters and pages) and one ticket (GET /tickets/{id}):
// its transcript, the sentiment trail, status / priority / assignee controls (PATCH, the
// server's refusal shown next to the control) and a reply box with an internal-note switch
// (POST /tickets/{id}/messages). The user app shows it to an organization's owners, admins
// and agents; the console (admin.js) to platform roles with tickets.manage, across every
// organization. Whatever visitors, agents and models wrote is inserted as text, or for the
// assistant's Markdown answers through DOMPurify (dom.js markdown()).
import { t } from '../i18n.js';
import { h, clear, fmtDate, markdown, plain, showError, toast } from '../dom.js';
import { api, currentUser } from '../api.js';

export const STATUSES = ['open', 'pending', 'resolved', 'closed'];
export const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH', 'URGENT'];
const PAGE = 25;

// Filters kept while the page is open, so that coming back from a ticket finds the list as it was.
const kept = { status: '', priority: '', assignee: '', category: '', q: '', organization_id: '', offset: 0 };

export function statusBadge(s) {
  return h('span', { class: `badge status-${s}`, dataset: { status: s } }, t(`ticket_status_${s}`));
}

export function priorityBadge(p) {
  return h('span', { class: `badge prio-${p}`, dataset: { priority: p } }, t(`priority_${p}`));
}

// SLA indicators of an open or pending ticket: due times, or "overdue" when a target is breached.
function slaBadges(tk) {
  const s = tk.sla || {};
  const out = [];
  const done = tk.status === 'resolved' || tk.status === 'closed';
  if (s.first_response_breached) out.push(h('span', { class: 'badge sla-breached', dataset: { sla: 'first_response_breached' } }, t('sla_reply_overdue')));
  else if (!tk.first_response_at && !done && s.first_response_due_at) {
    out.push(h('span', { class: 'badge sla-due', dataset: { sla: 'first_response_due' } }, t('sla_reply_due', { when: fmtDate(s.first_response_due_at) })));
  }
  if (s.resolution_breached) out.push(h('span', { class: 'badge sla-breached', dataset: { sla: 'resolution_breached' } }, t('sla_resolve_overdue')));
  else if (!done && s.resolution_due_at) {
    out.push(h('span', { class: 'badge sla-due', dataset: { sla: 'resolution_due' } }, t('sla_resolve_due', { when: fmtDate(s.resolution_due_at) })));
  }
  return out;
}

function sentimentMark(sn, extra) {
  const label = sn?.label || 'NONE';
  const text = sn ? t('sentiment_mark', { label: t(`sentiment_${label}`), score: Math.round((sn.score ?? 0) * 100) }) : '';
  return h('span', { class: `senti senti-${label}`, dataset: { label }, title: text, ...extra },
    h('span', { class: 'sr-only' }, text));
}

const selectOf = (id, name, label, values, current, text) => h('label', { for: id }, label,
  h('select', { id, name }, h('option', { value: '' }, t('any')),
    values.map((v) => h('option', { value: v, selected: v === current }, text(v)))));

// ---- the inbox ----

// opts: {console: true} lists every organization's tickets (platform roles), with an
// organization column and filter; links then go to #/tickets/<id> (the console's routes).
export async function inboxView(main, opts = {}) {
  const link = (id) => (opts.console ? `#/tickets/${encodeURIComponent(id)}` : `#/tickets?id=${encodeURIComponent(id)}`);
  const head = h('h1', {}, t(opts.console ? 'tickets_all_title' : 'tickets_title'));
  // The console names organizations (GET /admin/organizations) where the role may list them,
  // and filters by one chosen by name; otherwise by its id.
  let orgNames = null;
  if (opts.console) {
    try {
      const r = await api('GET', '/admin/organizations?limit=500');
      orgNames = new Map((r.items || []).map((o) => [o.id, o.name]));
    } catch { orgNames = null; }
  }
  const orgFilter = !opts.console ? null : orgNames
    ? h('select', { id: 'tf-org', name: 'organization_id' }, h('option', { value: '' }, t('ticket_every_org')),
      [...orgNames].sort((a, b) => a[1].localeCompare(b[1])).map(([id, name]) =>
        h('option', { value: id, selected: id === kept.organization_id }, name)))
    : h('input', { id: 'tf-org', name: 'organization_id', maxlength: 36, value: kept.organization_id, placeholder: t('ticket_every_org') });
  const filters = h('form', { class: 'filters', id: 'ticket-filters', role: 'search', 'aria-label': t('ticket_filters') },
    selectOf('tf-status', 'status', t('ticket_status'), STATUSES, kept.status, (s) => t(`ticket_status_${s}`)),
    selectOf('tf-priority', 'priority', t('ticket_priority'), PRIORITIES, kept.priority, (p) => t(`priority_${p}`)),
    h('label', { for: 'tf-assignee' }, t('ticket_assignee'), h('select', { id: 'tf-assignee', name: 'assignee' },
      [['', t('any')], ['me', t('assignee_me')], ['none', t('assignee_none')]].map(([v, l]) =>
        h('option', { value: v, selected: v === kept.assignee }, l)))),
    h('label', { for: 'tf-category' }, t('ticket_category'),
      h('input', { id: 'tf-category', name: 'category', maxlength: 80, value: kept.category, placeholder: 'sentiment' })),
    h('label', { for: 'tf-q' }, t('ticket_search'),
      h('input', { id: 'tf-q', name: 'q', type: 'search', maxlength: 200, value: kept.q })),
    orgFilter ? h('label', { for: 'tf-org' }, t(orgNames ? 'ticket_organization' : 'ticket_organization_id'), orgFilter) : null,
    h('button', { type: 'submit', id: 'tf-apply' }, t('filter_apply')));
  const list = h('ul', { class: 'ticket-list', id: 'ticket-rows', 'aria-labelledby': 'h-ticket-list' });
  const count = h('p', { class: 'hint', id: 'ticket-count', 'aria-live': 'polite' });
  const pager = h('div', { class: 'row wrap', id: 'ticket-pager' });
  main.append(head, filters, h('h2', { id: 'h-ticket-list', class: 'sr-only' }, t('tickets_title')), count, list, pager);

  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    for (const k of ['status', 'priority', 'assignee', 'category', 'q', 'organization_id']) {
      if (filters.elements[k]) kept[k] = filters.elements[k].value.trim();
    }
    kept.offset = 0;
    load();
  });

  async function load() {
    const q = new URLSearchParams({ limit: PAGE, offset: kept.offset });
    for (const k of ['status', 'priority', 'assignee', 'category', 'q']) if (kept[k]) q.set(k, kept[k]);
    if (opts.console && kept.organization_id) q.set('organization_id', kept.organization_id);
    let data;
    for (const old of main.querySelectorAll('#tickets-error')) old.remove();
    for (const old of filters.querySelectorAll('.field-error, .form-error')) old.remove();
    try {
      data = await api('GET', `/tickets?${q}`);
    } catch (err) {
      clear(list);
      clear(pager);
      count.textContent = '';
      if (err.field && filters.elements[err.field]) showError(filters, err);
      else if (err.status === 422 || (err.code === 'ORGANIZATION_NOT_FOUND' && opts.console)) showError(filters, err);
      else {
        // Refused (a member, or no organization): the server's words, in place of the list.
        filters.hidden = true;
        head.after(h('p', { class: 'form-error', role: 'alert', id: 'tickets-error', dataset: { code: err.code } }, err.detail));
      }
      return;
    }
    clear(list);
    count.textContent = t('tickets_count', { n: data.total });
    count.dataset.total = data.total;
    if (!data.items.length) list.append(h('li', { class: 'empty' }, t('tickets_none')));
    for (const tk of data.items) {
      const who = tk.assignee_email || (tk.assigned_to ? tk.assigned_to : t('assignee_none'));
      const orgName = opts.console ? (orgNames?.get(tk.organization_id) || tk.organization_id) : null;
      list.append(h('li', { class: 'ticket-item', dataset: { id: tk.id, status: tk.status, priority: tk.priority } },
        h('a', { href: link(tk.id), class: 'ticket-subject' }, tk.subject || t('ticket_no_subject')),
        h('div', { class: 'ticket-meta' },
          priorityBadge(tk.priority), statusBadge(tk.status),
          h('span', { class: 'badge category' }, tk.category),
          tk.conversation?.sentiment ? sentimentMark(tk.conversation.sentiment) : null,
          slaBadges(tk)),
        h('div', { class: 'ticket-meta hint' },
          orgName ? h('span', { class: 'ticket-org' }, t('ticket_org_line', { name: orgName })) : null,
          h('span', {}, t('ticket_assigned_line', { who })),
          h('span', {}, t('ticket_created_line', { when: fmtDate(tk.created_at) })))));
    }
    clear(pager).append(
      h('button', { type: 'button', class: 'secondary', disabled: kept.offset === 0, onclick: () => { kept.offset = Math.max(0, kept.offset - PAGE); load(); } }, t('prev')),
      h('span', { class: 'hint' }, `${data.total ? kept.offset + 1 : 0}–${Math.min(kept.offset + PAGE, data.total)} / ${data.total}`),
      h('button', { type: 'button', class: 'secondary', disabled: kept.offset + PAGE >= data.total, onclick: () => { kept.offset += PAGE; load(); } }, t('next')));
  }
  await load();
}

// ---- one ticket ----

function roleLabel(m) {
  if (m.role === 'agent' && m.internal) return t('tmsg_note');
  return t(`tmsg_${m.role}`);
}

function transcriptItem(m) {
  // The assistant's answers are Markdown from a model (sanitised); everything else is text.
  const body = m.role === 'assistant' ? h('div', { class: 'tmsg-body md' }, markdown(m.body)) : h('div', { class: 'tmsg-body' }, plain(m.body));
  const cls = `tmsg role-${m.role}${m.internal ? ' internal' : ''}`;
  return h('li', { class: cls, dataset: { id: m.id, role: m.role, internal: m.internal ? '1' : '0' } },
    h('div', { class: 'tmsg-head' },
      h('span', { class: 'tmsg-who' }, roleLabel(m)),
      m.sentiment ? sentimentMark(m.sentiment) : null,
      m.sentiment ? h('span', { class: 'hint' }, t(`sentiment_${m.sentiment.label}`)) : null,
      m.role === 'assistant' && m.confidence !== null && m.confidence !== undefined
        ? h('span', { class: 'hint' }, t('tmsg_confidence', { pct: Math.round(m.confidence * 100) })) : null,
      m.feedback ? h('span', { class: 'hint' }, t(`tmsg_feedback_${m.feedback}`)) : null,
      h('time', { class: 'hint', datetime: m.created_at }, fmtDate(m.created_at))),
    body);
}

function trailView(trail) {
  const box = h('section', { class: 'card', id: 'sentiment-trail', 'aria-labelledby': 'h-trail' },
    h('h2', { id: 'h-trail' }, t('sentiment_trail')));
  if (!trail.length) { box.append(h('p', { class: 'empty' }, t('sentiment_trail_none'))); return box; }
  // One marker per scored visitor message, in order, placed by its polarity (-1 .. +1).
  const ol = h('ol', { class: 'trail', 'aria-label': t('sentiment_trail') });
  trail.forEach((s, i) => {
    const mark = sentimentMark(s, { 'aria-hidden': 'true' });
    const pol = Math.max(-1, Math.min(1, Number(s.polarity) || 0));
    ol.append(h('li', { class: 'trail-step', dataset: { label: s.label, polarity: pol.toFixed(2) } },
      h('span', { class: 'trail-lane' }, mark),
      h('span', { class: 'sr-only' }, t('trail_step', { n: i + 1, label: t(`sentiment_${s.label}`), polarity: pol.toFixed(2) }))));
  });
  box.append(ol, h('p', { class: 'hint trail-legend' },
    ['POSITIVE', 'NEUTRAL', 'NEGATIVE'].map((l) => h('span', { class: 'row' }, sentimentMark({ label: l }, { 'aria-hidden': 'true' }), t(`sentiment_${l}`)))));
  // Marker heights follow the polarity (CSSOM, allowed by the CSP).
  for (const li of ol.querySelectorAll('.trail-step')) {
    li.querySelector('.senti').style.bottom = `${((Number(li.dataset.polarity) + 1) / 2) * 100}%`;
  }
  return box;
}

// Someone who may be assigned: the organization's owners, admins and agents, where the
// member list can be read; otherwise "me", "unassigned" and the current assignee.
async function assignees(tk) {
  try {
    const r = await api('GET', `/organizations/${encodeURIComponent(tk.organization_id)}/members`);
    return r.members.filter((m) => ['owner', 'admin', 'agent'].includes(m.role)).map((m) => ({ id: m.user_id, email: m.email }));
  } catch {
    return tk.assigned_to ? [{ id: tk.assigned_to, email: tk.assignee_email || tk.assigned_to }] : [];
  }
}

export async function ticketView(main, id, opts = {}) {
  main.append(h('p', {}, h('a', { href: '#/tickets', id: 'ticket-back' }, t('tickets_back'))));
  let tk;
  try {
    tk = await api('GET', `/tickets/${encodeURIComponent(id)}`);
  } catch (err) {
    main.append(h('p', { class: 'form-error', role: 'alert', id: 'tickets-error', dataset: { code: err.code } }, err.detail));
    return;
  }
  const people = await assignees(tk);
  const me = currentUser();
  const wrap = h('div', { class: 'ticket-page', id: 'ticket', dataset: { id: tk.id } });
  main.append(wrap);

  function draw() {
    clear(wrap);
    const conv = tk.conversation || {};
    const headBox = h('section', { class: 'card', id: 'ticket-head', 'aria-labelledby': 'ticket-subject' },
      h('h1', { id: 'ticket-subject' }, tk.subject || t('ticket_no_subject')),
      h('div', { class: 'ticket-meta', id: 'ticket-badges' }, priorityBadge(tk.priority), statusBadge(tk.status),
        h('span', { class: 'badge category' }, tk.category), slaBadges(tk)),
      h('dl', { class: 'facts' },
        h('dt', {}, t('ticket_reason')), h('dd', {}, tk.reason || ''),
        h('dt', {}, t('ticket_created')), h('dd', {}, fmtDate(tk.created_at)),
        h('dt', {}, t('ticket_first_response')), h('dd', { id: 'ticket-first-response' }, tk.first_response_at ? fmtDate(tk.first_response_at) : t('not_yet')),
        h('dt', {}, t('ticket_resolved')), h('dd', { id: 'ticket-resolved-at' }, tk.resolved_at ? fmtDate(tk.resolved_at) : t('not_yet')),
        h('dt', {}, t('ticket_contact')), h('dd', {}, conv.contact_email || t('ticket_no_contact')),
        h('dt', {}, t('ticket_conversation_status')), h('dd', {}, conv.status || '')));
    wrap.append(headBox, controls(), h('div', { class: 'ticket-cols' },
      h('section', { class: 'card', id: 'ticket-transcript', 'aria-labelledby': 'h-transcript' },
        h('h2', { id: 'h-transcript' }, t('ticket_transcript')),
        h('ol', { class: 'transcript', id: 'transcript', 'aria-label': t('ticket_transcript') }, tk.transcript.map(transcriptItem)),
        replyForm()),
      h('div', {}, trailView(tk.sentiment_trail || []), eventsView())));
  }

  // Status, priority and assignee: each change is sent at once; a refusal is shown next to
  // its control and the control goes back to what the ticket is.
  function controls() {
    const box = h('section', { class: 'card', id: 'ticket-controls', 'aria-labelledby': 'h-controls' },
      h('h2', { id: 'h-controls' }, t('ticket_manage')));
    const grid = h('div', { class: 'form-grid' });
    box.append(grid);
    const ctl = (id, name, label, options, current, toBody) => {
      const sel = h('select', { id, name }, options.map(([v, l]) => h('option', { value: v, selected: v === current }, l)));
      const field = h('div', { class: 'field', dataset: { control: name } }, h('label', { for: id }, label), sel);
      sel.addEventListener('change', async () => {
        for (const old of field.querySelectorAll('.field-error')) old.remove();
        sel.removeAttribute('aria-invalid');
        sel.disabled = true;
        try {
          tk = await api('PATCH', `/tickets/${encodeURIComponent(tk.id)}`, { body: toBody(sel.value) });
          toast(t('saved'));
          draw();
          document.getElementById(id)?.focus();
        } catch (err) {
          sel.disabled = false;
          sel.value = current;
          const eid = `${id}-error`;
          sel.setAttribute('aria-invalid', 'true');
          sel.setAttribute('aria-describedby', eid);
          field.append(h('p', { class: 'field-error', id: eid, role: 'alert', dataset: { code: err.code } }, err.detail));
          sel.focus();
        }
      });
      grid.append(field);
    };
    ctl('tk-status', 'status', t('ticket_status'), STATUSES.map((s) => [s, t(`ticket_status_${s}`)]), tk.status, (v) => ({ status: v }));
    ctl('tk-priority', 'priority', t('ticket_priority'), PRIORITIES.map((p) => [p, t(`priority_${p}`)]), tk.priority, (v) => ({ priority: v }));
    const opts2 = [['', t('assignee_none')]];
    const seen = new Set(['']);
    if (me && !people.some((p) => p.id === me.id) && !opts.console) opts2.push([me.id, t('assignee_me_email', { email: me.email })]);
    for (const p of people) { if (!seen.has(p.id)) { seen.add(p.id); opts2.push([p.id, p.id === me?.id ? t('assignee_me_email', { email: p.email }) : p.email]); } }
    if (opts.console && me && !seen.has(me.id)) opts2.push(['me', t('assignee_me_email', { email: me.email })]);
    if (tk.assigned_to && !seen.has(tk.assigned_to)) opts2.push([tk.assigned_to, tk.assignee_email || tk.assigned_to]);
    ctl('tk-assignee', 'assigned_to', t('ticket_assignee'), opts2, tk.assigned_to || '', (v) => ({ assigned_to: v || null }));
    return box;
  }

  function replyForm() {
    const body = h('textarea', { id: 'reply-body', name: 'body', rows: 3, maxlength: 10000, required: true });
    const internal = h('input', { type: 'checkbox', id: 'reply-internal', name: 'internal' });
    const send = h('button', { type: 'submit', id: 'reply-send' }, t('reply_send'));
    const form = h('form', { class: 'reply', id: 'reply-form', 'aria-label': t('reply_title') },
      h('label', { for: 'reply-body' }, t('reply_title')), body,
      h('p', { class: 'hint', id: 'reply-hint' }, t('reply_hint_public')),
      h('div', { class: 'row wrap spread' },
        h('label', { class: 'row', for: 'reply-internal' }, internal, t('reply_internal')), send));
    const hint = form.querySelector('#reply-hint');
    internal.addEventListener('change', () => {
      form.classList.toggle('internal', internal.checked);
      hint.textContent = t(internal.checked ? 'reply_hint_internal' : 'reply_hint_public');
      send.textContent = t(internal.checked ? 'reply_send_note' : 'reply_send');
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const text = body.value.trim();
      if (!text) { showError(form, { field: 'body', detail: t('reply_empty') }); return; }
      send.disabled = true;
      try {
        await api('POST', `/tickets/${encodeURIComponent(tk.id)}/messages`, { body: { body: text, internal: internal.checked } });
        tk = await api('GET', `/tickets/${encodeURIComponent(tk.id)}`);
        toast(t(internal.checked ? 'note_added' : 'reply_sent'));
        draw();
        const last = wrap.querySelector('#transcript li:last-child');
        last?.scrollIntoView({ block: 'nearest' });
        document.getElementById('reply-body')?.focus();
      } catch (err) {
        send.disabled = false;
        showError(form, err);
      }
    });
    return form;
  }

  // An event of the ticket's history in words; people are named by e-mail where known.
  function eventText(e) {
    const name = (id) => (id ? people.find((p) => p.id === id)?.email || (id === tk.assigned_to && tk.assignee_email) || id : t('assignee_none'));
    if (['note', 'reply', 'trigger', 'created'].includes(e.kind)) {
      return e.kind === 'created' ? t('ticket_event_created', { priority: e.to ? t(`priority_${e.to}`) : '' }) : t(`ticket_event_${e.kind}`);
    }
    if (e.kind === 'assigned') return t('ticket_event_assigned', { from: name(e.from), to: name(e.to) });
    const label = (v) => (v && e.kind === 'status' ? t(`ticket_status_${v}`) : v && e.kind === 'priority' ? t(`priority_${v}`) : v ?? '–');
    return t('ticket_event', { kind: e.kind, from: label(e.from), to: label(e.to) });
  }

  function eventsView() {
    const ev = tk.events || [];
    return h('section', { class: 'card', id: 'ticket-events', 'aria-labelledby': 'h-events' },
      h('h2', { id: 'h-events' }, t('ticket_history')),
      ev.length ? h('ol', { class: 'plain-list events-list' }, ev.map((e) => h('li', { dataset: { kind: e.kind } },
        h('time', { class: 'hint', datetime: e.created_at }, fmtDate(e.created_at)), ' ',
        eventText(e),
        e.detail ? h('span', { class: 'hint' }, ` ${e.detail}`) : null))) : h('p', { class: 'empty' }, t('no_rows')));
  }

  draw();
}

// The user app's route: #/tickets (the inbox) or #/tickets?id=<ticket> (one ticket).
export async function ticketsView(main, params) {
  const id = params?.get('id');
  if (id) await ticketView(main, id);
  else await inboxView(main);
}
