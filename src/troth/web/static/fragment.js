// Codes e-mailed in a link travel after the "#": browsers never send that part to the
// server, so no access log sees them. This copies the code into the page's form (field
// marked data-from-fragment), keeps it for this tab while the person signs in, and takes
// it out of the address bar and history.
(function () {
  "use strict";
  var KEY = "troth_code:" + location.pathname;
  var code = location.hash.length > 1 ? decodeURIComponent(location.hash.substring(1)) : "";
  if (code) {
    try { sessionStorage.setItem(KEY, code); } catch (e) { /* private mode: the form still works */ }
    history.replaceState(null, "", location.pathname);
  } else {
    try { code = sessionStorage.getItem(KEY) || ""; } catch (e) { code = ""; }
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-from-fragment]").forEach(function (input) {
      if (code && !input.value) { input.value = code; }
      if (input.form) {
        input.form.addEventListener("submit", function () {
          try { sessionStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
        });
      }
    });
  });
})();
