// /verify?token=...: the link of the verification mail. The token is sent once to
// POST /auth/verify-email and removed from the address bar (and so from history) first.
import { t } from '../i18n.js';
import { h, toast } from '../dom.js';
import { api, loggedIn, reloadUser } from '../api.js';

export async function verifyView(main) {
  const token = new URLSearchParams(location.search).get('token') || '';
  history.replaceState(null, '', '/verify');
  const status = h('p', { id: 'verify-status', role: 'status' }, t('verify_working'));
  const actions = h('div', { class: 'row' });
  main.append(h('section', { class: 'card auth', id: 'verify', 'aria-labelledby': 'verify-title' },
    h('h1', { id: 'verify-title' }, t('verify_title')), status, actions));
  if (!token) {
    status.textContent = t('verify_missing');
    status.className = 'form-error';
  } else {
    try {
      await api('POST', '/auth/verify-email', { body: { token }, auth: false });
      status.textContent = t('verify_done');
      status.className = 'ok';
      actions.append(h('a', { class: 'button', href: '/#/chat', id: 'verify-continue' }, t('verify_continue')));
      if (loggedIn()) await reloadUser().catch(() => null);
      return;
    } catch (err) {
      status.textContent = err.detail;
      status.className = 'form-error';
    }
  }
  if (loggedIn()) {
    const resend = h('button', { type: 'button', id: 'verify-resend' }, t('verify_resend'));
    resend.addEventListener('click', async () => {
      resend.disabled = true;
      try {
        await api('POST', '/auth/resend-verification');
        toast(t('verify_resent'));
      } catch (err) {
        toast(err.detail);
        resend.disabled = false;
      }
    });
    actions.append(resend);
  } else {
    actions.append(h('p', { class: 'hint' }, t('verify_login_hint')),
      h('a', { class: 'button secondary', href: '/#/login' }, t('login_button')));
  }
}
