// The API reference page (/docs): renders ragd's OpenAPI document (/openapi.json) as a list of
// operations grouped by tag, each with its parameters, request bodies and responses. Every
// string from the document is set as text (h() children), never as HTML.
import { h, clear } from './dom.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

// Follows "#/components/..." references inside the document.
function deref(doc, obj, seen = 0) {
  while (obj && obj.$ref && seen++ < 16) {
    obj = obj.$ref.replace(/^#\//, '').split('/').reduce((o, k) => (o ? o[k] : undefined), doc);
  }
  return obj;
}

// A JSON Schema written compactly: {name: string, tags?: [string]}, 'a'|'b', $User.
export function shapeText(schema, depth = 0) {
  if (!schema || typeof schema !== 'object') return 'any';
  if (schema.$ref) return '$' + schema.$ref.split('/').pop();
  if (schema.enum) return schema.enum.map((v) => (v === null ? 'null' : `'${v}'`)).join(' | ');
  if (schema.anyOf) return schema.anyOf.map((s) => shapeText(s, depth)).join(' | ');
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (!types.length) return 'any';
  return types.map((t) => {
    if (t === 'array') return '[' + shapeText(schema.items, depth) + ']';
    if (t !== 'object') return t === 'integer' ? 'int' : t;
    const props = Object.entries(schema.properties || {});
    const extra = schema.additionalProperties;
    if (!props.length && (extra === undefined || extra === true)) return 'object';
    const pad = '  '.repeat(depth + 1);
    const req = new Set(schema.required || []);
    const lines = props.map(([k, v]) => `${pad}${k}${req.has(k) ? '' : '?'}: ${shapeText(v, depth + 1)}`);
    if (extra && typeof extra === 'object') lines.push(`${pad}*: ${shapeText(extra, depth + 1)}`);
    else if (extra !== false) lines.push(pad + '...');
    return '{\n' + lines.join(',\n') + '\n' + '  '.repeat(depth) + '}';
  }).join(' | ');
}

function contentList(doc, content) {
  return Object.entries(content || {}).map(([media, m]) =>
    h('div', {}, h('span', { class: 'meta' }, media),
      h('pre', {}, shapeText(m.schema))));
}

function security(op, doc) {
  const sec = op.security || doc.security || [];
  if (!sec.length) return h('span', { class: 'badge' }, 'public');
  return h('span', { class: 'badge' }, 'auth: ' + sec.map((s) => Object.keys(s).join('+')).join(' or '));
}

function operation(doc, path, method, op) {
  const id = op.operationId || `${method}-${path}`;
  const responses = Object.entries(op.responses || {}).map(([code, r]) => {
    const resp = deref(doc, r) || {};
    const headers = Object.keys(resp.headers || {});
    return h('li', {}, h('strong', {}, code), ' ', resp.description || '',
      headers.length ? h('span', { class: 'meta' }, ' headers: ' + headers.join(', ')) : null,
      resp.content ? h('details', {}, h('summary', {}, 'body'), contentList(doc, resp.content)) : null);
  });
  const params = (op.parameters || []).map((p) => h('li', {}, h('code', {}, p.name), ` (${p.in})`));
  const body = op.requestBody ? deref(doc, op.requestBody) : null;
  return h('section', { class: 'op', id },
    h('h3', {}, h('span', { class: `method ${method}` }, method.toUpperCase()), path),
    h('p', {}, op.summary || '', security(op, doc),
      op['x-ragd-permission'] ? h('span', { class: 'badge' }, 'permission: ' + op['x-ragd-permission']) : null,
      op['x-rate-limit-resource'] ? h('span', { class: 'badge' }, 'rate: ' + op['x-rate-limit-resource']) : null),
    h('p', { class: 'meta' }, 'operationId: ' + id),
    params.length ? h('div', {}, h('h4', {}, 'Parameters'), h('ul', {}, params)) : null,
    body ? h('details', {}, h('summary', {}, 'Request body'), contentList(doc, body.content)) : null,
    h('h4', {}, 'Responses'), h('ul', {}, responses));
}

async function main() {
  const main = document.getElementById('main');
  const toc = document.getElementById('toc');
  let doc;
  try {
    const r = await fetch('/openapi.json', { headers: { Accept: 'application/json' } });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    doc = await r.json();
  } catch (e) {
    clear(main).append(h('h1', {}, 'ragd API reference'), h('p', {}, 'Could not load /openapi.json: ' + e.message));
    return;
  }
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const m of METHODS) {
      if (!item[m]) continue;
      const tag = (item[m].tags || ['misc'])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, m, item[m]]);
    }
  }
  const info = doc.info || {};
  clear(main).append(
    h('h1', {}, `${info.title || 'API'} ${info.version || ''}`),
    h('p', {}, info.description || ''),
    h('p', { class: 'meta' }, 'OpenAPI ', doc.openapi || '', ' · ',
      h('a', { href: '/openapi.json' }, 'openapi.json'),
      info.license ? ` · license ${info.license.name}` : ''));
  clear(toc);
  for (const [tag, ops] of [...byTag.entries()].sort()) {
    main.append(h('h2', { id: 'tag-' + tag }, tag));
    toc.append(h('h2', {}, tag));
    for (const [path, m, op] of ops) {
      const el = operation(doc, path, m, op);
      main.append(el);
      toc.append(h('a', { href: '#' + el.id }, `${m.toUpperCase()} ${path}`));
    }
  }
  const schemas = Object.entries((doc.components || {}).schemas || {});
  if (schemas.length) {
    main.append(h('h2', { id: 'schemas' }, 'Schemas'));
    toc.append(h('h2', {}, h('a', { href: '#schemas' }, 'Schemas')));
    for (const [name, schema] of schemas) {
      main.append(h('section', { class: 'op', id: 'schema-' + name },
        h('h3', {}, '$' + name), h('pre', {}, shapeText(schema))));
    }
  }
}

main();
