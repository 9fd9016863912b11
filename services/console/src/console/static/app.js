// The console's only script (served from /static: the CSP allows no inline script).
// It follows /events (Server-Sent Events) and, when something this page shows has changed,
// re-reads the page's live region from the server (?fragment=1). A lost connection is shown
// in the header; the browser reconnects by itself, and the page is re-read on every connect.
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

  // A field the person is typing in or has changed (a filter, the HALT confirmation) is
  // never wiped by a re-read: the re-read waits until the form is sent or left alone.
  function edited() {
    var fields = region.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i += 1) {
      var f = fields[i];
      if (f === document.activeElement && f.type !== "hidden" && f.type !== "submit") { return true; }
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) { return true; }
      } else if (f.tagName === "SELECT") {
        for (var j = 0; j < f.options.length; j += 1) {
          if (f.options[j].selected !== f.options[j].defaultSelected) { return true; }
        }
      } else if (f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  function refresh() {
    timer = null;
    if (busy) { again = true; return; }
    if (edited()) { timer = window.setTimeout(refresh, 1000); return; }
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
        if (typeof html === "string" && edited()) {
          again = true; // typed into while the answer was on its way: keep the typing
        } else if (typeof html === "string") {
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
    // On every (re)connect, re-read once: what changed between the page's rendering (or the
    // lost connection) and this subscription was not pushed to it.
    source.addEventListener("hello", function () {
      show("ok", "live");
      lost = false;
      if (kinds.length) { schedule(); }
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
        // Refused rather than lost (an expired session answers 401): a re-read of the page
        // goes to the login in that case; otherwise try again.
        source.close();
        schedule();
        window.setTimeout(connect, 3000);
      }
    };
  }

  show("connecting", "connecting…");
  connect();
}());
