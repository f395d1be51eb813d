// edge-run console: plain JavaScript, no framework, nothing loaded from another host.
// Every data call carries the admin bearer token kept in this tab's sessionStorage.
"use strict";

const TOKEN_KEY = "edge-run-console-token";
const HISTORY = 90;          // queue samples kept per queue (one every 2 s: 3 minutes)
const LIVE_MAX = 300;        // live feed rows kept
const PAGE_SIZE = 25;        // KV keys per page

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  meta: null,                // GET /_edge/api/routes
  kv: { binding: "", prefix: "", cursors: [""], page: 0, next: null, key: null, bytes: null, view: "text" },
  queues: { counts: [], history: {}, selected: null, timer: null },
  live: { paused: false, rows: 0, controller: null, retry: null },
};

const $ = (sel) => document.querySelector(sel);
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}
function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}
// A short-lived message; a new one replaces the one shown.
function notify(message, isError) {
  const status = $("#status");
  status.replaceChildren();
  const box = el("div", { class: isError ? "error" : "" }, message);
  status.append(box);
  setTimeout(() => box.remove(), isError ? 6000 : 3000);
}
function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: columns, class: "note" }, empty))]));
}
const iso = (unixSeconds) => new Date(unixSeconds * 1000).toISOString().replace(".000Z", "Z");
const enc = encodeURIComponent;

// --- HTTP ------------------------------------------------------------------------------------

class HTTPError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + state.token }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers, cache: "no-store" }));
  if (response.status === 401) { askToken("The token was refused (401). Enter it again."); throw new HTTPError(401, "unauthorized"); }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { const body = await response.json(); if (body.error) message = response.status + ": " + body.error; } catch (_) {}
    throw new HTTPError(response.status, message);
  }
  return response;
}
const apiJSON = async (path, options) => (await api(path, options)).json();

// --- token and start-up -----------------------------------------------------------------------

function askToken(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  stopLive();
  clearInterval(state.queues.timer);
  $("#app").hidden = true;
  $("#tabs").hidden = true;
  $("#forget-token").hidden = true;
  $("#login").hidden = false;
  if (message) notify(message, true);
  $("#token-input").focus();
}

async function start() {
  if (!state.token) { askToken(); return; }
  try {
    state.meta = await apiJSON("/_edge/api/routes");
  } catch (e) {
    if (e.status !== 401) notify("Could not load the manifest: " + e.message, true);
    return;
  }
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#tabs").hidden = false;
  $("#forget-token").hidden = false;
  $("#manifest-name").textContent = state.meta.name || "";
  document.title = "edge-run console · " + (state.meta.name || "");
  renderRoutes();
  setupKV();
  setupQueues();
  loadCrons();
  startLive();
  showTab();
}

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("#token-input").value.trim();
  $("#token-input").value = "";
  sessionStorage.setItem(TOKEN_KEY, state.token);
  start();
});
$("#forget-token").addEventListener("click", () => askToken());

// --- tabs -------------------------------------------------------------------------------------

function showTab() {
  const name = (location.hash || "#routes").slice(1);
  for (const section of document.querySelectorAll(".tab")) section.hidden = section.id !== "tab-" + name;
  for (const link of document.querySelectorAll("#tabs a")) link.classList.toggle("active", link.dataset.tab === name);
  if (name === "crons" && state.meta) loadCrons();
  if (name === "queues" && state.meta) drawChart();
}
window.addEventListener("hashchange", showTab);

// --- routes -----------------------------------------------------------------------------------

function renderRoutes() {
  const m = state.meta;
  fill($("#routes-table tbody"), m.routes.map((r) =>
    el("tr", {}, el("td", { class: "mono" }, r.method), el("td", { class: "mono" }, r.path), el("td", {}, r.function),
      el("td", { class: "mono" }, r.handler), el("td", {}, r.auth || ""))), "No HTTP routes.", 5);
  fill($("#functions-table tbody"), m.functions.map((f) => {
    const triggers = [];
    if (f.routes.length) triggers.push(f.routes.length + (f.routes.length === 1 ? " route" : " routes"));
    for (const q of f.consumes || []) triggers.push("queue " + q);
    for (const c of f.crons || []) triggers.push("cron " + c);
    return el("tr", {}, el("td", {}, f.name), el("td", { class: "mono" }, f.handler), el("td", {}, triggers.join(", ") || "—"));
  }), "No functions.", 3);
}

