// The approvals inbox, live: poll the feed and add or remove cards by gate id, leaving
// cards that stay untouched (so a reason or an edit being typed is never lost).
(function () {
  "use strict";
  var list = document.getElementById("cards");
  if (!list) { return; }
  var empty = document.getElementById("empty");
  var count = document.getElementById("pending-count");
  var live = document.getElementById("live");
  var url = list.getAttribute("data-feed");

  function cardsById() {
    var out = {};
    list.querySelectorAll("[data-gate-id]").forEach(function (el) {
      out[el.getAttribute("data-gate-id")] = el;
    });
    return out;
  }

  function apply(feed) {
    var have = cardsById();
    var want = {};
    feed.gates.forEach(function (g) { want[g.gate_id] = true; });
    Object.keys(have).forEach(function (id) { if (!want[id]) { have[id].remove(); } });
    var previous = null;
    feed.gates.forEach(function (g) {
      var el = have[g.gate_id];
      if (!el) {
        var box = document.createElement("div");
        box.innerHTML = g.html.trim();
        el = box.firstElementChild;
      }
      var anchor = previous ? previous.nextElementSibling : list.firstElementChild;
      if (el !== anchor) { list.insertBefore(el, anchor); }
      previous = el;
    });
    count.textContent = String(feed.count);
    empty.hidden = feed.count > 0;
    list.setAttribute("data-updated", String(Date.now()));
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
  window.setTimeout(poll, 3000);
})();
