/**
 * The compliance report as one self-contained HTML page (docs/ARCHITECTURE.md "Compliance report"):
 * summary tiles, a sortable and filterable table of namespaces with their findings and fixes, a
 * key-expiry timeline and the compliance trend over the stored history. Pure (no I/O, no clock).
 *
 * Safety: every value that came from Azure (names, ids, messages, commands) goes through `esc`; the
 * data is rendered on the server, the one inline script only sorts/filters what is already in the DOM
 * (it reads nothing but data-* attributes), and the page is served with a CSP that allows exactly the
 * inline style and script below by their SHA-256 hashes — no external asset, no inline handler.
 */
import { createHash } from 'node:crypto';
import {
  CMK_VERDICTS,
  SEVERITIES,
  keyExpiryTimeline,
  type ComplianceReport,
  type KeyExpiryPoint,
  type ReportNamespace,
  type TrendPoint,
} from '../domain/complianceReport';
import type { CmkVerdict } from '../domain/preflight';

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
/** HTML text and attribute escaping (quoted attributes only). */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

const VERDICT_LABEL: Record<CmkVerdict, string> = {
  inoperable: 'Inoperable',
  degraded: 'Degraded',
  atRisk: 'At risk',
  unknown: 'Unknown',
  notEncrypted: 'Not encrypted',
  healthy: 'Healthy',
};
const VERDICT_RANK: Record<CmkVerdict, number> = Object.fromEntries(
  CMK_VERDICTS.map((v, i) => [v, i]),
) as Record<CmkVerdict, number>;

const STYLE = `
:root{--bg:#f6f7f9;--card:#fff;--ink:#1c2430;--muted:#5b6676;--line:#dde2e8;--accent:#2358c5;
--crit:#b3261e;--err:#c2410c;--warn:#a16207;--ok:#1e7f4f;--unk:#6b7280;--plain:#7c3aed;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
@media (prefers-color-scheme:dark){:root{--bg:#12161c;--card:#1b2129;--ink:#e6eaf0;--muted:#9aa5b4;
--line:#2c3440;--accent:#7aa2ff;--crit:#ff6b61;--err:#ff9a5c;--warn:#e8b93c;--ok:#4cc38a;--unk:#a0a8b4;--plain:#b794f6}}
*{box-sizing:border-box}body{margin:0;padding:24px 32px 48px;max-width:1400px;margin-inline:auto}
h1{font-size:1.5rem;margin:0 0 4px}h2{font-size:1.1rem;margin:32px 0 12px}
.meta{color:var(--muted);font-size:.9rem;margin:0}.meta a{color:var(--accent)}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px;margin-top:20px}
.tile{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.tile .n{font-size:1.9rem;font-weight:650;font-variant-numeric:tabular-nums;display:block}
.tile .l{color:var(--muted);font-size:.85rem}
.tile.inoperable .n,.sev-critical{color:var(--crit)}.tile.degraded .n,.sev-error{color:var(--err)}
.tile.atRisk .n,.sev-warning{color:var(--warn)}.tile.healthy .n,.tile.compliant .n{color:var(--ok)}
.tile.unknown .n,.tile.couldNotAssess .n{color:var(--unk)}.tile.notEncrypted .n{color:var(--plain)}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th button{all:unset;cursor:pointer;font-weight:600}th button::after{content:" \\2195";color:var(--muted)}
th[aria-sort=ascending] button::after{content:" \\2191"}th[aria-sort=descending] button::after{content:" \\2193"}
.badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:.8rem;font-weight:600;border:1px solid currentColor}
.v-inoperable{color:var(--crit)}.v-degraded{color:var(--err)}.v-atRisk{color:var(--warn)}.v-healthy{color:var(--ok)}
.v-unknown,.v-couldNotAssess{color:var(--unk)}.v-notEncrypted{color:var(--plain)}
.sub{color:var(--muted);font-size:.8rem;word-break:break-all}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.8rem;background:var(--bg);
border:1px solid var(--line);border-radius:6px;padding:6px 8px;display:block;white-space:pre-wrap;word-break:break-all;margin-top:4px}
details summary{cursor:pointer;color:var(--accent)}ul.findings{margin:6px 0 0;padding-left:18px}ul.findings li{margin-bottom:8px}
.controls{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin-bottom:12px}
.controls input[type=search],.controls select{padding:6px 10px;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--ink);font:inherit}
#shown{color:var(--muted);font-size:.85rem;margin-left:auto}
svg{display:block;max-width:100%;height:auto}svg text{fill:var(--ink);font-size:11px}svg .axis{stroke:var(--line)}
svg .now{stroke:var(--accent);stroke-dasharray:4 3}svg .muted{fill:var(--muted)}
.badge.k-expired,.badge.k-missing,.badge.k-deleted,.badge.k-disabled,.badge.k-notYetValid{color:var(--crit)}
.badge.k-expiringSoon{color:var(--warn)}.badge.k-healthy{color:var(--ok)}.badge.k-unknown{color:var(--unk)}
svg .k-expired,svg .k-missing,svg .k-deleted,svg .k-disabled,svg .k-notYetValid{fill:var(--crit);stroke:var(--crit)}
svg .k-expiringSoon{fill:var(--warn);stroke:var(--warn)}svg .k-healthy{fill:var(--ok);stroke:var(--ok)}
svg .k-unknown,svg .k-unreadable{fill:var(--unk);stroke:var(--unk)}svg .span{stroke-width:3;opacity:.45}
svg .trend{fill:none;stroke:var(--ok);stroke-width:2}svg .pt{fill:var(--ok)}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}
.empty{color:var(--muted)}
`;