// --- KV browser -------------------------------------------------------------------------------

const kvPath = (binding, rest) => state.meta.admin.kv + "/" + enc(binding) + rest;

function setupKV() {
  const bindings = state.meta.kv_namespaces;
  const usable = state.meta.admin.kv && bindings.length > 0;
  $("#kv-missing").hidden = !!usable;
  $("#kv-browser").hidden = !usable;
  if (!usable) return;
  $("#kv-binding").replaceChildren(...bindings.map((b) => el("option", { value: b }, b)));
  state.kv.binding = bindings[0];
  listKeys(true);
}

async function listKeys(reset) {
  const kv = state.kv;
  if (reset) { kv.cursors = [""]; kv.page = 0; }
  const cursor = kv.cursors[kv.page];
  const query = "?limit=" + PAGE_SIZE + "&prefix=" + enc(kv.prefix) + (cursor ? "&cursor=" + enc(cursor) : "");
  let result;
  try { result = await apiJSON(kvPath(kv.binding, "/keys" + query)); } catch (e) { if (e.status !== 401) notify("KV list: " + e.message, true); return; }
  kv.next = result.list_complete ? null : result.cursor;
  fill($("#kv-keys tbody"), result.keys.map((k) =>
    el("tr", { class: "clickable" + (k.name === kv.key ? " selected" : ""), "data-key": k.name, onclick: () => viewKey(k.name) },
      el("td", { class: "mono wrap" }, k.name), el("td", { class: "note" }, k.expiration ? iso(k.expiration) : "never"))),
    kv.prefix ? "No keys with prefix \u201c" + kv.prefix + "\u201d." : "No keys.", 2);
  $("#kv-page").textContent = "page " + (kv.page + 1) + " · " + result.keys.length + (result.keys.length === 1 ? " key" : " keys");
  $("#kv-prev").disabled = kv.page === 0;
  $("#kv-next").disabled = !kv.next;
}

$("#kv-search").addEventListener("submit", (event) => {
  event.preventDefault();
  state.kv.prefix = $("#kv-prefix").value;
  listKeys(true);
});
$("#kv-binding").addEventListener("change", () => { state.kv.binding = $("#kv-binding").value; closeValue(); listKeys(true); });
$("#kv-next").addEventListener("click", () => {
  const kv = state.kv;
  if (!kv.next) return;
  kv.cursors[kv.page + 1] = kv.next;
  kv.page += 1;
  listKeys(false);
});
$("#kv-prev").addEventListener("click", () => { if (state.kv.page > 0) { state.kv.page -= 1; listKeys(false); } });

function closeValue() { state.kv.key = null; $("#kv-value").hidden = true; }

