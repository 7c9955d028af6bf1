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

  function valued(tag, text, value, className) {
    const cell = el(tag, text, className);
    cell.dataset.value = value === null || value === undefined ? "" : String(value);
    return cell;
  }

  function measureText(info, value, name) {
    if (value === null || value === undefined) return "n/a";
    if (info && info.boolean) return value ? "yes" : "no";
    return fmt(value, name === "escalation_index" ? 1 : 2);
  }

  function row(run, data) {
    const tr = el("tr", undefined, "run");
    tr.dataset.key = run.key;
    tr.dataset.outcome = run.outcome;
    const first = valued("td", undefined, run.run_id);
    const link = el("a", run.run_id);
    link.href = "/run?" + new URLSearchParams({ path: run.key }).toString();
    first.appendChild(link);
    first.appendChild(el("div", run.key, "key"));
    tr.appendChild(first);
    tr.appendChild(valued("td", run.seed === null ? "n/a" : run.seed, run.seed, "num seed"));
    const specs = Object.keys(run.models).map(function (s) { return run.models[s]; });
    const models = valued("td", undefined, specs.join(" "));
    const distinct = specs.filter(function (v, i) { return specs.indexOf(v) === i; });
    lines(models, distinct.length === 1 && specs.length > 1 ? ["all: " + distinct[0]]
      : Object.keys(run.models).map(function (s) { return s + ": " + run.models[s]; }));
    tr.appendChild(models);
    tr.appendChild(valued("td", run.outcome, run.outcome, "outcome outcome-" + run.outcome));
    tr.appendChild(valued("td", run.rounds + "/" + run.rounds_planned, run.rounds, "num"));
    data.primary.forEach(function (m) {
      const value = run.measures[m];
      const cell = valued("td", measureText(data.measures[m], value, m), value, "num");
      cell.dataset.measure = m;
      tr.appendChild(cell);
    });
    const flags = valued("td", undefined, run.flags.join(" "));
    run.flags.forEach(function (flag) { flags.appendChild(el("span", flag, "flag")); });
    tr.appendChild(flags);
    return tr;
  }

  function aggregateCell(a, m) {
    const digits = m === "escalation_index" ? 1 : 2;
    const cell = valued("td", undefined, a.mean, "num agg");
    cell.dataset.measure = m;
    if (a.mean === null) {
      cell.textContent = "n/a";
      return cell;
    }
    cell.appendChild(document.createTextNode(fmt(a.mean, digits)));
    if (a.low !== null && a.high !== null) {
      cell.appendChild(document.createTextNode(" "));
      cell.appendChild(el("span", "[" + fmt(a.low, digits) + ", " + fmt(a.high, digits) + "]", "ci"));
    }
    return cell;
  }

  function groupBody(group, runs, data) {
    const body = el("tbody", undefined, "group");
    body.dataset.group = group.key;
    const head = el("tr", undefined, "group-head");
    const th = el("th", group.label + " ");
    th.colSpan = 6 + data.primary.length;
    th.scope = "rowgroup";
    th.appendChild(el("span", group.size + " run(s), " + group.finished + " finished" +
      (group.runs.length < group.size ? "; " + group.runs.length + " on this page" : ""), "note"));
    head.appendChild(th);
    body.appendChild(head);
    const agg = el("tr", undefined, "aggregate");
    const label = el("td", "mean [95% interval], " + group.finished + " finished run(s)");
    label.colSpan = 5;
    agg.appendChild(label);
    data.primary.forEach(function (m) { agg.appendChild(aggregateCell(group.aggregates[m], m)); });
    agg.appendChild(el("td"));
    body.appendChild(agg);
    group.runs.forEach(function (key) { body.appendChild(row(runs[key], data)); });
    return body;
  }

  function header(data) {
    const tr = el("tr");
    function add(key, type, text, title) {
      const th = el("th");
      th.dataset.sort = key;
      th.dataset.type = type;
      if (title) th.title = title;
      if (data.sort === key) th.setAttribute("aria-sort", "ascending");
      if (data.sort === "-" + key) th.setAttribute("aria-sort", "descending");
      const button = el("button", text);
      button.type = "button";
      th.appendChild(button);
      tr.appendChild(th);
    }
    add("run", "text", "run");
    add("seed", "num", "seed");
    add("models", "text", "models");
    add("outcome", "text", "outcome");
    add("rounds", "num", "rounds");
    data.primary.forEach(function (m) {
      add("m." + m, "num", data.measures[m].label, data.measures[m].doc);
    });
    add("flags", "text", "flags");
    return tr;
  }

  function renderCommands(commands) {
    const list = document.getElementById("commands");
    list.replaceChildren.apply(list, commands.map(function (c) {
      const li = el("li");
      li.appendChild(el("span", c.what, "what"));
      li.appendChild(document.createTextNode(": "));
      li.appendChild(el("code", c.command, "command"));
      li.appendChild(document.createTextNode(" "));
      const button = el("button", "copy", "copy");
      button.type = "button";
      button.dataset.command = c.command;
      li.appendChild(button);
      return li;
    }));
  }

  function render(data) {
    const table = document.getElementById("runs");
    const runs = {};
    data.runs.forEach(function (r) { runs[r.key] = r; });
    table.querySelector("thead").replaceChildren(header(data));
    Array.from(table.tBodies).forEach(function (b) { b.remove(); });
    data.groups.forEach(function (g) { table.appendChild(groupBody(g, runs, data)); });
    renderPagers(data);
    showIntervals(table, data.version);
    document.getElementById("shown").textContent = String(data.shown);
    document.getElementById("total").textContent = String(data.total);
    document.getElementById("empty").hidden = data.runs.length > 0;
    const bad = document.getElementById("unreadable");
    bad.replaceChildren.apply(bad, data.unreadable.map(function (u) {
      return el("li", u.key + ": " + u.reason);
    }));
    document.getElementById("unreadable-section").hidden = data.unreadable.length === 0;
    renderCommands(data.commands);
    syncFilters(data);
  }

  // Sorting and pages are the server's: a heading's click asks for the list sorted by that
  // column (again: descending), from its first page. `sort` is a column key ("seed",
  // "m.escalation_index"), "-" in front for descending.
  function setSort(key) {
    const params = new URLSearchParams(location.search);
    const current = params.get("sort") || "";
    params.set("sort", current === key ? "-" + key : key);
    params.delete("page");
    location.search = "?" + params.toString();
  }

  function pageLink(number) {
    const params = new URLSearchParams(location.search);
    params.set("page", String(number));
    return "/?" + params.toString();
  }

  function renderPagers(data) {
    const p = data.page;
    Array.from(document.querySelectorAll("nav.pager")).forEach(function (nav) {
      const range = el("span", "runs " + p.first + "-" + p.last + " of " + data.shown +
        ", page " + p.number + " of " + p.pages, "range");
      const parts = [range];
      [["previous", p.number - 1, "previous page", "prev"], ["next", p.number + 1, "next page", "next"]]
        .forEach(function (link) {
          if (link[1] < 1 || link[1] > p.pages) return;
          const a = el("a", link[2], link[0]);
          a.href = pageLink(link[1]);
          a.rel = link[3];
          parts.push(document.createTextNode(" "), a);
        });
      nav.replaceChildren.apply(nav, parts);
    });
  }

  // The 95% intervals of the groups' means come from /api/groups (computed on demand), once
  // per version of the list, and go into the aggregate rows of the groups shown.
  const intervals = { version: null, groups: {}, pending: null };

  function fillIntervals(table) {
    Array.from(table.tBodies).forEach(function (body) {
      const group = intervals.groups[body.dataset.group];
      if (!group) return;
      Array.from(body.querySelectorAll("tr.aggregate td.agg")).forEach(function (cell) {
        const m = cell.dataset.measure;
        const a = group.aggregates[m];
        if (!a) return;
        cell.replaceWith(aggregateCell(a, m));
      });
    });
  }

  function showIntervals(table, version) {
    if (intervals.version === version) {
      fillIntervals(table);
      return;
    }
    if (intervals.pending === version) return;
    intervals.pending = version;
    const params = new URLSearchParams(location.search);
    ["sort", "page", "v"].forEach(function (name) { params.delete(name); });
    fetch("/api/groups?" + params.toString(), { cache: "no-store" })
      .then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(function (data) {
        intervals.version = data.version;
        intervals.groups = {};
        data.groups.forEach(function (g) { intervals.groups[g.key] = g; });
        fillIntervals(table);
      })
      .catch(function (err) { setLive("Cannot load the intervals (" + err.message + ")."); })
      .finally(function () { intervals.pending = null; });
  }

  function copyCommand(button) {
    const text = button.dataset.command || "";
    function done(word) { button.textContent = word; }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done("copied"); },
        function () { done("select and copy"); });
    } else {
      done("select and copy");
    }
    const code = button.parentElement.querySelector("code");
    if (code) window.getSelection().selectAllChildren(code);
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
    table.addEventListener("click", function (event) {
      const th = event.target.closest("thead th");
      if (th && th.dataset.sort) setSort(th.dataset.sort);
    });
    document.getElementById("commands").addEventListener("click", function (event) {
      const button = event.target.closest("button.copy");
      if (button) copyCommand(button);
    });
    showIntervals(table, table.dataset.version);
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

  // The drill-down: a round's model calls are fetched when one of its "model calls" boxes is
  // first opened, and every text goes in with textContent.
  function pre(text, className) {
    return el("pre", text, "text " + (className || ""));
  }

  function box(summary, body, open) {
    const details = el("details");
    details.appendChild(el("summary", summary));
    details.appendChild(body);
    details.open = Boolean(open);
    return details;
  }

  function callMeta(call) {
    const parts = ["attempt " + call.attempt + (call.attempt > 1 ? " (re-ask)" : ""), call.model,
      fmt(call.latency_s, 2) + " s",
      "tokens in " + (call.input_tokens === null ? "n/a" : call.input_tokens) +
        ", out " + (call.output_tokens === null ? "n/a" : call.output_tokens),
      "cost " + (call.cost_usd === null ? "n/a" : fmt(call.cost_usd, 6) + " USD")];
    return parts.join(" · ");
  }

  function callView(call) {
    const node = el("div", undefined, "call");
    node.dataset.attempt = String(call.attempt);
    const meta = el("p", callMeta(call), "call-meta");
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(el("span", call.error === null ? "valid" : "invalid",
      call.error === null ? "valid" : "flag"));
    node.appendChild(meta);
    if (call.error !== null) node.appendChild(el("p", "validation error: " + call.error, "error call-error"));
    const sent = el("div", undefined, "sent");
    call.messages.forEach(function (m, i) {
      const d = box(m.role + " message " + (i + 1) + " (" + m.content.length + " characters)",
        pre(m.content, "message"));
      d.className = "msg msg-" + m.role;
      sent.appendChild(d);
    });
    node.appendChild(el("p", "sent " + call.messages.length + " message(s):", "note"));
    node.appendChild(sent);
    const raw = box("raw reply", pre(call.raw, "raw"), true);
    raw.className = "raw";
    node.appendChild(raw);
    if (call.parsed !== null) {
      const parsed = box("parsed result", pre(call.parsed, "parsed"));
      parsed.className = "parsed";
      node.appendChild(parsed);
    }
    return node;
  }

  function turnView(turn) {
    const node = el("div", undefined, "turn");
    node.dataset.state = turn.state;
    node.dataset.phase = turn.phase;
    const head = el("p", (turn.phase === "negotiation" ? turn.state + ", sub-turn " + turn.subturn + ": " : "") +
      turn.calls.length + " call(s), " + turn.reasks + " re-ask(s)", "turn-head");
    if (turn.fallback) {
      head.appendChild(document.createTextNode(" "));
      head.appendChild(el("span", "FALLBACK: no valid reply", "flag fallback"));
    }
    node.appendChild(head);
    if (turn.error) node.appendChild(el("p", turn.error, "error"));
    turn.calls.forEach(function (call) { node.appendChild(callView(call)); });
    return node;
  }

  function callsPage(main) {
    const rounds = {};
    function load(round) {
      if (!rounds[round]) {
        const query = new URLSearchParams({ path: main.dataset.key, round: round }).toString();
        rounds[round] = fetch("/api/calls?" + query, { cache: "no-store" }).then(function (resp) {
          if (!resp.ok) throw new Error("HTTP " + resp.status);
          return resp.json();
        });
        rounds[round].catch(function () { delete rounds[round]; });
      }
      return rounds[round];
    }
    main.addEventListener("toggle", function (event) {
      const details = event.target;
      if (!details.classList || !details.classList.contains("calls") || !details.open) return;
      if (details.dataset.loaded) return;
      const body = details.querySelector(".calls-body");
      body.replaceChildren(el("p", "loading ...", "note"));
      load(details.dataset.round).then(function (data) {
        const turns = data.turns.filter(function (t) {
          return t.phase === details.dataset.phase &&
            (!details.dataset.state || t.state === details.dataset.state);
        });
        body.replaceChildren.apply(body, turns.length ? turns.map(turnView)
          : [el("p", "No model call is recorded for this turn.", "note")]);
        details.dataset.loaded = "1";
      }).catch(function (err) {
        body.replaceChildren(el("p", "Cannot load the calls (" + err.message + ").", "error"));
      });
    }, true);
  }

  function runPage(main) {
    callsPage(main);
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