// Sorting and filtering of the server-rendered rows; reads only data-* attributes.
const SCRIPT = `
(function(){
var table=document.getElementById('ns');if(!table)return;var body=table.tBodies[0];var head=table.tHead.rows[0];
var rows=Array.prototype.slice.call(body.rows);var q=document.getElementById('q');
var text=new Map();rows.forEach(function(r){text.set(r,(r.getAttribute('data-search')+' '+r.textContent).toLowerCase());});
var v=document.getElementById('verdict');var nc=document.getElementById('noncompliant');var shown=document.getElementById('shown');
function apply(){var t=(q.value||'').toLowerCase();var n=0;rows.forEach(function(r){
var ok=(!t||text.get(r).indexOf(t)>=0)&&(!v.value||r.getAttribute('data-verdict')===v.value)&&(!nc.checked||r.getAttribute('data-compliant')==='false');
r.hidden=!ok;if(ok)n++;});shown.textContent='Showing '+n+' of '+rows.length;shown.setAttribute('data-shown',String(n));}
function sortBy(th,dir){var key=th.getAttribute('data-key');var num=th.getAttribute('data-type')==='number';
Array.prototype.forEach.call(head.cells,function(c){c.removeAttribute('aria-sort');});th.setAttribute('aria-sort',dir);
var s=dir==='ascending'?1:-1;rows.sort(function(a,b){var x=a.getAttribute('data-'+key)||'',y=b.getAttribute('data-'+key)||'';
var c=num?Number(x)-Number(y):x.localeCompare(y);return c*s||a.getAttribute('data-name').localeCompare(b.getAttribute('data-name'));});
rows.forEach(function(r){body.appendChild(r);});}
[q,v,nc].forEach(function(e){e.addEventListener('input',apply);e.addEventListener('change',apply);});
Array.prototype.forEach.call(head.cells,function(th){var b=th.querySelector('button');if(!b)return;
b.addEventListener('click',function(){sortBy(th,th.getAttribute('aria-sort')==='ascending'?'descending':'ascending');});});
// A link may carry the view: #q=text&verdict=degraded&noncompliant=1&sort=name:descending
var h=new URLSearchParams(location.hash.slice(1));if(h.has('q'))q.value=h.get('q');
if(h.has('verdict'))v.value=h.get('verdict');if(h.get('noncompliant')==='1')nc.checked=true;
var so=(h.get('sort')||'').split(':');if(so[0]){Array.prototype.forEach.call(head.cells,function(th){
if(th.getAttribute('data-key')===so[0])sortBy(th,so[1]==='descending'?'descending':'ascending');});}
apply();table.setAttribute('data-script','ready');})();
`;

