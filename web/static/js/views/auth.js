// Log in and register, with the server's validation messages next to the field they name.
import { t } from '../i18n.js';
import { h, showError } from '../dom.js';
import { login, register } from '../api.js';

export function authView(main, mode, opts = {}) {
  const isLogin = mode === 'login';
  const next = new URLSearchParams(location.hash.split('?')[1] || '').get('next');
  const form = h('form', { class: 'card auth', novalidate: true, 'aria-labelledby': 'auth-title' },
    h('h1', { id: 'auth-title' }, t(isLogin ? 'login_title' : 'register_title')),
    h('label', { for: 'f-email' }, t('email')),
    h('input', { id: 'f-email', name: 'email', type: 'email', autocomplete: 'username', required: true }),
    h('label', { for: 'f-password' }, t('password')),
    h('input', { id: 'f-password', name: 'password', type: 'password', required: true,
      autocomplete: isLogin ? 'current-password' : 'new-password',
      'aria-describedby': isLogin ? null : 'pw-hint' }),
    isLogin ? null : h('p', { class: 'hint', id: 'pw-hint' }, t('password_hint')),
    isLogin ? null : [h('label', { for: 'f-username' }, t('username_optional')),
      h('input', { id: 'f-username', name: 'username', type: 'text', autocomplete: 'nickname' })],
    h('button', { type: 'submit', id: 'auth-submit' }, t(isLogin ? 'login_button' : 'register_button')),
    opts.noSwitch ? null : h('p', {}, h('a', { href: isLogin ? '#/register' : '#/login' }, t(isLogin ? 'to_register' : 'to_login'))),
    h('p', { class: 'hint' }, t('session_memory_note')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const btn = form.querySelector('button[type=submit]');
    btn.disabled = true;
    const f = new FormData(form);
    try {
      if (isLogin) await login(f.get('email'), f.get('password'));
      else await register(f.get('email'), f.get('password'), f.get('username'));
      if (opts.onDone) opts.onDone();
      else location.hash = `#/${next || 'chat'}`;
    } catch (err) {
      showError(form, err);
    } finally {
      btn.disabled = false;
    }
  });
  main.append(form);
  form.querySelector('#f-email').focus();
}
