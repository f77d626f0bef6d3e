// The user app: a hash router (#/chat, #/documents ...) over views that each render into <main>.
import { t } from './i18n.js';
import { h, clear } from './dom.js';
import { api, currentUser, loggedIn, logout, onMaintenance, onSession, restoreSession } from './api.js';
import { authView } from './views/auth.js';
import { chatView } from './views/chat.js';
import { documentsView } from './views/documents.js';
import { usageView } from './views/usage.js';
import { keysView } from './views/keys.js';
import { pricingView } from './views/pricing.js';
import { profileView } from './views/profile.js';
import { verifyView } from './views/verify.js';
import { orgView } from './views/org.js';
import { ticketsView } from './views/tickets.js';
import { analyticsView } from './views/analytics.js';
import { showCheckoutBanner, takeCheckoutReturn } from './views/payments.js';

const routes = {
  login: { view: (m) => authView(m, 'login'), public: true },
  register: { view: (m) => authView(m, 'register'), public: true },
  pricing: { view: pricingView, public: true, nav: 'nav_pricing' },
  chat: { view: chatView, nav: 'nav_chat' },
  documents: { view: documentsView, nav: 'nav_documents' },
  usage: { view: usageView, nav: 'nav_usage' },
  keys: { view: keysView, nav: 'nav_keys' },
  profile: { view: profileView, nav: 'nav_profile' },
  org: { view: orgView, nav: 'nav_org' },
  // The support desk, linked for the organization roles that may use it (the server decides).
  tickets: { view: ticketsView, nav: 'nav_tickets', orgRoles: ['owner', 'admin', 'agent'] },
  analytics: { view: analyticsView, nav: 'nav_analytics', orgRoles: ['owner', 'admin'] },
};

// The signed-in user's role in their organization (GET /organizations/{id}), for the links
// above; read again when the user or their organization changes.
let orgRole = { key: null, role: null };
async function refreshOrgRole() {
  const user = currentUser();
  const key = user?.organization_id ? `${user.id}:${user.organization_id}` : null;
  if (key === orgRole.key) return;
  let role = null;
  if (key) {
    try { role = (await api('GET', `/organizations/${encodeURIComponent(user.organization_id)}`)).your_role || null; } catch { role = null; }
  }
  orgRole = { key, role };
}

let cleanup = null;

// ---- maintenance: a banner (soft, and for administrators in hard) or a lock screen (hard) ----

let maint = { level: 'none' };
let lockTimer = null;
const isLocked = () => maint.level === 'hard' && !currentUser()?.is_superuser;

function etaText(iso) {
  const d = iso ? new Date(iso) : null;
  return d && !isNaN(d) ? d.toLocaleString() : null;
}

function drawBanner() {
  let banner = document.getElementById('maint-banner');
  const show = maint.level === 'soft' || (maint.level === 'hard' && !isLocked());
  if (!show) { banner?.remove(); return; }
  if (!banner) {
    banner = h('div', { id: 'maint-banner', class: 'maint-banner', role: 'status' });
    document.getElementById('top').after(banner);
  }
  const eta = etaText(maint.estimated_restoration);
  clear(banner).append(h('p', {}, maint.message ? t('maint_banner', { message: maint.message }) : t('maint_banner_default'),
    eta ? ` ${t('maint_banner_eta', { when: eta })}` : ''));
}

function drawLock() {
  if (cleanup) { try { cleanup(); } catch { /* view already gone */ } cleanup = null; }
  clearInterval(lockTimer);
  document.body.dataset.view = 'maintenance';
  renderHeader('maintenance');
  const main = clear(document.getElementById('main'));
  const eta = etaText(maint.estimated_restoration);
  let s = Math.min(300, Math.max(10, maint.retry_after_seconds || 60));
  const retry = h('p', { class: 'hint', id: 'maint-retry' }, t('maint_lock_retry', { s }));
  main.append(h('section', { class: 'card maint-lock', id: 'maintenance-lock', role: 'alert', 'aria-labelledby': 'maint-title' },
    h('h1', { id: 'maint-title' }, t('maint_lock_title')),
    h('p', { id: 'maint-message' }, maint.message || t('maint_lock_default')),
    eta ? h('p', { id: 'maint-eta' }, t('maint_lock_eta', { when: eta })) : null,
    retry,
    h('button', { type: 'button', id: 'maint-try-again', onclick: () => checkMaintenance() }, t('maint_try_again'))));
  lockTimer = setInterval(() => {
    s -= 1;
    if (s <= 0) { clearInterval(lockTimer); checkMaintenance(); return; }
    retry.textContent = t('maint_lock_retry', { s });
  }, 1000);
  document.title = `${t('maint_lock_title')} · ${t('app_name')}`;
}

