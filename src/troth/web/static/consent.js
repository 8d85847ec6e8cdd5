// Cookie consent: activate inert scripts (type="text/plain" data-category=...) only for the
// categories the visitor accepted (cookie troth_consent, set by the banner form), and
// remove the cookies of refused categories. Without JavaScript nothing optional runs.
(function () {
  "use strict";
  function choices() {
    var out = {};
    var raw = document.cookie.split("; ").filter(function (c) { return c.indexOf("troth_consent=") === 0; })[0];
    if (!raw) { return out; }
    raw.substring("troth_consent=".length).split("&").forEach(function (kv) {
      var parts = kv.split("=");
      out[decodeURIComponent(parts[0])] = parts[1] === "1";
    });
    return out;
  }
  function removeCookies(names) {
    names.forEach(function (name) {
      if (name) { document.cookie = name + "=; Max-Age=0; path=/"; }
    });
  }
  function run() {
    var allowed = choices();
    document.querySelectorAll('script[type="text/plain"][data-category]').forEach(function (inert) {
      var cat = inert.getAttribute("data-category");
      if (allowed[cat]) {
        var live = document.createElement("script");
        for (var i = 0; i < inert.attributes.length; i++) {
          var a = inert.attributes[i];
          if (a.name !== "type") { live.setAttribute(a.name, a.value); }
        }
        inert.parentNode.replaceChild(live, inert);
      } else {
        removeCookies((inert.getAttribute("data-cookies") || "").split(","));
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", run);
  } else {
    run();
  }
})();
