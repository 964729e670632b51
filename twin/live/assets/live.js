// The live view of the twin: server-sent deltas (live) or frames under a time slider (replay).
// Every asset comes from the twin's own server; no network beyond it.
"use strict";
(function () {
  const mode = document.body.dataset.mode;
  const state = { series: null };
  const live = (window.__live = { messages: 0, renders: 0, latencies_ms: [], seenWall: 0, ended: false });
  const $ = (id) => document.getElementById(id);
  const fmt = (v, d) => (v === null || v === undefined ? "–" : typeof v === "number" ? (+v.toFixed(d === undefined ? 3 : d)).toString() : String(v));
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + " %");
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const STATES = ["busy", "blocked", "starved", "down", "off_shift"];
  const plotCfg = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["sendDataToCloud"] };

  function renderMeta(m) {
    if (!m) return;
    $("scenario").textContent = m.scenario;
    $("mode").textContent = m.mode === "replay" ? "replay" : m.mode === "hil" ? "hardware in the loop" : "simulation";
    $("t-h").textContent = fmt(m.t_h, 3);
    $("duration-h").textContent = fmt(m.duration_h, 3);
    $("run-state").textContent = m.mode === "replay" ? "replay" : m.finished ? "finished" : m.running ? "running" : "waiting";
    $("run-state").className = m.finished ? "ok" : "";
  }

  function renderClock(c) {
    if (!c) return;
    const parts = [];
    if (c.pace_h_per_s) parts.push(`paced ${fmt(c.pace_h_per_s)} h/s, behind ${fmt(c.behind_h, 4)} h`);
    if (c.lag_p95_ms !== undefined) parts.push(`clock lag p95 ${fmt(c.lag_p95_ms, 1)} ms, max ${fmt(c.lag_max_ms, 1)} ms, late events ${c.late_events}`);
    $("clock").textContent = parts.length ? " · " + parts.join(" · ") : "";
    $("clock").className = c.late_events ? "fault" : "";
  }

  function renderLine(l) {
    if (!l) return;
    const box = $("line");
    const byName = Object.fromEntries((l.states || []).map((s) => [s.name, s]));
    if (box.childElementCount === 0 || box.dataset.n !== String(l.stations.length)) {
      box.textContent = "";
      l.stations.forEach((st, i) => {
        if (i) box.appendChild(el("span", { class: "arrow" }, "→"));
        const d = el("div", { class: "station", id: "station-" + st.name, "data-station": st.name });
        d.appendChild(el("div", { class: "name" }, st.name));
        d.appendChild(el("div", { class: "kind muted" }, `${st.kind} ×${st.servers}`));
        d.appendChild(el("div", { class: "bar" }));
        d.appendChild(el("div", { class: "state" }, "–"));
        d.appendChild(el("div", { class: "queue" }, "queue –"));
        box.appendChild(d);
      });
      box.dataset.n = String(l.stations.length);
    }
    for (const st of l.stations) {
      const d = $("station-" + st.name);
      const s = byName[st.name];
      if (!d || !s) continue;
      d.className = "station " + s.state;
      d.dataset.state = s.state;
      d.querySelector(".state").textContent = s.state.replace("_", " ");
      const cap = st.buffer_capacity === null ? "" : ` / ${st.buffer_capacity}`;
      d.querySelector(".queue").textContent = `queue ${s.queue}${cap}`;
      const bar = d.querySelector(".bar");
      bar.textContent = "";
      for (const k of STATES) {
        const n = s.levels[k] || 0;
        if (n) bar.appendChild(el("span", { class: k, style: `width:${(100 * n) / st.servers}%` }));
      }
    }
  }

  const CARDS = [["cells_started", "started"], ["cells_accepted", "accepted"], ["cells_rejected", "rejected"],
    ["cells_reworked", "reworked"], ["wip", "WIP"], ["quarantined", "quarantined"],
    ["throughput_per_h", "throughput / h"], ["first_pass_yield", "first-pass yield"], ["final_yield", "final yield"]];
  function renderCounts(c) {
    if (!c) return;
    const box = $("counts");
    if (!box.childElementCount) {
      for (const [k, label] of CARDS) {
        const d = el("div", { class: "card", id: "card-" + k });
        d.appendChild(el("div", { class: "v", id: "count-" + k }, "–"));
        d.appendChild(el("div", { class: "k" }, label));
        box.appendChild(d);
      }
    }
    for (const [k] of CARDS) {
      const v = c[k];
      $("count-" + k).textContent = k.endsWith("yield") ? pct(v) : k === "throughput_per_h" ? fmt(v, 2) : fmt(v, 0);
    }
    $("card-quarantined").className = "card" + (c.quarantined ? " alert" : "");
  }

  function renderSeries(s) {
    if (!s || !window.Plotly) return;
    const x = s.t_h;
    Plotly.react($("kpi-plot"), [
      { x, y: s.throughput_per_h, name: "throughput / h", mode: "lines" },
      { x, y: s.final_yield, name: "final yield", mode: "lines", yaxis: "y2" },
      { x, y: s.first_pass_yield, name: "first-pass yield", mode: "lines", yaxis: "y2", line: { dash: "dot" } },
      { x, y: s.wip, name: "WIP (cells)", mode: "lines", line: { shape: "hv" } },
    ], {
      margin: { l: 45, r: 45, t: 10, b: 35 }, legend: { orientation: "h", y: -0.25 },
      xaxis: { title: { text: "simulated time (h)" } }, yaxis: { title: { text: "cells/h, cells" }, rangemode: "tozero" },
      yaxis2: { overlaying: "y", side: "right", range: [0, 1.02], tickformat: ".0%" },
    }, plotCfg);
  }

  function renderPresses(p) {
    if (!p) return;
    const box = $("presses");
    const names = Object.keys(p);
    if (!names.length) { box.innerHTML = "<p class='muted'>no press cycle yet</p>"; return; }
    box.querySelectorAll("p.muted").forEach((e) => e.remove());
    for (const name of names) {
      const c = p[name];
      let d = $("press-" + name);
      if (!d) {
        d = el("div", { class: "press", id: "press-" + name, "data-press": name });
        d.appendChild(el("div", { class: "title" }));
        d.appendChild(el("div", { class: "plot" }));
        box.appendChild(d);
      }
      const bad = c.ok === false || (c.faults && c.faults.length);
      const title = d.querySelector(".title");
      title.textContent = `${name}: run ${c.run_id || "–"} · cells ${(c.cells || []).join(", ")} · ` +
        (c.done ? (bad ? "FAULT " + (c.faults || []).join(", ") : "done") : "running") +
        (c.device ? ` · ${c.device}` : "");
      title.className = "title" + (bad ? " fault" : "");
      const px = c.t_s || c.p_t_s || [], tx = c.t_s || c.temp_t_s || [];
      if (window.Plotly) Plotly.react(d.querySelector(".plot"), [
        { x: px, y: c.p_mpa || [], name: "pressure (MPa)", mode: "lines" },
        { x: tx, y: c.temp_c || [], name: "temperature (°C)", mode: "lines", yaxis: "y2" },
      ], {
        margin: { l: 45, r: 45, t: 5, b: 35 }, legend: { orientation: "h", y: -0.3 },
        xaxis: { title: { text: "cycle time (s)" } }, yaxis: { title: { text: "MPa" }, rangemode: "tozero" },
        yaxis2: { overlaying: "y", side: "right", title: { text: "°C" } },
      }, plotCfg);
    }
  }

  function renderDevices(devs) {
    if (!devs || !Object.keys(devs).length) return;
    const t = el("table", { id: "device-table" });
    const head = el("tr");
    for (const h of ["station", "device", "link", "state", "calls", "time-outs", "reconnects", "restarts", "call ms", "faults", "pressure MPa", "T °C"])
      head.appendChild(el("th", {}, h));
    t.appendChild(head);
    for (const [name, d] of Object.entries(devs)) {
      const tr = el("tr", { id: "device-" + name, class: d.faults && d.faults.length ? "quarantined" : "" });
      const cells = [name, d.device, d.connected ? "connected" : "down", d.state || "–", d.calls, d.timeouts,
        d.reconnects, d.restarts, fmt(d.call_ms, 1), (d.faults || []).join(", ") || "none",
        fmt(d.pressure_mpa, 2), fmt(d.temperature_c, 1)];
      cells.forEach((v, i) => {
        const td = el("td", {}, v === undefined ? "–" : String(v));
        if (i === 2) td.className = d.connected ? "ok" : "fault";
        if (i === 9) { td.className = d.faults && d.faults.length ? "fault device-faults" : "device-faults"; }
        tr.appendChild(td);
      });
      t.appendChild(tr);
    }
    const box = $("devices");
    box.textContent = "";
    box.appendChild(t);
  }

  function renderCells(cells) {
    if (!cells) return;
    const body = $("cells").querySelector("tbody");
    const seen = new Set([...body.rows].map((r) => r.dataset.cell));
    body.textContent = "";
    for (const c of cells) {
      const tr = el("tr", { "data-cell": String(c.id), class: (c.quarantined ? "quarantined " : "") + (c.outcome || "") + (seen.has(String(c.id)) ? "" : " fresh") });
      const vals = [c.id, c.lot, c.outcome + (c.quarantined ? " (quarantined)" : ""), c.decision || "–", c.reason || "–",
        fmt(c.sq_um), fmt(c.sdq), fmt(c.pv_um), fmt(c.waviness_um), fmt(c.pressure_mpa, 1), fmt(c.pressure_cv),
        fmt(c.temperature_c, 1), fmt(c.contact_fraction), fmt(c.void_fraction), fmt(c.r_int_ohm_cm2), fmt(c.p_short, 4),
        c.press || "–"];
      for (const v of vals) tr.appendChild(el("td", {}, String(v)));
      body.appendChild(tr);
    }
  }

  function renderEvents(events) {
    if (!events) return;
    const ul = $("events");
    ul.textContent = "";
    for (const e of events.slice().reverse()) {
      const when = new Date(e.wall * 1000).toLocaleTimeString();
      ul.appendChild(el("li", { class: e.severity, "data-kind": e.kind }, `${when} ${e.kind}: ${e.text}`));
    }
  }

  function latency(msg, now) {
    // event-to-page latency: wall time from each new event (cell finished, fault, link) to its rendering
    const walls = [];
    for (const c of msg.cells || []) walls.push(c.wall);
    for (const e of msg.events || []) walls.push(e.wall);
    for (const w of walls) if (w > live.seenWall) live.latencies_ms.push(now - w * 1000);
    if (walls.length) live.seenWall = Math.max(live.seenWall, ...walls);
  }

  function apply(msg) {
    if (msg.series) {
      const s = msg.series;
      if (s.from === 0 || !state.series || state.series.epoch !== s.epoch) state.series = s;
      else for (const k of Object.keys(s)) if (Array.isArray(s[k])) state.series[k] = state.series[k].concat(s[k]);
    }
    renderMeta(msg.meta); renderClock(msg.clock); renderLine(msg.line); renderCounts(msg.counts);
    if (msg.series) renderSeries(state.series);
    renderPresses(msg.presses); renderDevices(msg.devices); renderCells(msg.cells); renderEvents(msg.events);
    live.renders += 1;
  }

  function startLive() {
    const es = new EventSource("events" + location.search);
    es.addEventListener("delta", (ev) => {
      const msg = JSON.parse(ev.data);
      live.messages += 1;
      apply(msg);
      latency(msg, Date.now());
    });
    es.addEventListener("end", () => { live.ended = true; es.close(); $("run-state").textContent = "finished (server closed)"; });
    es.onerror = () => { if (!live.ended) $("run-state").textContent = "reconnecting"; };
  }

  async function startReplay() {
    const q = location.search;
    const meta = await (await fetch("state" + q)).json();
    const slider = $("slider");
    $("replay").hidden = false;
    slider.min = String(meta.start_h);
    slider.max = String(meta.end_h);
    slider.value = String(meta.end_h);
    let pending = null, busy = false;
    async function show(t) {
      if (busy) { pending = t; return; }
      busy = true;
      try {
        const frame = await (await fetch(`frame?t=${t}${q ? "&" + q.slice(1) : ""}`)).json();
        $("slider-h").textContent = fmt(frame.meta.t_h, 3);
        apply(frame);
        document.body.dataset.frame = String(frame.meta.t_h);
      } finally {
        busy = false;
        if (pending !== null) { const p = pending; pending = null; show(p); }
      }
    }
    slider.addEventListener("input", () => show(slider.value));
    await show(meta.end_h);
  }

  if (mode === "replay") startReplay(); else startLive();
})();
