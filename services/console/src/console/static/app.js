// The console's only script (served from /static: the CSP allows no inline script).
// It follows /events (Server-Sent Events) and, when something this page shows has changed,
// re-reads the page's live region from the server (?fragment=1). A lost connection is shown
// in the header; the browser reconnects by itself and the page is re-read once it is back.
(function () {
  "use strict";
  var status = document.getElementById("live-status");
  var region = document.getElementById("live-region");
  if (!status || !region) { return; }
  var kinds = (region.getAttribute("data-live") || "").split(" ").filter(Boolean);
  var plan = region.getAttribute("data-plan") || "";
  var timer = null;
  var lost = false;
  var source = null;

  function show(state, text) {
    status.className = "live " + state;
    status.textContent = text;
    document.body.setAttribute("data-live", state);
  }

  // One re-read at a time: an event that arrives while one runs asks for another after it,
  // so an older answer never overwrites a newer one.
  var busy = false;
  var again = false;

  function refresh() {
    timer = null;
    if (busy) { again = true; return; }
    busy = true;
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    fetch(url.toString(), { credentials: "same-origin", redirect: "manual" })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401) {
          window.location.assign("/login");
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (typeof html === "string") {
          region.innerHTML = html;
          region.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () { /* the next event or reconnect tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; schedule(); }
      });
  }

  function schedule() {
    if (timer === null) { timer = window.setTimeout(refresh, 200); }
  }

  function wanted(event) {
    var kind = event.alert && kinds.indexOf("alerts") >= 0 ? "alerts" : event.kind;
    if (kinds.indexOf(kind) < 0) { return false; }
    if (plan && (kind === "plan" || kind === "order")) { return event.plan_id === plan; }
    return true;
  }

  function connect() {
    source = new EventSource("/events");
    source.addEventListener("hello", function () {
      show("ok", "live");
      if (lost) { lost = false; if (kinds.length) { schedule(); } }
    });
    source.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (wanted(event)) { schedule(); }
    };
    source.onerror = function () {
      lost = true;
      show("lost", "connection lost, reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        window.setTimeout(connect, 3000);
      }
    };
  }

  show("connecting", "connecting…");
  connect();
}());
