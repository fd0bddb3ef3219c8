/* Signet sync pages: Sync Now without a reload, a progress bar that polls every second while a run goes,
   and a client-side search of long pick lists. Plain JavaScript, no library; every page works without it. */
(function () {
  "use strict";
  if (window.signetSync) { window.signetSync.scan(); return; }

  var POLL_MS = 1000;

  function csrf(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function progressText(p) {
    if (p.status === "pending") { return "Waiting for a worker…"; }
    var phase = p.phase ? p.phase.charAt(0).toUpperCase() + p.phase.slice(1) : "Starting";
    var text = phase + ": " + p.users_processed + " users processed, " + p.pages_fetched + " pages fetched";
    if (p.expected) { text += " (about " + p.expected + " expected)"; }
    return text;
  }

  function replacePanel(panel) {
    fetch(panel.dataset.panelUrl, {credentials: "same-origin", headers: {"Accept": "text/html"}})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html.trim();
        var fresh = holder.querySelector(".sync-panel");
        if (fresh) { panel.replaceWith(fresh); bind(fresh); }
      })
      .catch(function () { /* the next page load shows the result */ });
  }

  function poll(panel) {
    if (panel.dataset.polling === "1") { return; }
    panel.dataset.polling = "1";
    var box = panel.querySelector(".sync-progress");
    var bar = box && box.querySelector(".bar span");
    var label = box && box.querySelector(".progress-text");
    if (box) { box.hidden = false; }
    function tick() {
      if (!document.body.contains(panel)) { return; }
      fetch(panel.dataset.progressUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (p) {
          if (p.active) {
            if (bar) { bar.style.width = (p.percent === null || p.percent === undefined ? 5 : p.percent) + "%"; }
            if (bar) { bar.parentNode.classList.toggle("indeterminate", p.percent === null); }
            if (label) { label.textContent = progressText(p); }
            setTimeout(tick, POLL_MS);
          } else {
            if (bar) { bar.style.width = "100%"; }
            replacePanel(panel);
          }
        })
        .catch(function () { setTimeout(tick, POLL_MS * 5); });
    }
    tick();
  }

  function bindSyncNow(panel) {
    var form = panel.querySelector(".sync-now-form");
    if (!form || form.dataset.bound === "1") { return; }
    form.dataset.bound = "1";
    var button = form.querySelector("button");
    var message = panel.querySelector(".sync-message");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (form.dataset.busy === "1") { return; }  // a double click sends one request; the server guards too
      form.dataset.busy = "1";
      button.disabled = true;
      fetch(form.action, {
        method: "POST", credentials: "same-origin",
        headers: {"Accept": "application/json", "X-CSRFToken": csrf(form)},
        body: new FormData(form)
      }).then(function (r) { return r.json(); })
        .then(function (data) {
          if (message) { message.textContent = data.message; }
          poll(panel);
        })
        .catch(function () {
          form.dataset.busy = "0";
          button.disabled = false;
          if (message) { message.textContent = "Could not start the sync; try again."; }
        });
    });
  }

  function bind(panel) {
    bindSyncNow(panel);
    if (panel.dataset.active === "1") { poll(panel); }
  }

  function bindFilterLists() {
    document.querySelectorAll("input[data-filter-list]").forEach(function (input) {
      if (input.dataset.bound === "1") { return; }
      input.dataset.bound = "1";
      var list = document.getElementById(input.dataset.filterList);
      if (!list) { return; }
      input.addEventListener("input", function () {
        var needle = input.value.trim().toLowerCase();
        list.querySelectorAll("[data-search]").forEach(function (item) {
          item.hidden = needle !== "" && item.dataset.search.toLowerCase().indexOf(needle) === -1;
        });
      });
    });
  }

  function scan() {
    document.querySelectorAll(".sync-panel").forEach(bind);
    bindFilterLists();
  }

  window.signetSync = {scan: scan};
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", scan);
  } else {
    scan();
  }
})();
