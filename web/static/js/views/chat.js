// Chat: conversations in a sidebar (open, rename, delete), answers streamed over SSE with a stop button, rendered as
// sanitised Markdown with numbered citations that open their excerpt, feedback buttons,
// slash-command hints, /flashcard and /mcq as interactive cards, and clear messages when a
// quota, a daily limit or a rate limit refuses the question.
import { t } from '../i18n.js';
import { h, clear, markdown, plain, confirmDialog, showDialog, showError, toast, fmtDate } from '../dom.js';
import { api, streamChat, currentUser } from '../api.js';

const COMMANDS = ['/flashcard', '/mcq', '/highyield', '/explain', '/map'];

export async function chatView(main) {
  let sessionId = null;
  let controller = null;
  let countdown = null;

  const list = h('ul', { class: 'sessions', id: 'sessions' });
  const side = h('aside', { class: 'side', 'aria-label': t('sessions') },
    h('div', { class: 'side-head' }, h('h2', {}, t('sessions')),
      h('button', { type: 'button', class: 'secondary', id: 'new-chat', onclick: () => openSession(null) }, t('new_chat'))),
    list);
  const log = h('div', { class: 'log', id: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-label': t('chat_log') });
  const notice = h('div', { class: 'notice', id: 'chat-notice', role: 'alert', hidden: true });
  const input = h('textarea', { id: 'chat-input', name: 'message', rows: 2, maxlength: 10000,
    placeholder: t('message_placeholder'), 'aria-describedby': 'slash-hint' });
  const hint = h('p', { class: 'hint', id: 'slash-hint' }, t('slash_hint'));
  const send = h('button', { type: 'submit', id: 'send' }, t('send'));
  const stop = h('button', { type: 'button', class: 'danger', id: 'stop', hidden: true }, t('stop'));
  const form = h('form', { class: 'composer', id: 'composer' },
    h('label', { for: 'chat-input', class: 'sr-only' }, t('message_label')), input,
    h('div', { class: 'row spread' }, hint, h('div', { class: 'row' }, stop, send)));
  main.append(h('div', { class: 'chat' }, side,
    h('section', { class: 'conversation', 'aria-label': t('chat_title') }, log, notice, form)));

  input.addEventListener('input', () => {
    const v = input.value;
    hint.classList.toggle('active', v.startsWith('/'));
    if (v.startsWith('/') && !v.includes(' ')) {
      const m = COMMANDS.filter((c) => c.startsWith(v));
      hint.textContent = m.length ? m.join('  ') : t('slash_hint');
    } else hint.textContent = t('slash_hint');
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  stop.addEventListener('click', () => controller?.abort());
  form.addEventListener('submit', (e) => { e.preventDefault(); ask(); });

  async function loadSessions() {
    try {
      const data = await api('GET', '/chat/sessions?limit=50');
      clear(list);
      if (!data.sessions.length) list.append(h('li', { class: 'empty' }, t('no_sessions')));
      for (const s of data.sessions) {
        const label = s.title || fmtDate(s.started_at);
        const li = h('li', { class: s.session_id === sessionId ? 'current' : '', dataset: { session: s.session_id } });
        li.append(
          h('button', { type: 'button', class: 'link session', 'aria-current': s.session_id === sessionId ? 'true' : null,
            onclick: () => openSession(s.session_id) }, label),
          h('button', { type: 'button', class: 'icon rename', 'aria-label': `${t('rename_session')}: ${label}`, title: t('rename_session'),
            onclick: () => renameForm(li, s, label) }, '✎'),
          h('button', { type: 'button', class: 'icon', 'aria-label': `${t('delete_session')}: ${label}`, title: t('delete_session'),
            onclick: async () => {
              if (!(await confirmDialog(t('confirm_delete_session'), t('delete')))) return;
              try {
                await api('DELETE', `/chat/sessions/${encodeURIComponent(s.session_id)}`);
                if (s.session_id === sessionId) openSession(null);
                else loadSessions();
              } catch (err) { toast(err.detail); }
            } }, '×'));
        list.append(li);
      }
    } catch (err) { toast(err.detail); }
  }

  // Replaces a session's row with a small form: Enter saves, Escape cancels.
  function renameForm(li, s, label) {
    const field = h('input', { name: 'title', maxlength: 200, value: s.title || label, 'aria-label': t('session_title'), required: true });
    const form = h('form', { class: 'rename-form' }, field,
      h('button', { type: 'submit', class: 'small' }, t('save')),
      h('button', { type: 'button', class: 'small secondary', onclick: () => loadSessions() }, t('cancel')));
    field.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); loadSessions(); } });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api('PATCH', `/chat/sessions/${encodeURIComponent(s.session_id)}`, { body: { title: field.value } });
        await loadSessions();
        list.querySelector(`li[data-session="${CSS.escape(s.session_id)}"] .rename`)?.focus();
      } catch (err) { showError(form, err); }
    });
    clear(li).append(form);
    field.focus();
    field.select();
  }

  async function openSession(id) {
    sessionId = id;
    clear(log);
    hideNotice();
    loadSessions();
    if (!id) { input.focus(); return; }
    try {
      const data = await api('GET', `/chat/history?session_id=${encodeURIComponent(id)}&limit=100`);
      for (const m of data.conversations.slice().reverse()) {
        if (m.actor === 'user') addUser(m.message);
        else finishAnswer(addAssistant(), { answer: m.message, message_id: m.message_id, feedback_score: m.feedback_score, sources: m.sources || [] });
      }
    } catch (err) { toast(err.detail); }
  }

  function addUser(text) {
    const el = h('article', { class: 'msg user' }, h('h3', { class: 'sr-only' }, t('you')), plain(text));
    log.append(el);
    log.scrollTop = log.scrollHeight;
  }

  function addAssistant() {
    const body = h('div', { class: 'body streaming' }, h('span', { class: 'pending' }, t('thinking')));
    const el = h('article', { class: 'msg assistant', 'aria-busy': 'true' }, h('h3', { class: 'sr-only' }, t('assistant')), body);
    log.append(el);
    return el;
  }

  function showNotice(...nodes) {
    clear(notice).append(...nodes);
    notice.hidden = false;
  }
  function hideNotice() {
    notice.hidden = true;
    clear(notice);
    if (countdown) { clearInterval(countdown); countdown = null; }
  }

  function refusal(err) {
    if (err.code === 'EMAIL_NOT_VERIFIED') {
      const resend = h('button', { type: 'button', class: 'secondary', id: 'resend-verification' }, t('verify_resend'));
      resend.addEventListener('click', async () => {
        resend.disabled = true;
        try { await api('POST', '/auth/resend-verification'); toast(t('verify_resent')); } catch (e) { toast(e.detail); resend.disabled = false; }
      });
      showNotice(h('p', {}, t('email_not_verified')), resend);
      return;
    }
    if (err.code === 'QUOTA_EXCEEDED') {
      showNotice(h('p', {}, t('quota_exceeded')), h('a', { href: '#/pricing', class: 'button', id: 'upgrade-link' }, t('upgrade_link')));
      return;
    }
    if (err.status === 429 && err.info?.action === 'upgrade') {
      showNotice(h('p', {}, t('daily_exceeded', { detail: err.detail })), h('a', { href: '#/pricing', class: 'button', id: 'upgrade-link' }, t('upgrade_link')));
      return;
    }
    if (err.status === 429 || err.status === 503) {
      let s = err.retryAfter || 5;
      const key = err.status === 429 ? 'rate_limited' : 'busy';
      const p = h('p', { id: 'countdown' }, t(key, { s }));
      showNotice(p);
      send.disabled = true;
      countdown = setInterval(() => {
        s -= 1;
        if (s <= 0) { hideNotice(); send.disabled = false; input.focus(); return; }
        p.textContent = t(key, { s });
      }, 1000);
      return;
    }
    showNotice(h('p', {}, err.detail));
  }

  async function ask() {
    const text = input.value.trim();
    if (!text || controller) return;
    hideNotice();
    addUser(text);
    input.value = '';
    const el = addAssistant();
    const body = el.querySelector('.body');
    let streamed = '';
    let final = null;
    controller = new AbortController();
    send.hidden = true;
    stop.hidden = false;
    stop.focus();
    try {
      const prefs = currentUser()?.preferences || {};
      const req = { message: text, session_id: sessionId || undefined };
      if (Number.isInteger(prefs.chat_top_k)) req.top_k = prefs.chat_top_k;
      if (prefs.chat_enable_rag === false) req.enable_rag = false;
      await streamChat(req, (ev) => {
        if (ev.type === 'token') {
          if (!streamed) clear(body);
          streamed += ev.content;
          body.textContent = streamed; // plain text while it streams; Markdown once complete
          log.scrollTop = log.scrollHeight;
        } else if (ev.type === 'done') final = ev;
        else if (ev.type === 'error') throw Object.assign(new Error(ev.detail), { detail: ev.detail, code: ev.code, status: 500 });
      }, controller.signal);
      if (final) {
        sessionId = final.session_id;
        finishAnswer(el, final);
        loadSessions();
      } else {
        finishAnswer(el, { answer: streamed });
      }
    } catch (err) {
      if (err.name === 'AbortError') {
        finishAnswer(el, { answer: streamed });
        el.append(h('p', { class: 'hint' }, t('stopped')));
      } else {
        el.remove();
        if (!streamed) { input.value = text; log.lastElementChild?.remove(); }
        refusal(err);
      }
    } finally {
      controller = null;
      stop.hidden = true;
      send.hidden = false;
      if (!send.disabled) input.focus();
    }
  }

  function citation(n, src) {
    return h('button', { type: 'button', class: 'cite', 'aria-label': t('source_n', { n }), title: src.title,
      onclick: () => openSource(n, src) }, `[${n}]`);
  }

  async function openSource(n, src) {
    const docLink = h('a', { href: `#/documents?open=${encodeURIComponent(src.document_id)}`, class: 'button secondary' }, t('open_document'));
    const dlg = showDialog(`${t('source_n', { n })}: ${src.title || ''}`,
      src.source_type && src.source_type !== 'unknown' ? h('p', { class: 'hint' }, src.source_type) : null,
      h('blockquote', { class: 'excerpt', id: 'source-excerpt' }, plain(src.excerpt)),
      docLink);
    dlg.id = 'source-dialog';
    docLink.addEventListener('click', () => dlg.close());
  }

  // Replaces [n] markers in text nodes with buttons for the sources that exist.
  function linkCitations(root, sources) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walker.nextNode()) if (/\[\d+\]/.test(walker.currentNode.nodeValue)) nodes.push(walker.currentNode);
    for (const node of nodes) {
      if (node.parentElement.closest('code, pre, a')) continue;
      const parts = node.nodeValue.split(/(\[\d+\])/);
      const frag = document.createDocumentFragment();
      for (const part of parts) {
        const m = /^\[(\d+)\]$/.exec(part);
        const src = m && sources[parseInt(m[1], 10) - 1];
        frag.append(src ? citation(parseInt(m[1], 10), src) : document.createTextNode(part));
      }
      node.replaceWith(frag);
    }
  }

  function cards(out) {
    if (Array.isArray(out?.flashcards) && out.flashcards.length) {
      return h('div', { class: 'cards' }, out.flashcards.map((c) => {
        const back = h('p', { class: 'back', hidden: true }, String(c.back ?? ''));
        const btn = h('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false' }, t('card_show'));
        btn.addEventListener('click', () => {
          back.hidden = !back.hidden;
          btn.setAttribute('aria-expanded', String(!back.hidden));
          btn.textContent = t(back.hidden ? 'card_show' : 'card_hide');
        });
        return h('div', { class: 'card flash' }, h('p', { class: 'front' }, String(c.front ?? '')), back, btn);
      }));
    }
    if (out?.question && out.options && typeof out.options === 'object') {
      const result = h('p', { class: 'result', role: 'status' });
      const opts = Object.entries(out.options).map(([k, v]) => h('button', { type: 'button', class: 'option',
        onclick: (e) => {
          for (const b of e.target.parentElement.querySelectorAll('button')) b.disabled = true;
          const ok = k === out.answer;
          e.target.classList.add(ok ? 'right' : 'wrong');
          result.textContent = ok ? t('mcq_correct') : t('mcq_wrong', { a: out.answer });
          if (out.explanation) result.append(h('span', { class: 'hint' }, ` ${out.explanation}`));
        } }, `${k}) ${v}`));
      return h('div', { class: 'card mcq' }, h('p', { class: 'front' }, String(out.question)), h('div', { class: 'options' }, opts), result);
    }
    return null;
  }

  function finishAnswer(el, r) {
    // Every passage the answer numbered: the top 3 (sources) and the rest (more_sources).
    const sources = [...(r.sources || []), ...(r.more_sources || [])];
    el.removeAttribute('aria-busy');
    const body = clear(el.querySelector('.body'));
    body.classList.remove('streaming');
    const interactive = cards(r.command_output);
    if (interactive) body.append(interactive);
    else {
      body.append(markdown(r.answer || ''));
      linkCitations(body, sources);
    }
    if (sources.length) {
      el.append(h('details', { class: 'sources' }, h('summary', {}, t('sources_n', { n: sources.length })),
        h('ol', {}, sources.map((s, i) => h('li', {}, citation(i + 1, s), ' ', s.title || s.source_type || '')))));
    }
    if (r.message_id) {
      const fb = h('div', { class: 'row feedback', role: 'group', 'aria-label': t('feedback') });
      const vote = async (score, btn) => {
        try {
          await api('POST', '/chat/feedback', { body: { message_id: r.message_id, score } });
          for (const b of fb.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b === btn));
          toast(t('feedback_thanks'));
        } catch (err) { toast(err.detail); }
      };
      const up = h('button', { type: 'button', class: 'icon vote-up', 'aria-pressed': 'false' }, t('helpful'));
      const down = h('button', { type: 'button', class: 'icon vote-down', 'aria-pressed': 'false' }, t('not_helpful'));
      up.addEventListener('click', () => vote(1, up));
      down.addEventListener('click', () => vote(-1, down));
      if (r.feedback_score > 0) up.setAttribute('aria-pressed', 'true');
      if (r.feedback_score < 0) down.setAttribute('aria-pressed', 'true');
      fb.append(up, down);
      const u = r.usage_info;
      if (u && u.messages_limit !== undefined && u.messages_limit !== null) {
        fb.append(h('span', { class: 'hint usage-line' }, t('usage_line', { used: u.messages_used, limit: u.messages_limit < 0 ? t('unlimited') : u.messages_limit })));
      }
      el.append(fb);
    }
  }

  await loadSessions();
  input.focus();
  return () => { controller?.abort(); if (countdown) clearInterval(countdown); };
}
