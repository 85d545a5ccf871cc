"""The run report's stylesheet and script: small, hand-written, no outside code, nothing fetched.

The script never puts data into the page as HTML: every word, neighbour and
value goes in through ``textContent`` (or an attribute set by the DOM), so a
corpus word such as ``<script>`` is shown as text. Data files are plain
scripts (``CL.rows(...)``, ``CL.words(...)``) because a page opened from
``file://`` may load scripts but not ``fetch`` JSON.
"""
from __future__ import annotations

CSS = """\
:root { --fg: #1d232b; --muted: #5f6b7a; --line: #d8dde3; --bg: #fbfcfd; --accent: #2f6db3; --bad: #b3402f;
        --ok: #2e7d4f; --warn: #9a6b00; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; }
header.top { background: #22303f; color: #fff; padding: 10px 24px; display: flex; gap: 18px; align-items: baseline;
             flex-wrap: wrap; }
header.top a { color: #cfe3ff; text-decoration: none; }
header.top .brand { font-weight: 700; font-size: 16px; color: #fff; }
main { padding: 16px 24px 40px; max-width: 1400px; }
h1 { font-size: 22px; margin: 6px 0 10px; word-break: break-word; }
h2 { font-size: 18px; margin: 26px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
a { color: var(--accent); }
p.note, .muted { color: var(--muted); }
table { border-collapse: collapse; margin: 6px 0 12px; background: #fff; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #eef2f6; font-weight: 600; white-space: nowrap; }
table.wrap th { white-space: normal; max-width: 9em; }
table.metrics td.text { overflow-wrap: anywhere; max-width: 60em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.missing { color: var(--warn); font-style: italic; }
.status-complete, .status-ok { color: var(--ok); font-weight: 600; }
.status-incomplete, .status-invalid, .status-corrupt, .status-not-rendered { color: var(--bad); font-weight: 600; }
.status-not-built, .status-skipped { color: var(--muted); font-weight: 600; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 150px; }
.card .v { font-size: 18px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 12px; }
img.plot { max-width: 100%; border: 1px solid var(--line); background: #fff; margin: 6px 0; }
img.plot.narrow { max-width: min(100%, 900px); }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 6px 0; }
.controls input[type=search], .controls input[type=text] { padding: 4px 8px; min-width: 220px; }
th.sortable { cursor: pointer; user-select: none; }
th.sortable:hover { background: #e2e9f1; }
th.sorted-asc::after { content: " \\25B2"; font-size: 10px; }
th.sorted-desc::after { content: " \\25BC"; font-size: 10px; }
.search { position: relative; display: inline-block; }
.search input { min-width: 340px; padding: 5px 9px; font-size: 14px; }
.search ul { position: absolute; z-index: 5; list-style: none; margin: 2px 0 0; padding: 0; background: #fff;
             border: 1px solid var(--line); min-width: 260px; max-height: 360px; overflow-y: auto; }
.search li a { display: block; padding: 3px 8px; text-decoration: none; }
.search li a:hover { background: #eef2f6; }
.slices { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.slices table { min-width: 210px; }
.scroll { overflow-x: auto; }
"""

