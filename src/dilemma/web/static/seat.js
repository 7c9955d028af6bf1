// Reload the seat page when its turn changes or the run ends (polls a small JSON endpoint).
(function () {
  "use strict";
  var body = document.getElementById("seat");
  if (!body) { return; }
  var url = body.getAttribute("data-status");
  var turn = body.getAttribute("data-turn");
  var finished = body.getAttribute("data-finished") === "yes";
  // Count down to the turn's deadline (the server gave the seconds left when it drew the page).
  var clock = document.getElementById("countdown");
  if (clock) {
    var left = parseInt(clock.getAttribute("data-remaining"), 10);
    var shown = document.getElementById("countdown-left");
    var tick = function () {
      if (left <= 0) {
        clock.classList.add("late");
        clock.textContent = "Time is up: the turn closes without your answer (no valid decision).";
        return;
      }
      if (left <= 30) { clock.classList.add("late"); }
      shown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      left -= 1;
      window.setTimeout(tick, 1000);
    };
    tick();
  }
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
