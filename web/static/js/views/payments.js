// Paid plans in the user app, when the server takes payments (GET /billing/plans says
// payments_enabled and with which providers): starting a checkout and sending the browser to
// the provider's page, the banner on the way back (PAYMENTS_RETURN_URL?checkout=success |
// cancelled), and the billing page's payments section (history, the Stripe customer portal,
// cancelling at the end of the paid period). Nothing here changes a plan: the provider's
// signed webhook does, and the pages show the plan the server reports.
import { t } from '../i18n.js';
import { h, clear, confirmDialog, fmtDate, fmtMoney, showDialog, showError } from '../dom.js';
import { api, loggedIn, reloadUser } from '../api.js';

const PENDING = 'ragd.checkout'; // sessionStorage: the plan a checkout was started for

// GET /billing/plans with its payment fields (absent on older servers: payments off).
export async function billingInfo() {
  const r = await api('GET', '/billing/plans', { auth: false });
  return { plans: r.plans || [], enabled: r.payments_enabled === true,
    providers: Array.isArray(r.payment_providers) ? r.payment_providers : [] };
}

// Asks which provider when the server offers more than one; resolves to its name or null.
function chooseProvider(providers, planName) {
  if (providers.length === 1) return Promise.resolve(providers[0]);
  return new Promise((resolve) => {
    let chosen = null;
    const dlg = showDialog(t('choose_provider', { plan: planName }),
      h('div', { class: 'row wrap', id: 'provider-choice' }, providers.map((p) => h('button', {
        type: 'button', id: `pay-${p}`, dataset: { provider: p },
        onclick: () => { chosen = p; dlg.close(); },
      }, t('pay_with', { provider: t(`provider_${p}`) })))));
    dlg.addEventListener('close', () => resolve(chosen));
    dlg.querySelector('button[data-provider]').focus();
  });
}

// Starts a checkout of plan (a /billing/plans entry) and cycle and sends the browser to the
// provider. Errors are shown next to `near` (a form or a section). Resolves false when the
// user gave up or the server refused.
export async function startCheckout(plan, cycle, info, near) {
  if (!info.providers.length) {
    showError(near, { detail: t('payments_unavailable') });
    return false;
  }
  const provider = await chooseProvider(info.providers, plan.name);
  if (!provider) return false;
  let co;
  try {
    co = await api('POST', '/billing/checkout', { body: { plan_type: plan.plan_type, billing_cycle: cycle, provider } });
  } catch (err) {
    showError(near, err);
    return false;
  }
  try {
    sessionStorage.setItem(PENDING, JSON.stringify({ plan_type: co.plan_type, at: Date.now() }));
  } catch { /* storage off: the banner then does without the plan's name */ }
  near.append(h('p', { class: 'hint', role: 'status', id: 'checkout-starting' }, t('checkout_starting')));
  location.assign(co.url);
  return true;
}

// ---- the way back from the provider ----

