// The organization's support-desk analytics (GET /analytics?from&to) for its owners and
// admins: a date range; conversations and messages per day; escalation, resolution,
// deflection and helpful rates; sentiment distribution and trend; response time p50/p95;
// tokens; the top questions and the documentation gaps (questions answered with low
// confidence) as tables. Chart.js is loaded on first use (it is not needed by the other pages).
import { t } from '../i18n.js';
import { h, clear, fmtDate, showError } from '../dom.js';
import { api } from '../api.js';

let chartLib = null;
export function loadChartJs() {
  if (window.Chart) return Promise.resolve(window.Chart);
  chartLib ??= new Promise((resolve) => {
    const s = h('script', { src: '/vendor/chart.js' });
    s.addEventListener('load', () => resolve(window.Chart || null));
    s.addEventListener('error', () => resolve(null)); // no Chart.js installed: the tables remain
    document.head.append(s);
  });
  return chartLib;
}

const COLORS = {
  light: { a: '#1f4fbf', b: '#a64d00', c: '#1d7a46', pos: '#1b7a3a', neu: '#5c6470', neg: '#b3261e' },
  dark: { a: '#8ab4ff', b: '#f0b35a', c: '#7fd6a4', pos: '#7ddc97', neu: '#aab1bd', neg: '#ff8a80' },
};
const colors = () => COLORS[matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'];

const day = (d) => d.toISOString().slice(0, 10);
const pct = (v) => (v === null || v === undefined ? '–' : `${(Math.round(v * 1000) / 10).toFixed(1)} %`);
const num = (v, digits = 0) => (v === null || v === undefined ? '–' : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits }));
const ms = (v) => (v === null || v === undefined ? '–' : t('ms_value', { ms: num(v) }));

function tile(id, label, value, hint) {
  return h('div', { class: 'tile', id }, h('span', { class: 'tile-value' }, value), h('span', { class: 'tile-label' }, label),
    hint ? h('span', { class: 'tile-label' }, hint) : null);
}

function chartBox(id, title) {
  return h('section', { class: 'card', 'aria-labelledby': `h-${id}` }, h('h2', { id: `h-${id}` }, title),
    h('div', { class: 'chart-box' }, h('canvas', { id, role: 'img', 'aria-label': title })));
}

const table = (id, heads, rows, empty) => h('div', { class: 'table-wrap' }, h('table', { id },
  h('thead', {}, h('tr', {}, heads.map((x) => h('th', { scope: 'col' }, x)))),
  h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: heads.length, class: 'empty' }, empty)))));

