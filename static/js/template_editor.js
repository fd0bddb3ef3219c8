/* The signature template editor: placeholder palette, live preview as any employee (rendered on the server,
   shown only in a sandboxed iframe through srcdoc), problems and email-client warnings. No HTML from the
   server is ever put into this page's DOM: text goes through textContent, the signature into the iframe. */
(function () {
  "use strict";
  var root = document.getElementById("template-editor");
  if (!root) { return; }
  var html = document.getElementById("id_html");
  var text = document.getElementById("id_text");
  var frame = document.getElementById("preview-frame");
  var textPreview = document.getElementById("preview-text");
  var problems = document.getElementById("preview-problems");
  var warnings = document.getElementById("preview-warnings");
  var who = document.getElementById("preview-who");
  var search = document.getElementById("preview-search");
  var picker = document.getElementById("preview-employee");
  var csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  var lastFocused = html;
  var timer = null;
  var sequence = 0;

  function fillList(list, items) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.textContent = item;
      list.appendChild(li);
    });
    list.parentNode.hidden = items.length === 0;  // the list and its heading
  }

  function refresh() {
    var mine = ++sequence;
    var body = new URLSearchParams();
    body.set("html", html.value);
    body.set("text", text ? text.value : "");
    body.set("employee", picker.value);
    fetch(root.getAttribute("data-preview-url"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-CSRFToken": csrf, "X-Requested-With": "fetch"}
    }).then(function (response) { return response.json(); }).then(function (data) {
      if (mine !== sequence) { return; }  // an older answer arriving late
      who.textContent = data.who || "";
      fillList(problems, data.problems || []);
      fillList(warnings, data.warnings || []);
      if (data.ok) {
        frame.srcdoc = data.html;
        textPreview.textContent = data.text;
        root.classList.remove("broken");
      } else {
        root.classList.add("broken");
      }
    }).catch(function () { fillList(problems, ["The preview could not be loaded."]); });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  function insert(field, snippet) {
    var start = field.selectionStart, end = field.selectionEnd;
    field.value = field.value.slice(0, start) + snippet + field.value.slice(end);
    field.selectionStart = field.selectionEnd = start + snippet.length;
    field.focus();
    schedule();
  }

  [html, text].forEach(function (field) {
    if (!field) { return; }
    field.addEventListener("input", schedule);
    field.addEventListener("focus", function () { lastFocused = field; });
  });

  root.querySelectorAll("[data-placeholder]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var key = button.getAttribute("data-placeholder");
      var snippet = event.shiftKey ? "{% if " + key + " %}{{ " + key + " }}{% endif %}" : "{{ " + key + " }}";
      insert(lastFocused, snippet);
    });
  });

  var searchTimer = null;
  search.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      var url = root.getAttribute("data-search-url") + "?q=" + encodeURIComponent(search.value);
      fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
        var keep = picker.options[0];
        while (picker.options.length) { picker.remove(0); }
        picker.add(keep);
        data.results.forEach(function (person) {
          var option = document.createElement("option");
          option.value = person.id;
          option.textContent = person.name + (person.email ? " <" + person.email + ">" : "");
          picker.add(option);
        });
        if (data.results.length) { picker.selectedIndex = 1; }
        refresh();
      });
    }, 250);
  });
  picker.addEventListener("change", refresh);

  refresh();
})();
