// The privacy centre: say that the download started (the ZIP arrives as a file, so the
// page itself does not change).
(function () {
  var form = document.getElementById("export-form");
  var status = document.getElementById("download-status");
  if (!form || !status) return;
  form.addEventListener("submit", function () {
    status.hidden = false;
  });
})();