export async function analyticsView(main, params) {
  const charts = [];
  const today = new Date();
  const from0 = params?.get('from') || day(new Date(today.getTime() - 29 * 86400000));
  const to0 = params?.get('to') || day(today);
  const form = h('form', { class: 'filters', id: 'analytics-range', 'aria-label': t('analytics_range') },
    h('label', { for: 'an-from' }, t('analytics_from'), h('input', { id: 'an-from', name: 'from', type: 'date', required: true, value: from0 })),
    h('label', { for: 'an-to' }, t('analytics_to'), h('input', { id: 'an-to', name: 'to', type: 'date', required: true, value: to0 })),
    h('button', { type: 'submit', id: 'an-apply' }, t('analytics_show')));
  const out = h('div', { id: 'analytics', 'aria-live': 'polite' });
  main.append(h('h1', {}, t('nav_analytics')), h('p', { class: 'hint' }, t('analytics_hint')), form, out);
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });

  async function load() {
    while (charts.length) charts.pop().destroy();
    clear(out);
    for (const old of main.querySelectorAll('#analytics-error')) old.remove();
    const q = new URLSearchParams({ from: form.elements.from.value, to: form.elements.to.value });
    let a;
    try {
      a = await api('GET', `/analytics?${q}`);
    } catch (err) {
      if (err.status === 422) {
        if (!err.field) err.field = err.code === 'INVALID_RANGE' || err.code === 'RANGE_TOO_LONG' ? 'to' : 'from';
        showError(form, err);
      } else {
        form.hidden = true;
        out.append(h('p', { class: 'form-error', role: 'alert', id: 'analytics-error', dataset: { code: err.code } }, err.detail));
      }
      return;
    }
    for (const old of form.querySelectorAll('.field-error, .form-error')) old.remove();
    await draw(a);
  }

  async function draw(a) {
    const tot = a.totals;
    out.dataset.conversations = tot.conversations;
    out.append(
      h('p', { class: 'hint', id: 'analytics-span' }, t('analytics_span', { from: a.from, to: a.to, days: a.days })),
      h('div', { class: 'tiles', id: 'analytics-tiles' },
        tile('an-conversations', t('an_conversations'), num(tot.conversations)),
        tile('an-messages', t('an_messages'), num(tot.messages)),
        tile('an-tickets', t('an_tickets'), num(tot.tickets)),
        tile('an-escalation', t('an_escalation_rate'), pct(a.escalation.rate), t('an_of_conversations', { n: a.escalation.escalated_conversations })),
        tile('an-resolution', t('an_resolution_rate'), pct(a.resolution.rate), t('an_of_tickets', { n: a.resolution.resolved_tickets })),
        tile('an-deflection', t('an_deflection_rate'), pct(a.deflection.rate), t('an_of_conversations', { n: a.deflection.deflected_conversations })),
        tile('an-helpful', t('an_helpful_rate'), pct(a.feedback.helpful_rate), t('an_marks', { up: a.feedback.helpful, down: a.feedback.not_helpful })),
        tile('an-p50', t('an_p50'), ms(a.response_time_ms.p50)),
        tile('an-p95', t('an_p95'), ms(a.response_time_ms.p95)),
        tile('an-tokens', t('an_tokens'), num(a.tokens.total), t('an_tokens_avg', { n: num(a.tokens.average_per_answer, 1) })),
        tile('an-low-conf', t('an_low_confidence'), pct(a.low_confidence.rate), t('an_below', { threshold: a.low_confidence.threshold }))),
      h('div', { class: 'grid2' },
        chartBox('an-daily-chart', t('an_per_day')),
        chartBox('an-sentiment-chart', t('an_sentiment_distribution')),
        chartBox('an-trend-chart', t('an_sentiment_trend')),
        chartBox('an-status-chart', t('an_tickets_by_status'))));
    const dist = a.sentiment.distribution;
    out.append(h('p', { class: 'hint', id: 'an-sentiment-text' }, t('an_sentiment_text', {
      pos: dist.POSITIVE, neu: dist.NEUTRAL, neg: dist.NEGATIVE, none: dist.unscored })));
    out.append(h('section', { class: 'card', 'aria-labelledby': 'h-top-questions' }, h('h2', { id: 'h-top-questions' }, t('an_top_questions')),
      table('top-questions', [t('an_question'), t('an_count'), t('an_share')], a.top_questions.map((x) =>
        h('tr', {}, h('td', {}, x.question), h('td', { class: 'num' }, num(x.count)), h('td', { class: 'num' }, pct(x.share)))), t('no_rows'))));
    out.append(h('section', { class: 'card', 'aria-labelledby': 'h-doc-gaps' }, h('h2', { id: 'h-doc-gaps' }, t('an_doc_gaps')),
      h('p', { class: 'hint' }, t('an_doc_gaps_hint', { threshold: a.low_confidence.threshold })),
      table('doc-gaps', [t('an_question'), t('an_count'), t('an_lowest_confidence'), t('an_last_asked')], a.low_confidence.questions.map((x) =>
        h('tr', {}, h('td', {}, x.question), h('td', { class: 'num' }, num(x.count)), h('td', { class: 'num' }, pct(x.lowest_confidence)),
          h('td', {}, fmtDate(x.last_at)))), t('an_no_gaps'))));

    const Chart = await loadChartJs();
    if (!Chart || !out.isConnected) return;
    const c = colors();
    const base = (extra = {}) => ({ maintainAspectRatio: false, animation: false, ...extra });
    const labels = a.daily.map((d) => d.date.slice(5));
    charts.push(new Chart(document.getElementById('an-daily-chart'), {
      type: 'line',
      data: { labels, datasets: [
        { label: t('an_conversations'), data: a.daily.map((d) => d.conversations), borderColor: c.a, backgroundColor: c.a, tension: 0.2 },
        { label: t('an_messages'), data: a.daily.map((d) => d.messages), borderColor: c.b, backgroundColor: c.b, tension: 0.2 }] },
      options: base({ scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }),
    }));
    const labelsS = ['POSITIVE', 'NEUTRAL', 'NEGATIVE'];
    const sc = [c.pos, c.neu, c.neg];
    charts.push(new Chart(document.getElementById('an-sentiment-chart'), {
      type: 'doughnut',
      data: { labels: labelsS.map((l) => t(`sentiment_${l}`)), datasets: [{ data: labelsS.map((l) => dist[l]), backgroundColor: sc, borderColor: sc }] },
      options: base(),
    }));
    charts.push(new Chart(document.getElementById('an-trend-chart'), {
      type: 'bar',
      data: { labels, datasets: labelsS.map((l, i) => ({ label: t(`sentiment_${l}`), data: a.daily.map((d) => d.sentiment[l]), backgroundColor: sc[i], borderColor: sc[i] })) },
      options: base({ scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }),
    }));
    const st = ['open', 'pending', 'resolved', 'closed'];
    charts.push(new Chart(document.getElementById('an-status-chart'), {
      type: 'bar',
      data: { labels: st.map((s) => t(`ticket_status_${s}`)), datasets: [{ label: t('an_tickets'), data: st.map((s) => a.resolution.by_status[s]), backgroundColor: c.a, borderColor: c.a }] },
      options: base({ plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }),
    }));
  }

  await load();
  return () => { while (charts.length) charts.pop().destroy(); };
}
