// The live viewer's only script (dilemma view): polls the server and redraws the list, and
// reloads a running run's page when a round is added. Every value from the server goes into
// the page with textContent, never as HTML.
(function () {
  "use strict";

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function fmt(value, digits) {
    return value === null || value === undefined ? "n/a" : Number(value).toFixed(digits);
  }

  function setLive(text) {
    const live = document.getElementById("live");
    if (live) live.textContent = text;
  }

  function syncOptions(select, values, selected) {
    const wanted = [""].concat(values);
    if (selected && wanted.indexOf(selected) < 0) wanted.push(selected);
    const have = Array.from(select.options).map(function (o) { return o.value; });
    if (have.join("\u0000") === wanted.join("\u0000")) return;
    select.replaceChildren();
    wanted.forEach(function (value) {
      const option = el("option", value === "" ? "all" : value);
      option.value = value;
      option.selected = value === selected;
      select.appendChild(option);
    });
  }

  function syncFilters(data) {
    const params = new URLSearchParams(location.search);
    const outcome = document.querySelector("select[data-filter=outcome]");
    if (outcome) syncOptions(outcome, data.outcomes, params.get("outcome") || "");
    const holder = document.getElementById("factor-filters");
    Object.keys(data.factors).forEach(function (factor) {
      let select = Array.from(holder.querySelectorAll("select")).find(function (s) {
        return s.dataset.factor === factor;
      });
      if (!select) {
        const label = el("label", factor + " ");
        select = el("select");
        select.name = "c." + factor;
        select.dataset.factor = factor;
        label.appendChild(select);
        holder.appendChild(label);
      }
      syncOptions(select, data.factors[factor], params.get("c." + factor) || "");
    });
  }

  function lines(cell, entries) {
    entries.forEach(function (text) { cell.appendChild(el("div", text)); });
  }

  function row(run) {
    const tr = el("tr");
    tr.dataset.key = run.key;
    tr.dataset.outcome = run.outcome;
    const first = el("td");
    const link = el("a", run.run_id);
    link.href = "/run?" + new URLSearchParams({ path: run.key }).toString();
    first.appendChild(link);
    first.appendChild(el("div", run.key, "key"));
    tr.appendChild(first);
    tr.appendChild(el("td", run.scenario));
    const conds = el("td");
    lines(conds, Object.keys(run.conditions).map(function (f) {
      return f + " = " + run.conditions[f];
    }));
    tr.appendChild(conds);
    const models = el("td");
    lines(models, Object.keys(run.models).map(function (s) { return s + ": " + run.models[s]; }));
    tr.appendChild(models);
    tr.appendChild(el("td", run.outcome, "outcome outcome-" + run.outcome));
    tr.appendChild(el("td", run.rounds + "/" + run.rounds_planned));
    tr.appendChild(el("td", fmt(run.escalation_index, 1), "num"));
    const flags = el("td");
    run.flags.forEach(function (flag) { flags.appendChild(el("span", flag, "flag")); });
    tr.appendChild(flags);
    return tr;
  }

  function render(data) {
    document.querySelector("#runs tbody").replaceChildren.apply(
      document.querySelector("#runs tbody"), data.runs.map(row));
    document.getElementById("shown").textContent = String(data.shown);
    document.getElementById("total").textContent = String(data.total);
    document.getElementById("empty").hidden = data.runs.length > 0;
    const bad = document.getElementById("unreadable");
    bad.replaceChildren.apply(bad, data.unreadable.map(function (u) {
      return el("li", u.key + ": " + u.reason);
    }));
    document.getElementById("unreadable-section").hidden = data.unreadable.length === 0;
    syncFilters(data);
  }

  function poll(url, every, handle) {
    function tick() {
      fetch(url(), { cache: "no-store" })
        .then(function (resp) {
          if (!resp.ok) throw new Error("HTTP " + resp.status);
          return resp.json();
        })
        .then(handle)
        .catch(function (err) { setLive("Cannot reach the viewer's server (" + err.message + ")."); })
        .finally(function () { setTimeout(tick, every); });
    }
    setTimeout(tick, every);
  }

  function listPage(table) {
    const form = document.getElementById("filters");
    form.addEventListener("change", function () { form.submit(); });
    poll(function () {
      const params = new URLSearchParams(location.search);
      params.set("v", table.dataset.version);
      return "/api/runs?" + params.toString();
    }, Number(table.dataset.pollMs) || 2000, function (data) {
      table.dataset.version = data.version;
      if (!data.unchanged) render(data);
      setLive("Live: checked " + new Date().toLocaleTimeString() + ".");
    });
  }

  function runPage(main) {
    if (main.dataset.outcome !== "running") return;
    poll(function () {
      return "/api/run?" + new URLSearchParams({ path: main.dataset.key }).toString();
    }, Number(main.dataset.pollMs) || 2000, function (run) {
      if (run.outcome !== main.dataset.outcome || String(run.rounds) !== main.dataset.rounds) {
        location.reload();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const table = document.getElementById("runs");
    if (table) listPage(table);
    const main = document.getElementById("run");
    if (main) runPage(main);
  });
})();
