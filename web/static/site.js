// Small behaviours on top of pages that work without script.
(function () {
  "use strict";
  // A double click never submits a form twice.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented) { return; }
    if (form.dataset.submitted === "1") { event.preventDefault(); return; }
    // Marked, not disabled: a disabled button would drop its own name and value from what is sent.
    form.dataset.submitted = "1";
    form.setAttribute("aria-busy", "true");
  });
  // Forms whose action cannot be undone ask first, saying what will happen (data-confirm).
  document.addEventListener("submit", function (event) {
    var text = event.target.getAttribute("data-confirm");
    if (text && !window.confirm(text)) { event.preventDefault(); event.target.dataset.submitted = ""; }
  }, true);
})();
