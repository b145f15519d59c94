// Progressive enhancement only: every page works without this file.
(function () {
  // Copy the share link.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.querySelector(button.getAttribute("data-copy"));
      var status = document.getElementById("copy-status");
      var done = function () { if (status) status.textContent = "Link copied."; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { field.select(); });
      } else { field.select(); document.execCommand("copy"); done(); }
    });
  });
  // The Web Share API where the browser has it.
  document.querySelectorAll("[data-share-url]").forEach(function (button) {
    if (!navigator.share) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.share({ url: button.getAttribute("data-share-url"),
                        text: button.getAttribute("data-share-text") }).catch(function () {});
    });
  });
  // A blast's live progress on the campaign page: poll every two seconds.
  var box = document.querySelector("[data-progress-url]");
  if (box) {
    var url = box.getAttribute("data-progress-url");
    var tick = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (!p) return;
          document.getElementById("progress-bar").value = p.percent;
          document.getElementById("run-state").textContent = p.run;
          document.getElementById("progress-text").textContent =
            p.done.toLocaleString() + " of " + p.total.toLocaleString() + " messages done, " +
            p.sent.toLocaleString() + " sent";
        }).catch(function () {});
    };
    setInterval(tick, 2000);
  }
})();
