// Reload the seat page when its turn changes or the run ends (polls a small JSON endpoint).
(function () {
  "use strict";
  var body = document.getElementById("seat");
  if (!body) { return; }
  var url = body.getAttribute("data-status");
  var turn = body.getAttribute("data-turn");
  var finished = body.getAttribute("data-finished") === "yes";
  if (finished) { return; }
  function poll() {
    fetch(url, { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        var now = s.turn === null ? "" : String(s.turn);
        if (now !== turn || s.finished) { window.location.reload(); }
      })
      .catch(function () {})
      .then(function () { window.setTimeout(poll, 1000); });
  }
  window.setTimeout(poll, 1000);
})();