const sha256 = (text: string): string =>
  `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

const CSP_DIRECTIVES = [
  "default-src 'none'",
  `style-src ${sha256(STYLE)}`,
  `script-src ${sha256(SCRIPT)}`,
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
];
/** The page's Content-Security-Policy header: nothing but the inline style and script of this module. */
export const REPORT_PAGE_CSP = [...CSP_DIRECTIVES, "frame-ancestors 'none'"].join('; ');
/** The same policy in a meta tag, so a saved copy of the page is just as locked (frame-ancestors is header-only). */
const META_CSP = CSP_DIRECTIVES.join('; ');

export interface ReportPageLinks {
  json: string;
  csv: string;
  /** The page of the report stored at that instant (the trend's points link to it). */
  pageAt?: (generatedAt: string) => string;
}

const DAY = 86_400_000;

function worstSeverity(n: ReportNamespace): number {
  let worst = SEVERITIES.length;
  for (const f of n.findings) worst = Math.min(worst, SEVERITIES.indexOf(f.severity));
  return worst;
}

function tile(kind: string, count: number, label: string, extra = ''): string {
  return `<div class="tile ${esc(kind)}" data-tile="${esc(kind)}"><span class="n" data-count="${count}">${count}</span><span class="l">${esc(label)}${extra}</span></div>`;
}

function tiles(report: ComplianceReport): string {
  const s = report.summary;
  const pct = s.namespaces === 0 ? 0 : Math.round((s.compliant / s.namespaces) * 100);
  return `<section class="tiles" aria-label="Summary">
${tile('namespaces', s.namespaces, 'Namespaces assessed')}
${tile('compliant', s.compliant, 'Compliant', ` · ${pct}%`)}
${CMK_VERDICTS.filter((v) => v !== 'healthy')
  .map((v) => tile(v, s.byVerdict[v], VERDICT_LABEL[v]))
  .join('\n')}
${tile('couldNotAssess', s.couldNotAssess, 'Could not assess')}
${SEVERITIES.map((sev) => tile(`sev-${sev}`, s.bySeverity[sev], `${sev[0]?.toUpperCase()}${sev.slice(1)} findings`)).join('\n')}
</section>`;
}

function findingsCell(n: ReportNamespace): string {
  if (n.findings.length === 0) return '<span class="empty">No findings</span>';
  const counts = SEVERITIES.map((sev) => [sev, n.findings.filter((f) => f.severity === sev).length] as const)
    .filter(([, c]) => c > 0)
    .map(([sev, c]) => `<span class="sev-${sev}">${c} ${sev}</span>`)
    .join(' · ');
  const items = n.findings
    .map(
      (f) =>
        `<li data-rule="${esc(f.ruleId)}"><strong class="sev-${esc(f.severity)}">${esc(f.ruleId)}</strong> ${esc(f.title)} — ${esc(f.message)}<br><span class="sub">Fix: ${esc(f.fix)}</span>${f.command ? `<code>${esc(f.command)}</code>` : ''}</li>`,
    )
    .join('');
  return `<details><summary>${counts}</summary><ul class="findings">${items}</ul></details>`;
}

function keysCell(n: ReportNamespace): string {
  if (n.keys.length === 0) return '<span class="empty">—</span>';
  return n.keys
    .map((k) => {
      const when =
        k.expiresOn !== undefined
          ? `${esc(k.expiresOn.slice(0, 10))} (${k.daysToExpiry ?? '?'} d)`
          : k.status === 'unknown'
            ? 'unreadable'
            : 'no expiry';
      return `<div><span class="badge k-${esc(k.status)}">${esc(k.status)}</span> ${esc(k.vaultName ?? '')}/${esc(k.keyName)}${k.pinned ? ' · pinned' : ''}<br><span class="sub">${when}</span></div>`;
    })
    .join('');
}

function minDays(n: ReportNamespace): number {
  const days = n.keys.flatMap((k) => (k.daysToExpiry !== undefined ? [k.daysToExpiry] : []));
  return days.length ? Math.min(...days) : 100_000;
}

function namespaceRow(n: ReportNamespace): string {
  // The row's text (name, findings, fixes) is searched too; the attribute adds what is not shown.
  const search = [n.id, n.verdict, ...n.findings.map((f) => f.ruleId)].join(' ').toLowerCase();
  return `<tr data-ns-id="${esc(n.id)}" data-name="${esc(n.name.toLowerCase())}" data-subscription="${esc(n.subscriptionId)}" data-location="${esc(n.location ?? '')}" data-verdict="${esc(n.verdict)}" data-verdict-rank="${VERDICT_RANK[n.verdict]}" data-compliant="${String(n.compliant)}" data-findings="${n.findings.length}" data-severity="${worstSeverity(n)}" data-expiry="${minDays(n)}" data-search="${esc(search)}">
