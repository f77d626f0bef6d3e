// Pricing: the plans from /billing/plans, each with its limits, features and prices. When the
// server takes payments, a signed-in user upgrades through the provider's checkout (the
// plan changes once the provider confirms the payment); otherwise the plan change of the
// usage page is the way, as it is for moving to a cheaper plan.
import { t } from '../i18n.js';
import { h, fmtMoney } from '../dom.js';
import { api, loggedIn } from '../api.js';
import { billingInfo, startCheckout } from './payments.js';

export async function pricingView(main) {
  main.append(h('h1', {}, t('pricing_title')));
  let info, sub = null;
  try {
    info = await billingInfo();
    if (loggedIn()) sub = await api('GET', '/billing/subscription').catch(() => null);
  } catch (err) { main.append(h('p', { class: 'form-error' }, err.detail)); return; }
  const plans = info.plans;
  const paying = info.enabled && loggedIn();
  const cycleSel = h('select', { id: 'pricing-cycle', name: 'billing_cycle' },
    ['monthly', 'yearly'].map((c) => h('option', { value: c, selected: c === (sub?.billing_cycle || 'monthly') }, t(c))));
  if (paying) {
    main.append(h('div', { class: 'row wrap', id: 'pricing-options' },
      h('label', { for: 'pricing-cycle' }, t('cycle_label')), cycleSel,
      info.providers.length ? null : h('p', { class: 'notice', id: 'payments-unavailable' }, t('payments_unavailable'))));
  }
  const price = (p, cycle) => p.pricing?.[cycle] ?? 0;
  const rank = (type) => plans.findIndex((p) => p.plan_type === type);

  function action(p, card) {
    if (!loggedIn()) return h('a', { class: 'button', href: '#/register' }, t('choose_plan', { plan: p.name }));
    if (sub && p.plan_type === sub.plan_type) {
      return h('p', { class: 'tag current-plan', id: `current-${p.plan_type}` }, t('your_plan_badge'));
    }
    const upgrade = paying && price(p, 'monthly') > 0 && (!sub || rank(p.plan_type) > rank(sub.plan_type));
    if (!upgrade) {
      return h('a', { class: 'button', href: `#/usage?plan=${encodeURIComponent(p.plan_type)}` },
        sub && rank(p.plan_type) < rank(sub.plan_type) ? t('downgrade_to', { plan: p.name }) : t('choose_plan', { plan: p.name }));
    }
    const btn = h('button', { type: 'button', class: 'checkout', id: `upgrade-${p.plan_type}`, dataset: { plan: p.plan_type },
      disabled: !info.providers.length }, t('upgrade_to', { plan: p.name }));
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      if (!(await startCheckout(p, cycleSel.value, info, card))) btn.disabled = false;
    });
    return btn;
  }

  main.append(h('div', { class: 'plans' }, plans.map((p) => {
    const card = h('section', { class: 'card plan', 'aria-labelledby': `plan-${p.plan_type}`, dataset: { plan: p.plan_type } },
      h('h2', { id: `plan-${p.plan_type}` }, p.name),
      h('p', { class: 'price' }, t('per_month', { price: fmtMoney(price(p, 'monthly'), p.currency || 'USD') })),
      h('p', { class: 'hint' }, t('per_year', { price: fmtMoney(price(p, 'yearly'), p.currency || 'USD') })),
      h('ul', {}, Object.entries(p.limits || {}).map(([k, v]) => h('li', {}, `${t(`res_${k}`)}: ${v < 0 ? t('unlimited') : v}`))),
      h('h3', {}, t('features')),
      h('ul', { class: 'features' }, (p.features || []).map((f) => h('li', {}, f.replace(/_/g, ' ')))));
    card.append(action(p, card));
    return card;
  })));
}
