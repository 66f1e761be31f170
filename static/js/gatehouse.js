// Gatehouse's only script: drag-and-drop and an upload progress bar for evidence
// forms, and push for live pages. Everything works without it (the file picker and
// Upload button post the form; live pages poll every second through htmx alone).
(function () {
  "use strict";

  function uploadForm(el) {
    return el && el.closest ? el.closest("form[data-upload]") : null;
  }

  // Drag and drop: put the dropped file in the form's file input and submit it,
  // through htmx when it is loaded (so the progress bar and in-place swap work).
  document.addEventListener("dragover", function (event) {
    var zone = event.target.closest && event.target.closest("[data-dropzone]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.add("dropzone--over");
  });
  document.addEventListener("dragleave", function (event) {
    var zone = event.target.closest && event.target.closest("[data-dropzone]");
    if (zone) zone.classList.remove("dropzone--over");
  });
  document.addEventListener("drop", function (event) {
    var zone = event.target.closest && event.target.closest("[data-dropzone]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("dropzone--over");
    var input = zone.querySelector("input[type=file]");
    if (!input || !event.dataTransfer || !event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    var form = uploadForm(zone);
    if (form) form.requestSubmit();
  });

  // Show the chosen file's name in the drop zone, so keyboard users get feedback too.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.type !== "file" || !uploadForm(input)) return;
    var text = input.closest("[data-dropzone]").querySelector(".dropzone__text");
    if (text && input.files.length) text.textContent = "Selected: " + input.files[0].name;
  });

  // Upload progress, from htmx's XHR progress events.
  function progressOf(event) {
    var form = uploadForm(event.target) || uploadForm(event.detail && event.detail.elt);
    return form ? form.querySelector("progress") : null;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var bar = progressOf(event);
    if (bar) { bar.value = 0; bar.hidden = false; }
  });
  document.addEventListener("htmx:xhr:progress", function (event) {
    var bar = progressOf(event);
    if (bar && event.detail.lengthComputable) bar.value = Math.round((100 * event.detail.loaded) / event.detail.total);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var bar = progressOf(event);
    if (bar) bar.hidden = true;
  });

  // A refused htmx request that cannot be swapped in place (403, 500, offline):
  // say so rather than fail silently.
  function notice(text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "message message--error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    box.replaceChildren(p);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (event.detail.requestConfig && event.detail.requestConfig.verb === "get") return; // a missed poll retries
    if (xhr.status === 403) notice("You are not allowed to do that. Reload the page to see what you can do.");
    else notice("That did not work (error " + xhr.status + "). Reload the page and try again.");
  });
  document.addEventListener("htmx:sendError", function (event) {
    if (event.detail.requestConfig && event.detail.requestConfig.verb === "get") return;
    notice("Gatehouse could not be reached. Check your connection and try again.");
  });

  // Push. A live page's poller (templates/includes/poller.html) asks for the live partial
  // every second. While its events stream (pages/push.py) is open, the stream says when
  // the version moved and the poller fires at once ("gatehouse:changed"); the timed polls
  // are skipped but for one every RECONCILE_MS, in case an event was missed. When the
  // stream fails, or the server answers 204 (WSGI: no push), the polls every second go on.
  // Listeners are on the document and the stream is held here, not on the element:
  // out-of-band swaps replace the poller on every change.
  var RECONCILE_MS = 30000;
  var live = { source: null, open: false, pushed: false, lastPoll: 0 };

  function poller() {
    return document.getElementById("poller");
  }

  function shownVersion(el) {
    try {
      return JSON.parse(el.getAttribute("hx-vals") || "{}").v;
    } catch (e) {
      return undefined;
    }
  }

  function openStream() {
    var el = poller();
    if (live.source || !el || !window.EventSource || !window.htmx) return;
    var url = el.getAttribute("data-events");
    if (!url) return;
    var source = new EventSource(url);
    live.source = source;
    source.addEventListener("open", function () {
      live.open = true;
      live.lastPoll = Date.now();
    });
    source.addEventListener("version", function (event) {
      var current = poller();
      if (!current || event.data === shownVersion(current)) return;
      live.pushed = true;
      window.htmx.trigger(current, "gatehouse:changed");
    });
    source.addEventListener("error", function () {
      // Polling every second until the stream is back (EventSource reconnects by itself,
      // except after a 204 or an answer that is not a stream: then it stays closed).
      live.open = false;
      if (source.readyState === EventSource.CLOSED && live.source === source) live.source = null;
    });
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt.id !== "poller") return;
    if (live.open && !live.pushed && Date.now() - live.lastPoll < RECONCILE_MS) {
      event.preventDefault(); // a timed poll while the stream is open: it will say when to ask
      return;
    }
    live.pushed = false;
    live.lastPoll = Date.now();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", openStream);
  else openStream();
  window.addEventListener("pagehide", function () {
    if (live.source) live.source.close();
    live.source = null;
    live.open = false;
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) openStream(); // back from the back-forward cache
  });
})();
