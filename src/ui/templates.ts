/**
 * The report page's Eta templates. `<%= %>` escapes (Eta's autoEscape), `<%~ %>` does not and is used
 * only for the layout's body, itself rendered from these templates. No script, no external resource:
 * the page reads the same with JavaScript off, and its CSP forbids anything else.
 */

import { BAR_COLOURS, BAR_KINDS } from './timeline';

export const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1d; }
h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .25rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #555; margin: 0; }
.chip { display: inline-block; min-width: 1.4em; padding: 0 .35em; border-radius: .6em; color: #fff; text-align: center; }
.status { font-weight: 600; }
.legend span { margin-right: 1rem; white-space: nowrap; }
.legend i.swatch { display: inline-block; width: .9em; height: .9em; margin-right: .3em; vertical-align: -.1em; }
svg text { font: 12px system-ui, sans-serif; fill: #1d1d1d; }
svg .axis { stroke: #999; }
svg .grid { stroke: #eee; }
.errors td.message { max-width: 48rem; white-space: pre-wrap; word-break: break-word; }
${BAR_KINDS.map((k) => `.k-${k}.chip, .k-${k}.swatch { background: ${BAR_COLOURS[k]}; } .k-${k}.status { color: ${BAR_COLOURS[k]}; }`).join('\n')}
`;

export const LAYOUT_TEMPLATE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><%= it.title %></title>
<style><%~ it.style %></style>
</head>
<body>
<%~ it.body %>
</body>
</html>
`;

export const LIST_TEMPLATE = `<h1>Executions</h1>
<p class="meta"><%= it.subtitle %></p>
<% if (it.rows.length === 0) { %>
<p id="empty">No executions in the history yet.</p>
<% } else { %>
<table id="executions">
<thead><tr><th>Started</th><th>Trigger</th><th>Mode</th><th>OK</th><th>Failed</th><th>Skipped</th><th>Pending</th><th>Duration</th><th>Execution</th></tr></thead>
<tbody>
<% for (const r of it.rows) { %>
<tr data-execution="<%= r.id %>">
<td><%= r.started %></td><td><%= r.trigger %></td><td><%= r.mode %></td>
<td class="num"><span class="chip k-success"><%= r.ok %></span></td>
<td class="num"><% if (r.failed > 0) { %><span class="chip k-failed"><%= r.failed %></span><% } else { %>0<% } %></td>
<td class="num"><%= r.skipped %></td><td class="num"><%= r.pending %></td>
<td class="num"><%= r.duration %></td>
<td><% if (it.links) { %><a href="<%= it.base + encodeURIComponent(r.id) %>"><%= r.id %></a><% } else { %><%= r.id %><% } %></td>
</tr>
<% } %>
</tbody>
</table>
<% } %>
`;

export const EXECUTION_TEMPLATE = `<% if (it.links) { %><p><a href="./">← all executions</a></p><% } %>
<h1>Execution <%= it.id %></h1>
<p class="meta"><%= it.trigger %> · <%= it.mode %> mode · started <%= it.started %> · <%= it.duration %></p>
<p class="meta" id="summary"><%= it.summary %></p>
<% for (const w of it.warnings) { %><p class="meta">warning: <%= w %></p><% } %>

<h2>Timeline</h2>
<p class="legend"><% for (const l of it.legend) { %><span><i class="swatch k-<%= l.kind %>"></i><%= l.kind %></span><% } %><span>● one dot per attempt</span></p>
<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="<%= it.timeline.width %>" height="<%= it.timeline.height %>" viewBox="0 0 <%= it.timeline.width %> <%= it.timeline.height %>" role="img" aria-label="Timeline of execution <%= it.id %>">
<% for (const t of it.timeline.ticks) { %>
<line class="grid" x1="<%= t.x %>" x2="<%= t.x %>" y1="16" y2="<%= it.timeline.axisY %>"/>
<text x="<%= t.x %>" y="<%= it.timeline.axisY + 16 %>" text-anchor="middle"><%= t.label %></text>
<% } %>
<line class="axis" x1="<%= it.timeline.ticks[0].x %>" x2="<%= it.timeline.ticks[it.timeline.ticks.length - 1].x %>" y1="<%= it.timeline.axisY %>" y2="<%= it.timeline.axisY %>"/>
<% for (const r of it.timeline.rows) { %>
<g class="row" data-collector="<%= r.name %>" data-status="<%= r.kind %>">
<title><%= r.title %></title>
<text x="<%= it.labelX %>" y="<%= r.y + 12 %>" text-anchor="end"><%= r.name %></text>
<% if (r.bar) { %><rect class="bar" data-collector="<%= r.name %>" data-status="<%= r.kind %>" x="<%= r.bar.x %>" y="<%= r.y %>" width="<%= r.bar.width %>" height="<%= it.barHeight %>" rx="2" fill="<%= r.colour %>"/><% } %>
<% for (const a of r.attempts) { %><circle class="attempt<%= a.last ? ' last' : ' retried' %>" cx="<%= a.cx %>" cy="<%= r.y + it.barHeight / 2 %>" r="4" fill="<%= a.last ? r.colour : '#fff' %>" stroke="<%= a.last ? r.colour : it.failedColour %>" stroke-width="1.5"/><% } %>
<text class="label" x="<%= r.attempts.length > 0 ? r.attempts[r.attempts.length - 1].cx + 10 : (r.bar ? r.bar.x + r.bar.width + 8 : it.plotX + 6) %>" y="<%= r.y + 12 %>"><%= r.label %></text>
</g>
<% } %>
</svg>

<h2>Collectors</h2>
<table id="collectors">
<thead><tr><th>Collector</th><th>Status</th><th>HTTP</th><th>Attempts</th><th>Started</th><th>Duration</th><th>Detail</th></tr></thead>
<tbody>
<% for (const c of it.collectors) { %>
<tr data-collector="<%= c.name %>"><td><%= c.name %></td><td class="status k-<%= c.kind %>"><%= c.kind %></td><td class="num"><%= c.http %></td><td class="num"><%= c.attempts %></td><td><%= c.started %></td><td class="num"><%= c.duration %></td><td><%= c.detail %></td></tr>
<% } %>
</tbody>
</table>

<h2>Errors</h2>
<% if (it.errors.length === 0) { %>
<p id="no-errors">No errors.</p>
<% } else { %>
<table id="errors" class="errors">
<thead><tr><th>Collector</th><th>Type</th><th>HTTP</th><th>Attempts</th><th>Message</th></tr></thead>
<tbody>
<% for (const e of it.errors) { %>
<tr data-collector="<%= e.name %>"><td><%= e.name %></td><td><%= e.type %></td><td class="num"><%= e.http %></td><td class="num"><%= e.attempts %></td><td class="message"><%= e.message %></td></tr>
<% } %>
</tbody>
</table>
<% } %>
`;
