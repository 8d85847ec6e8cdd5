// A stand-in for a non-essential script (analytics, marketing): it records that it ran
// and sets its category's cookies. It only runs once the visitor accepted the category.
(function () {
  "use strict";
  var me = document.currentScript;
  var cat = me ? me.getAttribute("data-category") : "unknown";
  window.trothLoaded = window.trothLoaded || {};
  window.trothLoaded[cat] = true;
  ((me && me.getAttribute("data-cookies")) || "").split(",").forEach(function (name) {
    if (name) { document.cookie = name + "=1; path=/; SameSite=Lax"; }
  });
})();
