// Personal API keys: create (the key is shown once, with a copy button), list, revoke.
import { t } from '../i18n.js';
import { h, clear, confirmDialog, showError, toast, fmtDate } from '../dom.js';
import { api } from '../api.js';

export async function keysView(main) {
  const created = h('div', { id: 'key-created', 'aria-live': 'polite' });
  const tbody = h('tbody', { id: 'key-rows' });
  const form = h('form', { class: 'row wrap', id: 'key-form' },
    h('label', { for: 'key-name' }, t('key_name')),
    h('input', { id: 'key-name', name: 'name', maxlength: 100, required: true }),
    h('button', { type: 'submit' }, t('create_key')));
  main.append(h('h1', {}, t('keys_title')), form, created,
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {},
      [t('key_name'), t('key_prefix'), t('doc_added'), t('key_last_used'), ''].map((x) => h('th', { scope: 'col' }, x)))), tbody)));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const k = await api('POST', '/users/me/api-keys', { body: { name: form.elements.name.value } });
      const code = h('code', { id: 'new-key' }, k.key);
      clear(created).append(h('div', { class: 'card notice' }, h('p', {}, t('key_created')), code,
        h('button', { type: 'button', class: 'secondary', onclick: async () => {
          try { await navigator.clipboard.writeText(k.key); toast(t('copied')); } catch { getSelection().selectAllChildren(code); }
        } }, t('copy'))));
      form.reset();
      load();
    } catch (err) { showError(form, err); }
  });

  async function load() {
    let data;
    try { data = await api('GET', '/users/me/api-keys'); } catch (err) { toast(err.detail); return; }
    clear(tbody);
    if (!data.api_keys.length) tbody.append(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, t('no_keys'))));
    for (const k of data.api_keys) {
      tbody.append(h('tr', {}, h('td', {}, k.name), h('td', {}, h('code', {}, `${k.prefix}…`)),
        h('td', {}, fmtDate(k.created_at)), h('td', {}, k.last_used_at ? fmtDate(k.last_used_at) : t('never')),
        h('td', {}, h('button', { type: 'button', class: 'danger small', onclick: async () => {
          if (!(await confirmDialog(t('confirm_revoke', { name: k.name }), t('revoke')))) return;
          try { await api('DELETE', `/users/me/api-keys/${encodeURIComponent(k.id)}`); clear(created); load(); } catch (err) { toast(err.detail); }
        } }, t('revoke')))));
    }
  }
  await load();
}
