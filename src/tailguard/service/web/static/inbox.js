// The approvals inbox: a live, sortable table decided one gate at a time or many at once.
//
// * Live: poll the feed (with the page's filters) and add or remove gates (one <tbody> each)
//   by gate id, leaving the others untouched, so a reason, an edit or a selection in progress
//   is never lost; the current sort is applied again after each update.
// * Sort: the column buttons sort by the row's data-* value (numbers where data-num is set).
// * Keys: j/k move, x selects, a/r approve or reject (the selection when there is one, else
//   the current row), o opens the details; never while typing in a field.
// * The edit form is generated from the tool's JSON Schema; its fields are checked in place
//   (type, bounds, required, list items) and an invalid form is not sent: what was typed stays.
(function () {
  "use strict";
  var table = document.getElementById("inbox");
  if (!table) { return; }
  var empty = document.getElementById("empty");
  var count = document.getElementById("pending-count");
  var live = document.getElementById("live");
  var bulk = document.getElementById("bulk");
  var selectedCount = document.getElementById("selected-count");
  var selectAll = document.getElementById("select-all");
  var url = table.getAttribute("data-feed");
  var sortKey = null;
  var sortDir = 1;
  var cursor = null;

  function gates() { return Array.prototype.slice.call(table.querySelectorAll("tbody.gate")); }

  function byId() {
    var out = {};
    gates().forEach(function (el) { out[el.getAttribute("data-gate-id")] = el; });
    return out;
  }

  function selected() {
    return gates().filter(function (g) {
      var box = g.querySelector("input[name=gate_id]");
      return box && box.checked;
    });
  }

  function refreshSelection() {
    var n = selected().length;
    if (selectedCount) { selectedCount.textContent = String(n); }
    gates().forEach(function (g) {
      var box = g.querySelector("input[name=gate_id]");
      g.classList.toggle("selected", !!(box && box.checked));
    });
    if (selectAll) {
      var boxes = table.querySelectorAll("tbody.gate input[name=gate_id]:not([disabled])");
      selectAll.checked = boxes.length > 0 && n === boxes.length;
    }
  }

  function sortRows() {
    if (!sortKey) { return; }
    var numeric = !!table.querySelector('button.sort[data-key="' + sortKey + '"][data-num]');
    var rows = gates();
    rows.sort(function (a, b) {
      var x = a.getAttribute("data-" + sortKey) || "";
      var y = b.getAttribute("data-" + sortKey) || "";
      if (numeric) { return (parseFloat(x) - parseFloat(y)) * sortDir; }
      return x.localeCompare(y) * sortDir;
    });
    rows.forEach(function (r) { table.appendChild(r); });
  }

  table.querySelectorAll("button.sort").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var key = btn.getAttribute("data-key");
      sortDir = sortKey === key ? -sortDir : 1;
      sortKey = key;
      table.querySelectorAll("button.sort").forEach(function (b) { b.removeAttribute("aria-sort"); });
      btn.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      sortRows();
    });
  });

  function setCursor(el) {
    if (cursor) { cursor.classList.remove("cursor"); }
    cursor = el;
    if (el) {
      el.classList.add("cursor");
      var main = el.querySelector("tr.main");
      main.focus({ preventScroll: true });
      main.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    var rows = gates();
    if (!rows.length) { return; }
    var i = cursor ? rows.indexOf(cursor) : -1;
    var next = i < 0 ? 0 : Math.min(rows.length - 1, Math.max(0, i + step));
    setCursor(rows[next]);
  }

  function toggleDetails(g) {
    var detail = g.querySelector("tr.detail");
    var btn = g.querySelector("button.more");
    detail.hidden = !detail.hidden;
    btn.setAttribute("aria-expanded", String(!detail.hidden));
  }

  function decide(verdict) {
    if (selected().length && bulk) {
      bulk.requestSubmit(bulk.querySelector('button[name=decision][value="' + verdict + '"]'));
      return;
    }
    if (!cursor) { return; }
    var form = cursor.querySelector("form.decide");
    if (form) { form.requestSubmit(form.querySelector('button[value="' + verdict + '"]')); }
  }

  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) { return; }
    var k = ev.key;
    if (k === "j") { move(1); } else if (k === "k") { move(-1); } else if (k === "x") {
      if (!cursor) { return; }
      var box = cursor.querySelector("input[name=gate_id]");
      if (box && !box.disabled) { box.checked = !box.checked; refreshSelection(); }
    } else if (k === "a") { decide("approve"); } else if (k === "r") { decide("reject"); } else if (k === "o") {
      if (cursor) { toggleDetails(cursor); }
    } else { return; }
    ev.preventDefault();
  });

  table.addEventListener("change", function (ev) {
    if (ev.target && ev.target.name === "gate_id") { refreshSelection(); }
  });
  if (selectAll) {
    selectAll.addEventListener("change", function () {
      table.querySelectorAll("tbody.gate input[name=gate_id]:not([disabled])").forEach(function (b) { b.checked = selectAll.checked; });
      refreshSelection();
    });
  }
  table.addEventListener("click", function (ev) {
    var t = ev.target;
    var g = t && t.closest ? t.closest("tbody.gate") : null;
    if (!g) { return; }
    if (t.closest("button.more")) { toggleDetails(g); }
    if (!t.closest("input, button, a, textarea, select, label")) { setCursor(g); }
  });

  // ---- the edit form, checked in place against the tool's schema ----
  function check(field) {
    var msg = "";
    var v = field.value;
    if (field.tagName === "TEXTAREA" && field.hasAttribute("data-min-items")) {
      var items = v.split(/[\n,]/).map(function (s) { return s.trim(); }).filter(Boolean);
      var minItems = parseInt(field.getAttribute("data-min-items"), 10) || 0;
      var minLen = parseInt(field.getAttribute("data-item-min-length"), 10) || 0;
      if (field.required && !items.length) { msg = "required"; }
      else if (items.length < minItems) { msg = "at least " + minItems + " item(s)"; }
      else if (minLen && items.some(function (s) { return s.length < minLen; })) { msg = "each item needs " + minLen + "+ characters"; }
      field.setCustomValidity(msg);
    } else if (field.getAttribute("data-json")) {
      try { if (v.trim()) { JSON.parse(v); } field.setCustomValidity(""); } catch (e) { field.setCustomValidity("not valid JSON"); }
    }
    if (!msg && !field.checkValidity()) { msg = field.validationMessage; }
    var label = field.closest("label");
    var err = label ? label.querySelector(".err") : null;
    if (err) { err.textContent = msg; }
    field.classList.toggle("invalid", !!msg);
    field.setAttribute("aria-invalid", msg ? "true" : "false");
    return !msg;
  }

  table.addEventListener("input", function (ev) {
    var f = ev.target;
    if (f && f.name && f.name.indexOf("arg.") === 0) { check(f); }
  });
  table.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("edit-form")) { return; }
    var ok = true;
    form.querySelectorAll("[name^='arg.']").forEach(function (f) { if (!check(f)) { ok = false; } });
    if (!ok) {
      ev.preventDefault();
      var first = form.querySelector(".invalid");
      if (first) { first.focus(); }
    }
  });

  // ---- live updates ----
  function apply(feed) {
    var have = byId();
    var want = {};
    feed.gates.forEach(function (g) { want[g.gate_id] = true; });
    Object.keys(have).forEach(function (id) {
      if (!want[id]) { if (have[id] === cursor) { cursor = null; } have[id].remove(); }
    });
    var previous = null;
    feed.gates.forEach(function (g) {
      var el = have[g.gate_id];
      if (!el) {
        var box = document.createElement("table");
        box.innerHTML = g.html.trim();
        el = box.querySelector("tbody");
        if (!el) { return; }
      } else if (sortKey) {
        return; // an existing row stays where the sort put it
      }
      var anchor = previous ? previous.nextElementSibling : table.querySelector("thead").nextElementSibling;
      if (el !== anchor) { table.insertBefore(el, anchor); }
      previous = el;
    });
    sortRows();
    count.textContent = String(feed.count);
    empty.hidden = feed.count > 0;
    refreshSelection();
    table.setAttribute("data-updated", String(Date.now()));
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location.assign("/signin?next=%2Fapprovals"); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (feed) {
        if (feed) { apply(feed); live.classList.remove("stale"); }
      })
      .catch(function () { live.classList.add("stale"); })
      .finally(function () { window.setTimeout(poll, 3000); });
  }
  refreshSelection();
  window.setTimeout(poll, 3000);
})();