// On page load: the checkout outcome the return URL carries (?checkout=... in the query or
// in the #/ route), removed from the address so a reload does not show it again. Returns
// 'success', 'cancelled' or null.
export function takeCheckoutReturn() {
  const q = new URLSearchParams(location.search);
  const [route, hq] = location.hash.replace(/^#\/?/, '').split('?');
  const hp = new URLSearchParams(hq || '');
  const outcome = q.get('checkout') || hp.get('checkout');
  if (outcome !== 'success' && outcome !== 'cancelled') return null;
  hp.delete('checkout');
  const rest = hp.toString();
  history.replaceState(null, '', `/#/${route || 'usage'}${rest ? `?${rest}` : ''}`);
  return outcome;
}

function pendingPlan() {
  try {
    const p = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
    return p && Date.now() - p.at < 86400000 ? p.plan_type : null;
  } catch { return null; }
}

let polling = null;

// Shows the banner for outcome above the page; after a success, asks the server for the
// plan every few seconds (for up to two minutes) until it is the one paid for, then calls
// onPlan (the app redraws the page) and says so.
export function showCheckoutBanner(outcome, onPlan) {
  document.getElementById('checkout-banner')?.remove();
  clearInterval(polling);
  const text = h('p', { id: 'checkout-message' },
    outcome === 'success' ? t('checkout_success') : t('checkout_cancelled'));
  const banner = h('div', { id: 'checkout-banner', class: `checkout-banner ${outcome}`, role: 'status',
    dataset: { outcome } }, text,
  h('button', { type: 'button', class: 'secondary small', id: 'checkout-dismiss',
    onclick: () => { clearInterval(polling); banner.remove(); } }, t('dismiss')));
  (document.getElementById('maint-banner') || document.getElementById('top')).after(banner);
  if (outcome !== 'success') {
    try { sessionStorage.removeItem(PENDING); } catch { /* storage off */ }
    return;
  }
  const want = pendingPlan();
  const started = Date.now();
  const check = async () => {
    if (!loggedIn()) return; // the session is resumed (or the user logs in) first
    let sub;
    try { sub = await api('GET', '/billing/subscription'); } catch { return; }
    const done = want ? sub.plan_type === want : sub.plan_type !== 'free';
    if (done) {
      clearInterval(polling);
      try { sessionStorage.removeItem(PENDING); } catch { /* storage off */ }
      banner.dataset.plan = sub.plan_type;
      text.textContent = t('checkout_success_done', { plan: sub.plan_name || sub.plan_type });
      await reloadUser().catch(() => null);
      onPlan?.(sub);
    } else if (Date.now() - started > 120000) {
      clearInterval(polling);
      text.textContent = t('checkout_success_wait');
    }
  };
  polling = setInterval(check, 3000);
  check();
}

// ---- the billing page's payments section ----

const statusText = (s) => t(`pay_status_${s}`) === `pay_status_${s}` ? s : t(`pay_status_${s}`);

function historyTable(items) {
  if (!items.length) return h('p', { class: 'hint', id: 'payments-empty' }, t('payments_none'));
  return h('div', { class: 'table-wrap' }, h('table', { id: 'payments-table' },
    h('thead', {}, h('tr', {}, [t('when'), t('pay_plan'), t('pay_provider'), t('pay_status'), t('pay_amount')]
      .map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', { id: 'payment-rows' }, items.map((p) => h('tr', { dataset: { id: p.id, status: p.status } },
      h('td', {}, fmtDate(p.created_at)),
      h('td', {}, `${p.plan_type} · ${t(p.billing_cycle)}`),
      h('td', {}, t(`provider_${p.provider}`)),
      h('td', {}, h('span', { class: `tag ${p.status === 'paid' ? 'ok' : 'warn'}` }, statusText(p.status)),
        p.refunded_at ? h('span', { class: 'hint' }, ` ${t('refunded_at', { when: fmtDate(p.refunded_at) })}`) : null),
      h('td', { class: 'num' }, fmtMoney(p.amount_cents, p.currency || 'USD')))))));
}

// Fills section with the caller's payments and the subscription's actions. sub: GET
// /billing/subscription; plans: billingInfo(). Redraws itself after a cancellation.
export async function paymentsSection(section, sub, info) {
  let pays;
  try { pays = await api('GET', '/billing/payments?limit=50'); } catch (err) {
    clear(section).append(h('h2', { id: 'h-payments' }, t('payments_title')), h('p', { class: 'form-error' }, err.detail));
    return;
  }
  const actions = h('div', { class: 'row wrap', id: 'payment-actions' });
  const paid = (info.plans.find((p) => p.plan_type === sub.plan_type)?.pricing?.[sub.billing_cycle] ?? 0) > 0;
  if (info.providers.includes('stripe')) {
    const portal = h('button', { type: 'button', class: 'secondary', id: 'manage-payment' }, t('manage_payment_method'));
    portal.addEventListener('click', async () => {
      portal.disabled = true;
      // Coming back with the browser's Back button may restore this page as it was left.
      window.addEventListener('pageshow', () => { portal.disabled = false; }, { once: true });
      try {
        location.assign((await api('GET', '/billing/portal')).url);
      } catch (err) {
        showError(section, err.code === 'NO_STRIPE_CUSTOMER' ? { detail: t('no_stripe_customer') } : err);
        portal.disabled = false;
      }
    });
    actions.append(portal);
  }
  if (paid) {
    const cancel = h('button', { type: 'button', class: 'danger', id: 'cancel-subscription' }, t('cancel_subscription'));
    cancel.addEventListener('click', async () => {
      const plan = sub.plan_name || sub.plan_type;
      if (!(await confirmDialog(t('confirm_cancel_subscription', { plan, when: fmtDate(sub.current_period_end) }),
        t('cancel_subscription_ok'), t('keep_subscription')))) return;
      cancel.disabled = true;
      try {
        const r = await api('POST', '/billing/cancel');
        section.querySelector('#cancel-result')?.remove();
        actions.after(h('p', { class: 'notice', id: 'cancel-result', role: 'status', dataset: { effective: r.effective_at } },
          t('subscription_cancelled', { when: fmtDate(r.effective_at) })));
        cancel.remove();
      } catch (err) {
        showError(section, err);
        cancel.disabled = false;
      }
    });
    actions.append(cancel);
  }
  clear(section).append(h('h2', { id: 'h-payments' }, t('payments_title')), historyTable(pays.items || []),
    actions.childElementCount ? actions : '');
}