<td><strong class="ns-name">${esc(n.name)}</strong><br><span class="sub">${esc(n.resourceGroup)}</span></td>
<td class="sub">${esc(n.subscriptionId)}</td>
<td>${esc(n.location ?? '')}</td>
<td><span class="badge v-${esc(n.verdict)}">${esc(VERDICT_LABEL[n.verdict])}</span></td>
<td data-cell="findings" data-count="${n.findings.length}">${findingsCell(n)}</td>
<td>${keysCell(n)}</td>
</tr>`;
}

function namespacesTable(report: ComplianceReport): string {
  const th = (key: string, label: string, type: 'text' | 'number' = 'text'): string =>
    `<th data-key="${key}" data-type="${type}"><button type="button">${label}</button></th>`;
  return `<div class="controls">
<input type="search" id="q" placeholder="Filter by name, id, rule…" aria-label="Filter namespaces">
<select id="verdict" aria-label="Verdict"><option value="">All verdicts</option>${CMK_VERDICTS.map((v) => `<option value="${v}">${VERDICT_LABEL[v]}</option>`).join('')}</select>
<label><input type="checkbox" id="noncompliant"> Non-compliant only</label>
<span id="shown" data-shown="${report.namespaces.length}">Showing ${report.namespaces.length} of ${report.namespaces.length}</span>
</div>
<table id="ns" data-rows="${report.namespaces.length}">
<thead><tr>${th('name', 'Namespace')}${th('subscription', 'Subscription')}${th('location', 'Location')}${th('verdict-rank', 'Verdict', 'number')}${th('severity', 'Findings', 'number')}${th('expiry', 'Keys', 'number')}</tr></thead>
<tbody>
${report.namespaces.map(namespaceRow).join('\n')}
</tbody>
</table>`;
}

function rulesTable(report: ComplianceReport): string {
  if (report.summary.byRule.length === 0) return '<p class="empty">No findings.</p>';
  return `<table id="rules"><thead><tr><th>Rule</th><th>Severity</th><th>Findings</th><th>Namespaces</th></tr></thead><tbody>
${report.summary.byRule
  .map(
    (r) =>
      `<tr data-rule="${esc(r.ruleId)}" data-findings="${r.findings}" data-namespaces="${r.namespaces}"><td><strong>${esc(r.ruleId)}</strong> ${esc(r.title)}</td><td class="sev-${esc(r.severity)}">${esc(r.severity)}</td><td>${r.findings}</td><td>${r.namespaces}</td></tr>`,
  )
  .join('\n')}
</tbody></table>`;
}

function couldNotAssessTable(report: ComplianceReport): string {
  if (report.couldNotAssess.length === 0) return '';
  return `<h2>Could not assess (${report.couldNotAssess.length})</h2><div class="card"><table id="cna"><thead><tr><th>Scope</th><th>What</th><th>Cause</th><th>Fix</th></tr></thead><tbody>
${report.couldNotAssess
  .map(
    (c) =>
      `<tr data-cna-id="${esc(c.id)}"><td>${esc(c.scope)}</td><td class="sub">${esc(c.id)}</td><td><span class="badge v-couldNotAssess">${esc(c.cause)}</span>${c.status ? ` <span class="sub">${c.status} ${esc(c.code ?? '')}</span>` : ''}<br>${esc(c.message)}</td><td>${esc(c.fix)}${c.command ? `<code>${esc(c.command)}</code>` : ''}</td></tr>`,
  )
  .join('\n')}
