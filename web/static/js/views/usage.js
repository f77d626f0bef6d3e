// Usage and billing: bars of usage against the plan's limits for the month and the day, the
// billing history, and a plan change that shows the proration before it is confirmed. When
// the server takes payments, an upgrade goes through the provider's checkout and the
// payments section (views/payments.js) lists the payments and manages the subscription.
import { t } from '../i18n.js';
import { h, clear, bar, applyBars, fmtDate, fmtMoney, showError, toast } from '../dom.js';
import { api, reloadUser } from '../api.js';
import { billingInfo, paymentsSection, startCheckout } from './payments.js';

const MONTHLY = ['messages', 'api_calls', 'background_tasks', 'storage_mb'];

// The server's proration rule applied to the figures the page has: the unused share of the
// current period is credited and the new price is charged for the same share (a new cycle
// starts a new period now). The server's own figures are shown once the change is made.
export function estimateProration(sub, newPlan, newCycle, now = Date.now()) {
  const start = Date.parse(sub.current_period_start);
  const end = Date.parse(sub.current_period_end);
  const left = Math.max(0, end - now), len = Math.max(1, end - start);
  const credit = Math.round((sub.amount_cents || 0) * left / len);
  const price = newPlan.pricing?.[newCycle] ?? 0;
  const charge = newCycle === sub.billing_cycle ? Math.round(price * left / len) : price;
  return { credit, charge, net: charge - credit };
}

export async function usageView(main, params) {
  const month = h('section', { class: 'card', id: 'usage-month', 'aria-labelledby': 'h-month' });
  const day = h('section', { class: 'card', id: 'usage-day', 'aria-labelledby': 'h-day' });
  const change = h('section', { class: 'card', id: 'plan-change', 'aria-labelledby': 'h-plan' });
  const history = h('section', { class: 'card', id: 'history', 'aria-labelledby': 'h-history' });
  const payments = h('section', { class: 'card', id: 'payments', 'aria-labelledby': 'h-payments', hidden: true });
  main.append(h('h1', {}, t('usage_title')), h('div', { class: 'grid2' }, month, day), change, payments, history);

  async function load() {
    let usage, sub, plans, hist;
    try {
      [usage, sub, plans, hist] = await Promise.all([api('GET', '/billing/usage'), api('GET', '/billing/subscription'),
        billingInfo(), api('GET', '/billing/history?limit=20')]);
    } catch (err) { clear(month).append(h('p', { class: 'form-error' }, err.detail)); return; }

    clear(month).append(h('h2', { id: 'h-month' }, t('this_month')),
      h('p', { class: 'hint', id: 'plan-name' }, t('plan_current', { plan: sub.plan_name || usage.plan_type })),
      ...MONTHLY.filter((k) => usage.usage?.[k]).map((k) => bar(t(`res_${k}`), usage.usage[k].used, usage.usage[k].limit, k)),
      h('p', { class: 'hint' }, t('resets_at', { when: fmtDate(usage.period_end) })));
    const counters = usage.daily?.counters || {};
    clear(day).append(h('h2', { id: 'h-day' }, t('today')),
      ...Object.entries(counters).map(([k, c]) => bar(t(`res_${k}`), c.used, c.limit, k)),
      usage.daily ? h('p', { class: 'hint' }, t('resets_at', { when: fmtDate(usage.daily.reset_at) })) : null);
    applyBars(main);

    const planSel = h('select', { id: 'plan-select', name: 'plan_type' },
      plans.plans.map((p) => h('option', { value: p.plan_type, selected: p.plan_type === (params.get('plan') || sub.plan_type) }, p.name)));
    const cycleSel = h('select', { id: 'cycle-select', name: 'billing_cycle' },
      ['monthly', 'yearly'].map((c) => h('option', { value: c, selected: c === sub.billing_cycle }, t(c))));
    const preview = h('p', { id: 'proration', 'aria-live': 'polite' });
    const confirmBtn = h('button', { type: 'button', id: 'confirm-plan', hidden: true }, t('confirm_plan'));
    const form = h('form', { id: 'plan-form' }, h('h2', { id: 'h-plan' }, t('change_plan')),
      h('div', { class: 'row wrap' },
        h('label', { for: 'plan-select' }, t('plan_label')), planSel,
        h('label', { for: 'cycle-select' }, t('cycle_label')), cycleSel,
        h('button', { type: 'submit', class: 'secondary', id: 'preview-plan' }, t('preview_plan'))),
      preview, confirmBtn);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const p = plans.plans.find((x) => x.plan_type === planSel.value);
      if (p.plan_type === sub.plan_type && cycleSel.value === sub.billing_cycle) {
        preview.textContent = t('plan_unchanged');
        confirmBtn.hidden = true;
        return;
      }
      const est = estimateProration(sub, p, cycleSel.value);
      preview.textContent = t('proration_estimate', { credit: fmtMoney(est.credit), charge: fmtMoney(est.charge), net: fmtMoney(est.net) });
      confirmBtn.hidden = false;
      confirmBtn.focus();
    });
    for (const s of [planSel, cycleSel]) s.addEventListener('change', () => { confirmBtn.hidden = true; preview.textContent = ''; });
    confirmBtn.addEventListener('click', async () => {
      confirmBtn.disabled = true;
      try {
        const r = await api('PUT', '/billing/subscription', { body: { plan_type: planSel.value, billing_cycle: cycleSel.value } });
        const pr = r.proration;
        toast(pr ? t('proration_done', { credit: fmtMoney(pr.credit_cents), charge: fmtMoney(pr.charge_cents), net: fmtMoney(pr.net_cents) }) : r.message);
        await reloadUser();
        await load();
        if (pr) document.getElementById('proration').textContent = t('proration_done', { credit: fmtMoney(pr.credit_cents), charge: fmtMoney(pr.charge_cents), net: fmtMoney(pr.net_cents) });
      } catch (err) {
        if (err.code === 'PAYMENT_REQUIRED' && plans.enabled) { // an upgrade: the provider's checkout
          preview.textContent = t('payment_required');
          await startCheckout(plans.plans.find((x) => x.plan_type === planSel.value), cycleSel.value, plans, form);
        } else {
          showError(form, err);
        }
      } finally { confirmBtn.disabled = false; }
    });
    clear(change).append(form);
    if (plans.enabled) {
      payments.hidden = false;
      await paymentsSection(payments, sub, plans);
    }

    clear(history).append(h('h2', { id: 'h-history' }, t('history')),
      hist.items?.length
        ? h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {},
          [t('when'), t('action'), t('details'), ''].map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, hist.items.map((e) => h('tr', {}, h('td', {}, fmtDate(e.created_at)), h('td', {}, e.event_type),
          h('td', {}, e.description || ''), h('td', { class: 'num' }, e.amount_cents === null ? '' : fmtMoney(e.amount_cents, e.currency || 'USD')))))))
        : h('p', { class: 'hint' }, t('no_history')));
  }
  await load();
}