async function viewKey(key) {
  const kv = state.kv;
  let response;
  try { response = await api(kvPath(kv.binding, "/values/" + enc(key))); } catch (e) { if (e.status !== 401) notify("KV get: " + e.message, true); return; }
  kv.key = key;
  kv.bytes = new Uint8Array(await response.arrayBuffer());
  kv.metadata = response.headers.get("X-Edge-Metadata");
  kv.expiration = response.headers.get("X-Edge-Expiration");
  kv.contentType = response.headers.get("Content-Type");
  for (const row of document.querySelectorAll("#kv-keys tbody tr")) row.classList.toggle("selected", row.dataset.key === key);
  let text = null;
  try { text = new TextDecoder("utf-8", { fatal: true }).decode(kv.bytes); } catch (_) {}
  kv.text = text;
  let json = null;
  if (text !== null) { try { json = JSON.parse(text); } catch (_) {} }
  kv.json = json;
  kv.view = json !== null ? "json" : text !== null ? "text" : "hex";
  $("#kv-value-key").textContent = key;
  const facts = [["Binding", kv.binding], ["Size", kv.bytes.length + (kv.bytes.length === 1 ? " byte" : " bytes")],
    ["Expires", kv.expiration ? iso(Number(kv.expiration)) + " (" + kv.expiration + ")" : "never"],
    ["Metadata", kv.metadata || "none"]];
  $("#kv-value-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: k === "Metadata" ? "mono" : "" }, v)]));
  $("#kv-value").hidden = false;
  renderValue();
}

function hexDump(bytes) {
  const lines = [];
  const shown = Math.min(bytes.length, 64 * 1024);
  for (let offset = 0; offset < shown; offset += 16) {
    const slice = bytes.subarray(offset, Math.min(offset + 16, shown));
    const hex = Array.from(slice, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = Array.from(slice, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(offset.toString(16).padStart(8, "0") + "  " + hex.padEnd(47, " ") + "  " + ascii);
  }
  if (bytes.length > shown) lines.push("… " + (bytes.length - shown) + " more bytes");
  return lines.join("\n");
}

function renderValue() {
  const kv = state.kv;
  for (const b of document.querySelectorAll("#kv-view button")) {
    b.classList.toggle("on", b.dataset.view === kv.view);
    b.disabled = (b.dataset.view === "json" && kv.json === null) || (b.dataset.view === "text" && kv.text === null);
  }
  let out;
  if (kv.view === "json") out = JSON.stringify(kv.json, null, 2);
  else if (kv.view === "text") out = kv.text;
  else out = hexDump(kv.bytes);
  $("#kv-value-body").textContent = out;
}

for (const b of document.querySelectorAll("#kv-view button")) {
  b.addEventListener("click", () => { state.kv.view = b.dataset.view; renderValue(); });
}

$("#kv-edit").addEventListener("click", () => {
  const kv = state.kv;
  $("#kv-put-key").value = kv.key;
  $("#kv-put-value").value = kv.text !== null ? kv.text : "";
  $("#kv-put-metadata").value = kv.metadata || "";
  $("#kv-put-value").focus();
});

$("#kv-delete").addEventListener("click", async () => {
  const kv = state.kv;
  if (!kv.key || !confirm("Delete \u201c" + kv.key + "\u201d from " + kv.binding + "?")) return;
  try { await api(kvPath(kv.binding, "/values/" + enc(kv.key)), { method: "DELETE" }); } catch (e) { if (e.status !== 401) notify("KV delete: " + e.message, true); return; }
  notify("Deleted " + kv.key);
  closeValue();
  listKeys(false);
});

$("#kv-put").addEventListener("submit", async (event) => {
  event.preventDefault();
  const kv = state.kv;
  const key = $("#kv-put-key").value;
  const metadata = $("#kv-put-metadata").value.trim();
  const ttl = $("#kv-put-ttl").value.trim();
  if (metadata) { try { JSON.parse(metadata); } catch (_) { notify("Metadata must be JSON", true); return; } }
  const headers = { "Content-Type": "application/octet-stream" };
  if (metadata) headers["X-Edge-Metadata"] = metadata;
  const query = ttl ? "?expiration_ttl=" + enc(ttl) : "";
  try {
    await api(kvPath(kv.binding, "/values/" + enc(key) + query), { method: "PUT", headers, body: $("#kv-put-value").value });
  } catch (e) { if (e.status !== 401) notify("KV put: " + e.message, true); return; }
  notify("Stored " + key);
  for (const field of ["#kv-put-key", "#kv-put-value", "#kv-put-metadata", "#kv-put-ttl"]) $(field).value = "";
  await listKeys(false);
  viewKey(key);
});

// --- queues -----------------------------------------------------------------------------------

const queueInfo = (name) => state.meta.queues.find((q) => q.name === name) || { name };

function setupQueues() {
  const usable = !!state.meta.admin.queues;
  $("#queues-missing").hidden = usable;
  $("#queues-view").hidden = !usable;
  if (!usable) return;
  $("#queue-redrive-to").replaceChildren(...state.meta.queues.map((q) => el("option", { value: q.name }, q.name)));
  clearInterval(state.queues.timer);
  sampleQueues();
  state.queues.timer = setInterval(sampleQueues, 2000);
}

async function sampleQueues() {
  if (!state.token) return;
  let counts;
  try { counts = await apiJSON(state.meta.admin.queues); } catch (e) { return; }
  const now = Date.now();
  state.queues.counts = counts;
  for (const q of counts) {
    const h = state.queues.history[q.name] || (state.queues.history[q.name] = []);
    h.push({ t: now, pending: q.pending + q.delayed, in_flight: q.in_flight, dead_lettered: q.dead_lettered });
    if (h.length > HISTORY) h.shift();
  }
  renderQueues();
}

// x of a sample taken at `t` on a chart from `left` to `right`: the samples kept span the width
// (at least 10 s), the newest at the right edge.
function timeScale(h, left, right) {
  const last = h.length ? h[h.length - 1].t : 0;
  const first = Math.min(h.length ? h[0].t : 0, last - 10000);
  return (t) => left + (t - first) * (right - left) / (last - first);
}

function sparkline(name) {
  const h = state.queues.history[name] || [];
  const box = svg("svg", { class: "spark", viewBox: "0 0 120 24" });
  const max = Math.max(1, ...h.map((s) => s.pending + s.in_flight));
  const x = timeScale(h, 1, 119);
  const points = h.map((s) => x(s.t).toFixed(1) + "," + (22 - (s.pending + s.in_flight) * 20 / max).toFixed(1));
  if (points.length > 1) box.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: "#1f5fbf", "stroke-width": "1.5" }));
  return box;
}

