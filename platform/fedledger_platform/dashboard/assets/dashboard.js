// fedledger dashboard: follow the federation without reloading. The server sends the version
// of its snapshot on /events (server-sent events); when it changes, the page's <main> is
// fetched again as a fragment (?fragment=main) and swapped in, keeping open <details>.
// Without JavaScript the pages are complete, only static.
(function () {
  "use strict";
  var source = document.body.getAttribute("data-events");
  var status = document.getElementById("live");
  var main = document.getElementById("main");
  if (!source || !main || !window.EventSource || !window.fetch) {
    return;
  }
  function shownVersion() {
    var page = main.querySelector(".page");
    return page ? page.getAttribute("data-version") : null;
  }
  var loading = false;
  var again = false;
  function openDetails() {
    var open = [];
    main.querySelectorAll("details[open]").forEach(function (d) {
      var row = d.closest("tr[id]");
      if (row) { open.push(row.id); }
    });
    return open;
  }
  function reopen(ids) {
    ids.forEach(function (id) {
      var row = document.getElementById(id);
      var details = row && row.querySelector("details");
      if (details) { details.open = true; }
    });
  }
  function reload() {
    if (loading) { again = true; return; }
    loading = true;
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "main");
    fetch(url.toString(), { cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var open = openDetails();
        main.innerHTML = html;
        reopen(open);
      })
      .catch(function () { again = true; })
      .finally(function () {
        loading = false;
        if (again) { again = false; window.setTimeout(reload, 500); }
      });
  }
  var events = new EventSource(source);
  events.addEventListener("open", function () {
    status.textContent = "live";
    status.className = "live on";
  });
  events.addEventListener("error", function () {
    // Each stream ends after a few seconds and the browser reopens it at once: say so only
    // when it stays closed.
    window.setTimeout(function () {
      if (events.readyState !== EventSource.OPEN) {
        status.textContent = "reconnecting";
        status.className = "live off";
      }
    }, 2000);
  });
  events.addEventListener("snapshot", function (event) {
    if (event.data !== shownVersion()) { reload(); }
  });
})();
