// The user app: a hash router (#/chat, #/documents ...) over views that each render into <main>.
import { t } from './i18n.js';
import { h, clear } from './dom.js';
import { currentUser, loggedIn, logout, onSession, restoreSession } from './api.js';
import { authView } from './views/auth.js';
import { chatView } from './views/chat.js';
import { documentsView } from './views/documents.js';
import { usageView } from './views/usage.js';
import { keysView } from './views/keys.js';
import { pricingView } from './views/pricing.js';
import { profileView } from './views/profile.js';
import { verifyView } from './views/verify.js';

const routes = {
  login: { view: (m) => authView(m, 'login'), public: true },
  register: { view: (m) => authView(m, 'register'), public: true },
  pricing: { view: pricingView, public: true, nav: 'nav_pricing' },
  chat: { view: chatView, nav: 'nav_chat' },
  documents: { view: documentsView, nav: 'nav_documents' },
  usage: { view: usageView, nav: 'nav_usage' },
  keys: { view: keysView, nav: 'nav_keys' },
  profile: { view: profileView, nav: 'nav_profile' },
};

let cleanup = null;

function parseHash() {
  const [name, query] = location.hash.replace(/^#\/?/, '').split('?');
  return { name: name || 'chat', params: new URLSearchParams(query || '') };
}

function renderHeader(active) {
  const top = clear(document.getElementById('top'));
  const user = currentUser();
  const links = Object.entries(routes).filter(([, r]) => r.nav && (user || r.public));
  top.append(
    h('a', { class: 'brand', href: '#/chat' }, t('app_name')),
    h('nav', { 'aria-label': t('nav_main') },
      h('ul', {}, links.map(([name, r]) => h('li', {},
        h('a', { href: `#/${name}`, 'aria-current': name === active ? 'page' : null }, t(r.nav)))),
      user?.is_superuser ? h('li', {}, h('a', { href: '/admin' }, t('nav_admin'))) : null)),
    user
      ? h('div', { class: 'who' }, h('span', { class: 'email', title: t('signed_in_as', { email: user.email }) }, user.email),
        h('button', { type: 'button', class: 'secondary', id: 'logout', onclick: async () => { await logout(); location.hash = '#/login'; } }, t('nav_logout')))
      : null);
}

async function render() {
  // The verification mail links to /verify?token=...; the app's own links are #/ routes.
  if (location.pathname === '/verify') {
    if (!location.hash || location.hash === '#') {
      if (cleanup) { try { cleanup(); } catch { /* view already gone */ } cleanup = null; }
      renderHeader('verify');
      document.body.dataset.view = 'verify';
      document.title = `${t('verify_title')} · ${t('app_name')}`;
      await verifyView(clear(document.getElementById('main')));
      return;
    }
    history.replaceState(null, '', `/${location.hash}`);
  }
  const { name, params } = parseHash();
  let route = routes[name] || routes.chat;
  let routeName = routes[name] ? name : 'chat';
  if (!route.public && !loggedIn()) {
    route = routes.login;
    routeName = 'login';
    if (location.hash !== '#/login' && location.hash !== '#/register') {
      history.replaceState(null, '', `#/login?next=${encodeURIComponent(name)}`);
    }
  }
  if (cleanup) { try { cleanup(); } catch { /* view already gone */ } cleanup = null; }
  renderHeader(routeName);
  const main = clear(document.getElementById('main'));
  document.body.dataset.view = routeName;
  cleanup = (await route.view(main, params)) || null;
  document.title = `${t(route.nav || (routeName === 'register' ? 'register_title' : 'login_title'))} · ${t('app_name')}`;
}

let restored = false;
onSession((user) => {
  if (!restored) return; // the first render follows restoreSession

  const { name } = parseHash();
  // A session that ended (logged out, or the refresh token was refused) leaves private pages.
  if (!user && !(routes[name] || routes.chat).public) render();
  else renderHeader(name);
});
document.querySelector('.skip').textContent = t('skip_to_content');
window.addEventListener('hashchange', render);
// A reload resumes the session from its cookie before the first page is chosen.
restoreSession().finally(() => { restored = true; render(); });