</tbody></table></div>`;
}

/** Keys on a time axis from the sweep's start: a span from "now" to each key's expiry. */
function timelineSvg(points: KeyExpiryPoint[], now: number): string {
  if (points.length === 0) return '<p class="empty">No customer-managed keys in this report.</p>';
  const dated = points.filter((p) => p.expiresOn !== undefined);
  const times = dated.map((p) => Date.parse(p.expiresOn!));
  const from = Math.min(now - 30 * DAY, ...times);
  const to = Math.max(now + 90 * DAY, ...times);
  const W = 680,
    left = 170,
    right = 90,
    rowH = 22,
    top = 24;
  const x = (t: number): number => left + ((t - from) / (to - from)) * (W - left - right);
  const H = top + points.length * rowH + 24;
  const rows = points
    .map((p, i) => {
      const y = top + i * rowH + rowH / 2;
      const label = `${p.vaultName ?? ''}/${p.keyName}`;
      const title = `${label}: ${p.status}${p.expiresOn ? `, expires ${p.expiresOn}` : ', no expiry'} — ${p.namespaceIds.length} namespace(s)`;
      if (p.expiresOn === undefined) {
        return `<g data-key-id="${esc(p.keyId)}"><title>${esc(title)}</title><text x="${left - 8}" y="${y + 4}" text-anchor="end">${esc(label)}</text><text class="muted" x="${left}" y="${y + 4}">${p.status === 'unknown' ? 'unreadable' : 'no expiry'} · ${p.namespaceIds.length} ns</text></g>`;
      }
      const xe = x(Date.parse(p.expiresOn));
      const xn = x(now);
      return `<g data-key-id="${esc(p.keyId)}"><title>${esc(title)}</title><text x="${left - 8}" y="${y + 4}" text-anchor="end">${esc(label)}</text><line class="span k-${esc(p.status)}" x1="${Math.min(xn, xe).toFixed(1)}" x2="${Math.max(xn, xe).toFixed(1)}" y1="${y}" y2="${y}"/><circle class="k-${esc(p.status)}" cx="${xe.toFixed(1)}" cy="${y}" r="5"/><text class="muted" x="${(xe + 8).toFixed(1)}" y="${y + 4}">${p.daysToExpiry ?? ''} d · ${p.namespaceIds.length} ns</text></g>`;
    })
    .join('');
  const xn = x(now).toFixed(1);
  return `<svg id="timeline" viewBox="0 0 ${W} ${H}" role="img" aria-label="Key expiry timeline" data-keys="${points.length}">
