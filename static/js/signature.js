/* The employee's signature page: copy the signature as rich HTML + plain text, and copy-to-clipboard fields.
   Loaded as a file (the page's Content-Security-Policy allows no inline script). */
(function () {
  "use strict";

  function readPayload() {
    var node = document.getElementById("signature-data");
    return node ? JSON.parse(node.textContent) : null;
  }

  function say(status, text) {
    if (status) { status.textContent = text; }
  }

  // Fallback for browsers without ClipboardItem: select the rendered signature and let the browser copy the
  // selection, which keeps the formatting.
  function copyBySelection(container) {
    var selection = window.getSelection();
    var range = document.createRange();
    range.selectNodeContents(container);
    selection.removeAllRanges();
    selection.addRange(range);
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
    selection.removeAllRanges();
    return copied;
  }

  function copySignature(button) {
    var payload = readPayload();
    var container = document.getElementById(button.getAttribute("data-target") || "signature");
    var status = document.getElementById("copy-status");
    if (!payload || !container) { return; }
    var done = function () { say(status, "Copied. Paste it into your mail program's signature settings."); };
    var fallback = function () {
      if (copyBySelection(container)) { done(); } else { say(status, "Copying failed: select the signature and copy it by hand."); }
    };
    if (window.ClipboardItem && navigator.clipboard && navigator.clipboard.write) {
      var item = new ClipboardItem({
        "text/html": new Blob([payload.html], {type: "text/html"}),
        "text/plain": new Blob([payload.text], {type: "text/plain"})
      });
      navigator.clipboard.write([item]).then(done, fallback);
    } else {
      fallback();
    }
  }

  function copyField(button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) { return; }
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        input.select(); document.execCommand("copy"); done();
      });
    } else {
      input.select(); document.execCommand("copy"); done();
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-copy-signature], [data-copy]");
    if (!target) { return; }
    event.preventDefault();
    if (target.hasAttribute("data-copy-signature")) { copySignature(target); } else { copyField(target); }
  });

  // Forms that ask before doing something that cannot be undone.
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  // Ticking "all" on the employee list ticks every row on the page.
  document.addEventListener("change", function (event) {
    if (event.target.id === "tick-all") {
      document.querySelectorAll("input[name=employees]").forEach(function (box) { box.checked = event.target.checked; });
    }
  });
})();
