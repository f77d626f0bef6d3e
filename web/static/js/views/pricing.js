// Pricing: the plans from /billing/plans, each with its limits, features and prices.
import { t } from '../i18n.js';
import { h, fmtMoney } from '../dom.js';
import { api, loggedIn } from '../api.js';

export async function pricingView(main) {
  main.append(h('h1', {}, t('pricing_title')));
  let plans;
  try {
    plans = (await api('GET', '/billing/plans', { auth: false })).plans;
  } catch (err) { main.append(h('p', { class: 'form-error' }, err.detail)); return; }
  main.append(h('div', { class: 'plans' }, plans.map((p) => h('section', { class: 'card plan', 'aria-labelledby': `plan-${p.plan_type}` },
    h('h2', { id: `plan-${p.plan_type}` }, p.name),
    h('p', { class: 'price' }, t('per_month', { price: fmtMoney(p.pricing?.monthly ?? 0, p.currency || 'USD') })),
    h('p', { class: 'hint' }, t('per_year', { price: fmtMoney(p.pricing?.yearly ?? 0, p.currency || 'USD') })),
    h('ul', {}, Object.entries(p.limits || {}).map(([k, v]) => h('li', {}, `${t(`res_${k}`)}: ${v < 0 ? t('unlimited') : v}`))),
    h('h3', {}, t('features')),
    h('ul', { class: 'features' }, (p.features || []).map((f) => h('li', {}, f.replace(/_/g, ' ')))),
    h('a', { class: 'button', href: loggedIn() ? `#/usage?plan=${encodeURIComponent(p.plan_type)}` : '#/register' },
      t('choose_plan', { plan: p.name }))))));
}
