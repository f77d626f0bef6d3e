// Documents: drag-and-drop or chosen files uploaded one by one with a progress bar each, a
// table whose statuses refresh until every document is ready or failed (with the reason),
// delete with confirmation, storage used against the plan, and a document opened in a dialog.
import { t } from '../i18n.js';
import { h, clear, plain, confirmDialog, showDialog, toast, fmtBytes, fmtDate, bar, applyBars } from '../dom.js';
import { api, upload, currentUser } from '../api.js';

export async function documentsView(main, params) {
  let timer = null;
  const storage = h('div', { id: 'storage' });
  const progress = h('ul', { class: 'uploads', id: 'uploads', 'aria-live': 'polite' });
  const fileInput = h('input', { type: 'file', id: 'file-input', name: 'file', multiple: true,
    accept: '.txt,.md,.markdown,.html,.htm,.pdf,text/plain,text/markdown,text/html,application/pdf' });
  const drop = h('div', { class: 'drop', id: 'drop' },
    h('p', {}, t('drop_here')),
    h('label', { for: 'file-input', class: 'button' }, t('choose_files')), fileInput);
  const tbody = h('tbody', { id: 'doc-rows' });
  const table = h('table', { class: 'docs' },
    h('thead', {}, h('tr', {}, ['doc_title', 'doc_status', 'doc_size', 'doc_added', 'doc_actions'].map((k) => h('th', { scope: 'col' }, t(k))))),
    tbody);
  main.append(h('h1', {}, t('documents_title')), storage,
    h('section', { 'aria-label': t('upload_label') }, drop, progress),
    h('div', { class: 'table-wrap' }, table));

  fileInput.addEventListener('change', () => { uploadAll([...fileInput.files]); fileInput.value = ''; });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); uploadAll([...e.dataTransfer.files]); });

  async function uploadAll(files) {
    for (const file of files) {
      const fill = h('div', { class: 'bar-fill' });
      const track = h('div', { class: 'bar-track ok', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0, 'aria-label': t('uploading', { name: file.name }) }, fill);
      const status = h('span', {}, t('uploading', { name: file.name }));
      const li = h('li', { class: 'upload' }, status, track);
      progress.append(li);
      try {
        await upload(file, (f) => { fill.style.width = `${Math.round(f * 100)}%`; track.setAttribute('aria-valuenow', Math.round(f * 100)); });
        fill.style.width = '100%';
        status.textContent = t('upload_done', { name: file.name });
        li.classList.add('done');
        setTimeout(() => li.remove(), 4000);
      } catch (err) {
        track.classList.replace('ok', 'full');
        status.textContent = t('upload_failed', { name: file.name, detail: err.detail });
        li.classList.add('failed');
        li.setAttribute('role', 'alert');
      }
      refresh();
    }
  }

  async function refresh() {
    let data;
    try {
      data = await api('GET', '/documents?limit=100');
    } catch (err) { toast(err.detail); return; }
    clear(tbody);
    if (!data.documents.length) tbody.append(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, t('no_documents'))));
    const me = currentUser();
    for (const d of data.documents) {
      const mine = me && (d.owner_id === me.id || me.is_superuser);
      tbody.append(h('tr', { dataset: { id: d.id, status: d.status } },
        h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => openDoc(d.id) }, d.title || d.source || d.id),
          d.shared ? h('span', { class: 'tag' }, t('shared')) : null),
        h('td', {}, h('span', { class: `status ${d.status}` }, t(`status_${d.status}`)),
          d.status === 'failed' && d.error ? h('p', { class: 'field-error' }, d.error) : null),
        h('td', {}, fmtBytes(d.size_bytes || 0)),
        h('td', {}, fmtDate(d.created_at)),
        h('td', {}, mine ? h('button', { type: 'button', class: 'danger small', 'aria-label': `${t('delete')}: ${d.title}`,
          onclick: async () => {
            if (!(await confirmDialog(t('confirm_delete_doc', { title: d.title }), t('delete')))) return;
            try { await api('DELETE', `/documents/${encodeURIComponent(d.id)}`); refresh(); } catch (err) { toast(err.detail); }
          } }, t('delete')) : null)));
    }
    const busy = data.documents.some((d) => d.status === 'pending' || d.status === 'processing');
    clearTimeout(timer);
    if (busy) timer = setTimeout(refresh, 1000);
    loadStorage();
  }

  async function loadStorage() {
    try {
      const u = await api('GET', '/billing/usage');
      const s = u.usage?.storage_mb;
      if (s) clear(storage).append(bar(t('res_storage_mb'), s.used, s.limit));
      applyBars(storage);
    } catch { /* billing may be off */ }
  }

  async function openDoc(id) {
    try {
      const d = await api('GET', `/documents/${encodeURIComponent(id)}?include_content=true`);
      const dlg = showDialog(d.title || id, h('p', { class: 'hint' }, `${d.source || ''} · ${t(`status_${d.status}`)}`),
        h('div', { class: 'doc-content', id: 'doc-content' }, plain(d.content || '')));
      dlg.id = 'doc-dialog';
    } catch (err) { toast(err.detail); }
  }

  await refresh();
  if (params.get('open')) openDoc(params.get('open'));
  return () => clearTimeout(timer);
}