JS = r"""
/* chronolingua run report: tables paged in the browser, word pages, search. No outside code. */
"use strict";
var CL = (function () {
  var store = {rows: {}, words: {}, meta: null, vocab: null, extra: null, waiting: []};

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) { for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]); } }
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined || (typeof v === "number" && isNaN(v))) return null;
    if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString("en") : v.toFixed(4);
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }
  function cell(tr, v, num) {
    var td = el("td", num ? {"class": "num"} : null);
    var s = fmt(v);
    if (s === null) { td.appendChild(el("span", {"class": "missing"}, "missing")); } else { td.textContent = s; }
    tr.appendChild(td);
    return td;
  }
  function load(src) {
    var s = document.createElement("script");
    s.src = src;
    s.onerror = function () { console.error("report data not found: " + src); };
    document.head.appendChild(s);
  }
  function wordHref(w) { return "word.html#" + encodeURIComponent(w); }

  /* ------------------------------------------------------------------ the change table */
  var table = {page: 0, size: 50, sortCol: null, sortDir: 1, filtered: null, all: []};

  function tableInit() {
    var meta = store.meta;
    for (var i = 0; i < meta.chunks; i++) load("data/change-" + String(i).padStart(4, "0") + ".js");
    var sel = document.getElementById("pair");
    meta.pairs.forEach(function (p, i) { sel.appendChild(el("option", {value: String(i)}, p[0] + " \u2192 " + p[1])); });
    var head = document.getElementById("change-head");
    var tr = el("tr");
    meta.columns.forEach(function (c, i) {
      var th = el("th", {"class": "sortable", "data-col": String(i), title: c.title || c.label}, c.label);
      th.addEventListener("click", function () { sortBy(i); });
      tr.appendChild(th);
    });
    head.appendChild(tr);
    ["filter", "pair", "hide-stop"].forEach(function (id) {
      document.getElementById(id).addEventListener("input", function () { table.page = 0; applyFilter(); });
    });
    document.getElementById("prev").addEventListener("click", function () { if (table.page > 0) { table.page--; render(); } });
    document.getElementById("next").addEventListener("click", function () { table.page++; render(); });
  }
  function columnsToRows(cols, keys) {  /* the data files are columnar: {key: [values]} */
    var n = cols[keys[0]].length, out = new Array(n);
    for (var i = 0; i < n; i++) { var r = new Array(keys.length); for (var k = 0; k < keys.length; k++) r[k] = cols[keys[k]][i]; out[i] = r; }
    return out;
  }
  function rowsArrived() {
    var loaded = Object.keys(store.rows).length;
    if (loaded < store.meta.chunks) { document.getElementById("count").textContent = "loading " + loaded + "/" + store.meta.chunks; return; }
    var all = [];
    for (var i = 0; i < store.meta.chunks; i++) all = all.concat(store.rows[i]);
    table.all = all;
    if (table.sortCol === null && store.meta.sort !== undefined) { table.sortCol = store.meta.sort; table.sortDir = -1; }
    applyFilter();
  }
  function applyFilter() {
    if (!table.all.length && store.meta.rows) return;
    var q = document.getElementById("filter").value.trim().toLowerCase();
    var pair = document.getElementById("pair").value;
    var hide = document.getElementById("hide-stop").checked;
    var wi = store.meta.word_col, pi = store.meta.pair_col, si = store.meta.stop_col;
    table.filtered = table.all.filter(function (r) {
      if (q && String(r[wi]).toLowerCase().indexOf(q) < 0) return false;
      if (pair !== "" && String(r[pi]) !== pair) return false;
      if (hide && si !== null && r[si]) return false;
      return true;
    });
    sortRows();
    render();
  }
  function sortBy(i) {
    if (table.sortCol === i) { table.sortDir = -table.sortDir; } else { table.sortCol = i; table.sortDir = store.meta.columns[i].num ? -1 : 1; }
    table.page = 0;
    sortRows();
    render();
  }
  function sortRows() {
    var c = table.sortCol, d = table.sortDir;
    if (c === null || !table.filtered) return;
    table.filtered.sort(function (a, b) {
      var x = a[c], y = b[c];
      var xm = (x === null || x === undefined), ym = (y === null || y === undefined);
      if (xm || ym) return xm === ym ? 0 : (xm ? 1 : -1);  /* missing values last, either way */
      return x < y ? -d : (x > y ? d : 0);
    });
  }
  function render() {
    var body = document.getElementById("change-body");
    var rows = table.filtered || [];
    var pages = Math.max(1, Math.ceil(rows.length / table.size));
    if (table.page >= pages) table.page = pages - 1;
    while (body.firstChild) body.removeChild(body.firstChild);
    var meta = store.meta;
    rows.slice(table.page * table.size, (table.page + 1) * table.size).forEach(function (r) {
      var tr = el("tr");
      meta.columns.forEach(function (c, i) {
        if (i === meta.word_col) {
          var td = el("td"); td.appendChild(el("a", {href: wordHref(r[i])}, r[i])); tr.appendChild(td);
        } else if (i === meta.pair_col) {
          var p = meta.pairs[r[i]]; cell(tr, p[0] + " \u2192 " + p[1], false);
        } else { cell(tr, r[i], c.num); }
      });
      body.appendChild(tr);
    });
    document.getElementById("count").textContent = rows.length.toLocaleString("en") + " rows; page " + (table.page + 1) + " of " + pages;
    var ths = document.querySelectorAll("#change-head th");
    for (var i = 0; i < ths.length; i++) {
      ths[i].classList.remove("sorted-asc", "sorted-desc");
      if (i === table.sortCol) ths[i].classList.add(table.sortDir > 0 ? "sorted-asc" : "sorted-desc");
    }
  }

  /* ------------------------------------------------------------------ search */
  function searchInit() {
    var box = document.getElementById("search");
    if (!box || !store.vocab) return;
    var list = document.getElementById("search-results");
    function show() {
      while (list.firstChild) list.removeChild(list.firstChild);
      var q = box.value.trim().toLowerCase();
      if (!q) { list.hidden = true; return; }
      var prefix = [], inner = [];
      for (var i = 0; i < store.vocab.length && prefix.length < 20; i++) {
        var w = store.vocab[i], lw = w.toLowerCase(), at = lw.indexOf(q);
        if (at === 0) prefix.push(w); else if (at > 0 && inner.length < 20) inner.push(w);
      }
      var hits = prefix.concat(inner).slice(0, 20);
      hits.forEach(function (w) { var li = el("li"); li.appendChild(el("a", {href: wordHref(w)}, w)); list.appendChild(li); });
      if (!hits.length) list.appendChild(el("li", {"class": "muted"}, "no word of the vocabulary matches"));
      list.hidden = false;
    }
    box.addEventListener("input", show);
    box.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter") return;
      var q = box.value.trim();
      var exact = store.vocab.indexOf(q) >= 0 ? q : null;
      var first = list.querySelector("a");
      if (exact !== null) window.location.href = wordHref(exact); else if (first) window.location.href = first.getAttribute("href");
    });
  }

  /* ------------------------------------------------------------------ word page */
  function currentWord() { return decodeURIComponent(window.location.hash.replace(/^#/, "")); }
  function wordInit() {
    window.addEventListener("hashchange", function () { showWord(); });
    showWord();
  }
  function showWord() {
    var w = currentWord();
    var title = document.getElementById("word-title");
    var out = document.getElementById("word-body");
    while (out.firstChild) out.removeChild(out.firstChild);
    title.textContent = w || "(no word given)";
    document.title = (w || "word") + " \u2014 " + store.meta.title;
    var i = store.vocab.indexOf(w);
    if (i < 0) { out.appendChild(el("p", {"class": "missing"}, "This word is not in the vocabulary of the change table.")); return; }
    var shard = Math.floor(i / store.meta.shard_size);
    if (store.words[shard]) { renderWord(w, wordData(shard, i, w)); return; }
    store.waiting.push([shard, i, w]);
    load("data/words-" + String(shard).padStart(4, "0") + ".js");
  }
  function wordData(shard, i, w) {
    var c = store.words[shard], j = i % store.meta.shard_size, meta = store.meta;
    if (!c || c.word[j] !== w) return null;
    var d = {freq: {}, change: [], stop: c.stop[j]};
    meta.slices.forEach(function (s, k) { d.freq[s] = c.freq[j][k]; });
    for (var p = 0; p < c.pair[j].length; p++) {
      var r = [c.pair[j][p]];
      meta.values.forEach(function (v) { r.push(c[v][j][p]); });
      d.change.push(r);
    }
    var x = store.extra ? store.extra[w] : null;
    if (x) { d.nb = x.nb; d.plot = x.plot; }
    return d;
  }
  function wordsArrived(shard) {
    var keep = [];
    store.waiting.forEach(function (x) {
      if (x[0] === shard) { if (x[2] === currentWord()) renderWord(x[2], wordData(shard, x[1], x[2])); } else keep.push(x);
    });
    store.waiting = keep;
  }
  function renderWord(w, d) {
    var out = document.getElementById("word-body");
    var meta = store.meta;
    while (out.firstChild) out.removeChild(out.firstChild);
    if (!d) { out.appendChild(el("p", {"class": "missing"}, "missing: no data for this word")); return; }
    if (d.stop) out.appendChild(el("p", {"class": "muted"}, "Left out of the top list (a stopword, or no letter)."));
    out.appendChild(el("h2", null, "Frequency per slice"));
    var t = el("table"), hr = el("tr"), br = el("tr");
    meta.slices.forEach(function (s) { hr.appendChild(el("th", null, s)); cell(br, d.freq[s], true); });
    t.appendChild(hr); t.appendChild(br); out.appendChild(t);
    out.appendChild(el("h2", null, "Change per slice pair"));
    t = el("table"); hr = el("tr");
    ["pair"].concat(meta.measure_labels).forEach(function (h) { hr.appendChild(el("th", null, h)); });
    t.appendChild(hr);
    (d.change || []).forEach(function (r) {
      var tr = el("tr"); var p = meta.pairs[r[0]];
      cell(tr, p[0] + " \u2192 " + p[1], false);
      for (var j = 1; j < r.length; j++) cell(tr, r[j], true);
      t.appendChild(tr);
    });
    out.appendChild(t);
    out.appendChild(el("h2", null, "Nearest neighbours in each slice"));
    if (!d.nb) {
      out.appendChild(el("p", {"class": "muted"}, "missing: the report lists neighbours for its top changed words and report.words only."));
    } else {
      var box = el("div", {"class": "slices"});
      meta.slices.forEach(function (s) {
        var nt = el("table"); var h = el("tr"); h.appendChild(el("th", {colspan: "2"}, s)); nt.appendChild(h);
        var list = d.nb[s];
        if (!list) { var tr = el("tr"); tr.appendChild(el("td", {colspan: "2", "class": "missing"}, "not in this slice")); nt.appendChild(tr); }
        (list || []).forEach(function (n) {
          var tr = el("tr"); var td = el("td");
          if (store.vocab.indexOf(n[0]) >= 0) td.appendChild(el("a", {href: wordHref(n[0])}, n[0])); else td.textContent = n[0];
          tr.appendChild(td); cell(tr, n[1], true); nt.appendChild(tr);
        });
        box.appendChild(nt);
      });
      out.appendChild(box);
    }
    out.appendChild(el("h2", null, "Trajectory"));
    if (d.plot) out.appendChild(el("img", {"class": "plot narrow", src: d.plot, alt: "trajectory of " + w}));
    else out.appendChild(el("p", {"class": "muted"}, "missing: the report draws trajectories for report.words and the first report.plot_words top words."));
  }

  return {
    meta: function (m) { store.meta = m; },
    vocab: function (v) { store.vocab = v; },
    rows: function (i, cols) { store.rows[i] = columnsToRows(cols, store.meta.keys); rowsArrived(); },
    extra: function (x) { store.extra = x; },
    words: function (i, w) { store.words[i] = w; wordsArrived(i); },
    startTable: function () { tableInit(); if (!store.meta.chunks) applyFilter(); },
    startSearch: searchInit,
    startWord: wordInit
  };
})();
"""