function renderQueues() {
  const rows = state.queues.counts.map((q) => {
    const info = queueInfo(q.name);
    const consumer = info.consumer ? info.consumer + (info.dead_letter_queue ? " → DLQ " + info.dead_letter_queue : "") : "—";
    return el("tr", { class: "clickable" + (q.name === state.queues.selected ? " selected" : ""), "data-queue": q.name, onclick: () => selectQueue(q.name) },
      el("td", {}, q.name), el("td", { class: "note" }, consumer), el("td", { class: "num" }, q.pending), el("td", { class: "num" }, q.delayed),
      el("td", { class: "num" }, q.in_flight), el("td", { class: "num" + (q.dead_lettered ? " outcome-bad" : "") }, q.dead_lettered), el("td", {}, sparkline(q.name)));
  });
  fill($("#queues-table tbody"), rows, "No queues.", 7);
  if (state.queues.selected) drawChart();
}

function selectQueue(name) {
  state.queues.selected = name;
  $("#queue-detail").hidden = false;
  $("#queue-detail-name").textContent = name;
  const info = queueInfo(name);
  $("#queue-peek-dead").textContent = info.dead_letter_queue ? "Peek DLQ " + info.dead_letter_queue : "Peek dead letters";
  const target = state.meta.queues.find((q) => q.dead_letter_queue === name);
  $("#queue-redrive-to").value = target ? target.name : name;
  $("#queue-messages tbody").replaceChildren();
  renderQueues();
  peek(name, false);
}

