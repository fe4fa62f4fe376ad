// revshare console: small progressive enhancements; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A secret shown once: a Copy button (hidden without JavaScript), and a click selects it all.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      field.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });
  // A form sent back with errors: bring its first wrong field into view, ready to correct.
  var wrong = document.querySelector("[aria-invalid=true]");
  if (wrong) { wrong.focus(); }
  document.querySelectorAll("[data-select-all]").forEach(function (field) {
    field.addEventListener("focus", function () { field.select(); });
  });
});
