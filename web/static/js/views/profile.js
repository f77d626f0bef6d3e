// Profile: the username, the chat preferences kept in the account, and logging out of every
// session (every refresh token of the account is revoked).
import { t } from '../i18n.js';
import { h, showError, toast } from '../dom.js';
import { api, currentUser, logout, reloadUser } from '../api.js';

export async function profileView(main) {
  const u = await reloadUser();
  const prefs = u.preferences || {};
  const form = h('form', { class: 'card', id: 'profile-form', 'aria-labelledby': 'h-profile' },
    h('h2', { id: 'h-profile' }, t('profile_title')),
    h('p', { class: 'hint' }, currentUser().email),
    h('label', { for: 'p-username' }, t('username')),
    h('input', { id: 'p-username', name: 'username', maxlength: 100, value: u.username || '' }),
    h('label', { for: 'p-topk' }, t('pref_top_k')),
    h('input', { id: 'p-topk', name: 'top_k', type: 'number', min: 1, max: 20, value: prefs.chat_top_k || 5 }),
    h('label', { class: 'row' }, h('input', { type: 'checkbox', id: 'p-rag', name: 'enable_rag', checked: prefs.chat_enable_rag !== false }), t('pref_rag')),
    h('div', {}, h('button', { type: 'submit' }, t('save'))));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { preferences: { ...prefs, chat_top_k: Number(form.elements.top_k.value) || 5, chat_enable_rag: form.elements.enable_rag.checked } };
    const name = form.elements.username.value.trim();
    if (name && name !== u.username) body.username = name;
    try {
      await api('PATCH', '/users/me', { body });
      await reloadUser();
      toast(t('saved'));
    } catch (err) { showError(form, err); }
  });
  const everywhere = h('section', { class: 'card', 'aria-labelledby': 'h-sessions' },
    h('h2', { id: 'h-sessions' }, t('sessions_title')), h('p', { class: 'hint' }, t('logout_all_hint')),
    h('button', { type: 'button', class: 'danger', id: 'logout-all', onclick: async () => {
      await logout(true);
      location.hash = '#/login';
    } }, t('logout_all')));
  main.append(h('h1', {}, t('nav_profile')), form, everywhere);
}