function drawChart() {
  const chart = $("#queue-chart");
  const name = state.queues.selected;
  if (!chart || !name) return;
  const h = state.queues.history[name] || [];
  const W = 600, H = 160, L = 36, B = 18, T = 8;
  const series = ["dead_lettered", "in_flight", "pending"];  // pending drawn last, on top
  const max = Math.max(1, ...h.flatMap((s) => series.map((k) => s[k])));
  const xt = timeScale(h, L, W - 8);
  const y = (v) => H - B - v * (H - B - T) / max;
  const parts = [svg("line", { x1: L, y1: H - B, x2: W - 8, y2: H - B, class: "axis" }), svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" })];
  for (const v of [0, max]) {
    const label = svg("text", { x: L - 6, y: y(v) + 3, "text-anchor": "end" });
    label.textContent = v;
    parts.push(label);
  }
  const span = svg("text", { x: W - 8, y: H - 4, "text-anchor": "end" });
  span.textContent = h.length > 1 ? "last " + Math.round((h[h.length - 1].t - h[0].t) / 1000) + " s" : "sampling every 2 s";
  parts.push(span);
  const colors = { pending: "#1f5fbf", in_flight: "#9a6700", dead_lettered: "#b3261e" };
  for (const k of series) {
    if (h.length === 0) break;
    const points = h.map((s) => xt(s.t).toFixed(1) + "," + y(s[k]).toFixed(1));
    if (points.length === 1) points.unshift(L + "," + y(h[0][k]).toFixed(1));
    parts.push(svg("polyline", { points: points.join(" "), fill: "none", stroke: colors[k], "stroke-width": "2", "data-series": k }));
  }
  chart.replaceChildren(...parts);
}

async function peek(name, deadLetters) {
  const info = queueInfo(name);
  let path = state.meta.admin.queues + "/" + enc(name) + "/messages?limit=50";
  let title = name;
  if (deadLetters && info.dead_letter_queue) { path = state.meta.admin.queues + "/" + enc(info.dead_letter_queue) + "/messages?limit=50"; title = info.dead_letter_queue; }
  else if (deadLetters) { path += "&dead_letters=true"; title = name + " (dead letters)"; }
  let result;
  try { result = await apiJSON(path); } catch (e) { if (e.status !== 401) notify("Peek: " + e.message, true); return; }
  $("#queue-messages-title").textContent = "Messages in " + title;
  fill($("#queue-messages tbody"), result.messages.map((m) =>
    el("tr", {}, el("td", { class: "mono" }, m.id), el("td", { class: "num" }, m.attempts), el("td", { class: "note" }, m.timestamp),
      el("td", { class: "mono wrap" }, typeof m.body === "string" && m.content_type !== "json" ? m.body : JSON.stringify(m.body)),
      el("td", { class: "wrap error-text" }, m.last_error || ""))), "No messages.", 5);
}

$("#queue-peek").addEventListener("click", () => peek(state.queues.selected, false));
$("#queue-peek-dead").addEventListener("click", () => peek(state.queues.selected, true));
$("#queue-send").addEventListener("submit", async (event) => {
  event.preventDefault();
  let body;
  try { body = JSON.parse($("#queue-send-body").value); } catch (_) { notify("The body must be JSON", true); return; }
  try {
    const answer = await apiJSON(state.meta.admin.queues + "/" + enc(state.queues.selected) + "/messages",
      { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ body, content_type: "json" }) });
    notify("Sent " + answer.id);
  } catch (e) { if (e.status !== 401) notify("Send: " + e.message, true); return; }
  sampleQueues();
  peek(state.queues.selected, false);
});
$("#queue-redrive").addEventListener("click", async () => {
  const from = state.queues.selected;
  const to = $("#queue-redrive-to").value;
  try {
    const answer = await apiJSON(state.meta.admin.queues + "/" + enc(from) + "/redrive",
      { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ to }) });
    notify("Moved " + answer.moved + (answer.moved === 1 ? " message" : " messages") + " from " + from + " to " + to);
  } catch (e) { if (e.status !== 401) notify("Redrive: " + e.message, true); return; }
  sampleQueues();
  peek(from, false);
});

// --- crons ------------------------------------------------------------------------------------

async function loadCrons() {
  let result;
  try { result = await apiJSON("/_edge/api/crons"); } catch (e) { if (e.status !== 401) notify("Crons: " + e.message, true); return; }
  $("#crons-mode").textContent = result.test_scheduled
    ? "serve --test-scheduled: \u201cRun now\u201d runs a schedule's functions at once, as /__scheduled does."
    : "Start serve with --test-scheduled to run a schedule now from here.";
  fill($("#crons-table tbody"), result.crons.map((c) =>
    el("tr", {}, el("td", { class: "mono" }, c.schedule), el("td", {}, c.function), el("td", { class: "mono" }, c.handler),
      el("td", {}, c.next_run || "—"),
      el("td", {}, result.test_scheduled ? el("button", { type: "button", class: "primary", "data-cron": c.schedule, onclick: () => runCron(c.schedule) }, "Run now") : ""))),
    "No crons in this manifest.", 5);
}

async function runCron(schedule) {
  try {
    const answer = await apiJSON("/_edge/api/crons/run?cron=" + enc(schedule), { method: "POST" });
    notify("Ran " + answer.ran + " function" + (answer.ran === 1 ? "" : "s") + " for " + schedule);
  } catch (e) { if (e.status !== 401) notify("Run: " + e.message, true); }
}

// --- live feed (GET /_edge/tail, read with fetch: EventSource cannot send a bearer token) ------

function stopLive() {
  if (state.live.controller) state.live.controller.abort();
  state.live.controller = null;
  clearTimeout(state.live.retry);
}