<line class="axis" x1="${left}" x2="${W - right}" y1="${top - 6}" y2="${top - 6}"/>
<line class="now" x1="${xn}" x2="${xn}" y1="${top - 10}" y2="${H - 18}"/><text class="muted" x="${xn}" y="${H - 4}" text-anchor="middle">sweep ${esc(new Date(now).toISOString().slice(0, 10))}</text>
<text class="muted" x="${left}" y="12">${esc(new Date(from).toISOString().slice(0, 10))}</text><text class="muted" x="${W - right}" y="12" text-anchor="end">${esc(new Date(to).toISOString().slice(0, 10))}</text>
${rows}</svg>`;
}

function trendSvg(trend: TrendPoint[], pageAt?: (generatedAt: string) => string): string {
  if (trend.length === 0) return '<p class="empty">No history yet.</p>';
  const W = 640,
    H = 200,
    l = 40,
    r = 16,
    t = 16,
    b = 36;
  const times = trend.map((p) => Date.parse(p.generatedAt));
  const t0 = Math.min(...times),
    t1 = Math.max(...times);
  const x = (ms: number): number => (t1 === t0 ? (l + W - r) / 2 : l + ((ms - t0) / (t1 - t0)) * (W - l - r));
  const y = (ratio: number): number => t + (1 - ratio) * (H - t - b);
  const pts = trend.map((p, i) => ({ p, x: x(times[i]!), y: y(p.ratio) }));
  const path = pts.map((q, i) => `${i === 0 ? 'M' : 'L'}${q.x.toFixed(1)},${q.y.toFixed(1)}`).join(' ');
  const grid = [0, 0.5, 1]
    .map(
      (g) =>
        `<line class="axis" x1="${l}" x2="${W - r}" y1="${y(g)}" y2="${y(g)}"/><text class="muted" x="${l - 6}" y="${y(g) + 4}" text-anchor="end">${g * 100}%</text>`,
    )
    .join('');
  const dots = pts
    .map(
      (q) =>
        `${pageAt ? `<a href="${esc(pageAt(q.p.generatedAt))}">` : ''}<g data-trend-at="${esc(q.p.generatedAt)}" data-compliant="${q.p.compliant}" data-namespaces="${q.p.namespaces}"><title>${esc(`${q.p.generatedAt}: ${q.p.compliant}/${q.p.namespaces} compliant${pageAt ? ' (open)' : ''}`)}</title><circle class="pt" cx="${q.x.toFixed(1)}" cy="${q.y.toFixed(1)}" r="5"/></g>${pageAt ? '</a>' : ''}`,
    )
    .join('');
  const first = trend[0]!,
    last = trend[trend.length - 1]!;
  return `<svg id="trend" viewBox="0 0 ${W} ${H}" role="img" aria-label="Compliant namespaces over time" data-points="${trend.length}">
${grid}${trend.length > 1 ? `<path class="trend" d="${path}"/>` : ''}${dots}
<text class="muted" x="${l}" y="${H - 10}">${esc(first.generatedAt.slice(0, 16).replace('T', ' '))}</text>
<text class="muted" x="${W - r}" y="${H - 10}" text-anchor="end">${esc(last.generatedAt.slice(0, 16).replace('T', ' '))} · ${last.compliant}/${last.namespaces}</text>
</svg>`;
}

function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** The whole page. `trend` comes from the stored history (complianceTrend). */
export function renderReportHtml(
  report: ComplianceReport,
  trend: TrendPoint[],
  links: ReportPageLinks,
): string {
  const s = report.sweep;
  const skipped = s.subscriptions.filter((x) => x.status === 'skipped');
  const now = Date.parse(s.startedAt);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta http-equiv="Content-Security-Policy" content="${esc(META_CSP)}">
<title>CMK compliance — ${esc(report.generatedAt)}</title>
<style>${STYLE}</style></head>
<body>
<header>
<h1>Service Bus CMK compliance</h1>
<p class="meta" id="sweep" data-sweep-id="${esc(s.sweepId)}" data-generated-at="${esc(report.generatedAt)}">Sweep <strong>${esc(s.sweepId)}</strong> (${esc(s.trigger)}) · started ${esc(s.startedAt)} · took ${esc(duration(s.durationMs))} · <span data-calls="${s.calls}">${s.calls} Azure calls</span> · subscriptions ${report.summary.subscriptions.assessed} assessed, ${report.summary.subscriptions.skipped} skipped${skipped.length ? ` (${skipped.map((x) => `${esc(x.subscriptionId)}: ${esc(x.reason ?? 'skipped')}`).join('; ')})` : ''}</p>
<p class="meta">Key expiry warning window ${s.settings.keyExpiryWarningDays} days · compliant = healthy and no error or critical finding · <a href="${esc(links.json)}">JSON</a> · <a href="${esc(links.csv)}">CSV</a></p>
</header>
${tiles(report)}
<h2>Namespaces</h2>
<div class="card">${namespacesTable(report)}</div>
${couldNotAssessTable(report)}
<div class="grid2">
<section><h2>Key expiry</h2><div class="card">${timelineSvg(keyExpiryTimeline(report), now)}</div></section>
<section><h2>Compliant namespaces over time</h2><div class="card">${trendSvg(trend, links.pageAt)}</div></section>
</div>
<h2>Findings by rule</h2>
<div class="card">${rulesTable(report)}</div>
<script>${SCRIPT}</script>
</body></html>
`;
}