function setMaintenance(m) {
  const wasLocked = isLocked();
  maint = { level: 'none', ...m };
  if (!['none', 'soft', 'hard'].includes(maint.level)) maint.level = 'none';
  drawBanner();
  if (isLocked()) drawLock();
  else if (wasLocked) { clearInterval(lockTimer); restoreSession().finally(render); }
}

// Every answer of a server in maintenance carries X-Maintenance: /health (always open) says
// whether there is one, and GET /maintenance (public) then gives its message and estimate.
// One check at a time; an unreachable server keeps the page as it is.
let checking = null;
function checkMaintenance() {
  checking ??= (async () => {
    const res = await fetch('/health', { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (!res.headers.get('X-Maintenance')) setMaintenance({ level: 'none' });
    else setMaintenance(await api('GET', '/maintenance', { auth: false }));
  })().catch(() => { /* unreachable */ }).finally(() => { checking = null; });
  return checking;
}

onMaintenance((m) => {
  if (m.from_header) { if (m.level !== maint.level && !checking) checkMaintenance(); } else setMaintenance(m);
});

function parseHash() {
  const [name, query] = location.hash.replace(/^#\/?/, '').split('?');
  return { name: name || 'chat', params: new URLSearchParams(query || '') };
}

function renderHeader(active) {
  const top = clear(document.getElementById('top'));
  const user = currentUser();
  const links = Object.entries(routes).filter(([, r]) => r.nav && (user || r.public)
    && (!r.orgRoles || (user && r.orgRoles.includes(orgRole.role))));
  top.append(
    h('a', { class: 'brand', href: '#/chat' }, t('app_name')),
    h('nav', { 'aria-label': t('nav_main') },
      h('ul', {}, links.map(([name, r]) => h('li', {},
        h('a', { href: `#/${name}`, 'aria-current': name === active ? 'page' : null }, t(r.nav)))),
      // The console: administrators, and with roles every role but user.
      user?.is_superuser || (user?.role && user.role !== 'user') ? h('li', {}, h('a', { href: '/admin' }, t('nav_admin'))) : null)),
    user
      ? h('div', { class: 'who' }, h('span', { class: 'email', title: t('signed_in_as', { email: user.email }) }, user.email),
        h('button', { type: 'button', class: 'secondary', id: 'logout', onclick: async () => { await logout(); location.hash = '#/login'; } }, t('nav_logout')))
      : '');
}

async function render() {
  if (isLocked()) { drawLock(); return; }
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
  await refreshOrgRole();
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
  else refreshOrgRole().finally(() => renderHeader(name));
});
document.querySelector('.skip').textContent = t('skip_to_content');
// Back from a payment provider's checkout (PAYMENTS_RETURN_URL?checkout=...): the billing page
// with a banner that follows the plan until the provider's confirmation changes it.
const checkoutOutcome = takeCheckoutReturn();
window.addEventListener('hashchange', render);
// A reload resumes the session from its cookie before the first page is chosen.
restoreSession().finally(async () => {
  restored = true;
  await checkMaintenance();
  if (!isLocked()) await render();
  if (checkoutOutcome) {
    showCheckoutBanner(checkoutOutcome, () => {
      if (['usage', 'pricing'].includes(parseHash().name) && loggedIn() && !isLocked()) render();
    });
  }
  setInterval(checkMaintenance, 60000);
});