async function startLive() {
  stopLive();
  const controller = new AbortController();
  state.live.controller = controller;
  let response;
  try {
    response = await fetch("/_edge/tail", { headers: { Authorization: "Bearer " + state.token, Accept: "text/event-stream" }, signal: controller.signal });
  } catch (e) {
    if (!controller.signal.aborted) retryLive("disconnected");
    return;
  }
  if (!response.ok || !response.body) {
    $("#live-state").textContent = response.status === 404 ? "no live feed on this server" : "live feed refused: " + response.status;
    if (response.status !== 404 && response.status !== 401) retryLive("refused");
    return;
  }
  $("#live-state").textContent = "connected";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).replace(/\r$/, "");
        buffer = buffer.slice(newline + 1);
        if (line.startsWith("data:")) {
          try { addLive(JSON.parse(line.slice(5).trim())); } catch (_) {}
        }
      }
    }
  } catch (_) {}
  if (!controller.signal.aborted) retryLive("disconnected");
}

function retryLive(why) {
  $("#live-state").textContent = why + ", reconnecting…";
  clearTimeout(state.live.retry);
  state.live.retry = setTimeout(() => { if (state.token) startLive(); }, 2000);
}

// Events: {"type":"request"|"delivery"|"scheduled"|"dropped", "time", …} (see docs/console.md).
function describe(event) {
  const kind = event.type || "event";
  const to = event.function ? " \u2192 " + event.function : "";
  let what, outcome = event.outcome || "";
  if (kind === "request") {
    what = (event.method || "") + " " + (event.path || "") + to;
    outcome = event.status !== undefined ? String(event.status) : "";
  } else if (kind === "delivery") {
    const n = event.count !== undefined ? event.count : (event.messages || []).length;
    what = (event.queue || "") + to + " (" + n + (n === 1 ? " message)" : " messages)");
  } else if (kind === "scheduled") {
    what = (event.cron || "") + to;
  } else if (kind === "dropped") {
    what = (event.count || 0) + " events dropped: this tab read too slowly";
  } else {
    what = JSON.stringify(event);
  }
  // A delivery's handler error, else the first message's own (a dead-lettered message's last error).
  const error = event.error || ((event.messages || []).find((m) => m.error) || {}).error || "";
  const ok = kind === "request" ? !(event.status >= 400) : !/^(error|retr|dead|mixed)/.test(outcome) && kind !== "dropped";
  return { kind, what, outcome, error, ok };
}

// The console's own calls (its 2 s queue sampling, this API) would drown everything else.
function ownCall(event) {
  if (event.type !== "request" || !$("#live-hide-own").checked) return false;
  const path = event.path || "";
  const admin = state.meta ? [state.meta.admin.kv, state.meta.admin.queues].filter(Boolean) : [];
  return path.startsWith("/_edge/") || admin.some((base) => path === base || path.startsWith(base + "/"));
}

function addLive(event) {
  if (state.live.paused || ownCall(event)) return;
  const d = describe(event);
  const time = event.time || event.timestamp || new Date().toISOString();
  const ms = event.duration_ms !== undefined ? Number(event.duration_ms).toFixed(1) : "";
    const row = el("tr", { "data-kind": d.kind }, el("td", { class: "note" }, String(time).replace(/^.*T/, "").replace("Z", "")),
    el("td", {}, el("span", { class: "kind kind-" + d.kind }, d.kind === "scheduled" ? "cron" : d.kind)), el("td", { class: "mono what" }, d.what),
    el("td", {}, el("span", { class: d.ok ? "outcome-ok" : "outcome-bad" }, d.outcome), d.error ? el("div", { class: "error-detail" }, d.error) : null),
    el("td", { class: "num" }, ms));
  const body = $("#live-table tbody");
  body.prepend(row);
  while (body.children.length > LIVE_MAX) body.lastChild.remove();
  state.live.rows += 1;
  $("#live-count").textContent = state.live.rows;
}

$("#live-pause").addEventListener("click", () => {
  state.live.paused = !state.live.paused;
  $("#live-pause").textContent = state.live.paused ? "Resume" : "Pause";
});
$("#live-clear").addEventListener("click", () => { $("#live-table tbody").replaceChildren(); state.live.rows = 0; $("#live-count").textContent = "0"; });

start();
