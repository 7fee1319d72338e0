/* napekit: the session summary on the Now page. When a session ends (or the page opens on
 * "done"), the card shows the session's record from GET /api/sessions/<id>: how it ended,
 * how long it took, the dose, the whole temperature curve (with stage bands when the record
 * has stage_times, and the heat-on strip) and the stages done. It stays until dismissed;
 * a reload keeps it (sessionStorage). The card keeps its size while it loads, so nothing
 * below it jumps. NK.stageBands and NK.outcomeText are shared with History. */
(function () {
  "use strict";
  var NK = window.NK;
  var $ = NK.$;
  var KEY = "napekit.summary";
  var LATEST = "latest";  /* stored while the newest session's id is still being fetched */

  var OUTCOMES = {
    completed: "Completed",
    stopped: "Stopped before the end",
    fault: "Ended by a fault",
    interrupted: "Interrupted (restart or power cut)"
  };
  var TITLES = {
    completed: "Session complete",
    stopped: "Session stopped",
    fault: "Session ended by a fault",
    interrupted: "Session interrupted"
  };
  var PHASES = { preheat: "Heating", warmup: "Warm-up", ready: "Ready", massage: "Massage", done: "Done" };

  NK.outcomeText = function (s) {
    if (!s.outcome) return s.ended_at ? "Ended" : "In progress";
    return OUTCOMES[s.outcome] || s.outcome.charAt(0).toUpperCase() + s.outcome.slice(1).replace(/_/g, " ");
  };

  /* The record's fault as {code, message}, from fault: {...} or fault_code / fault_message. */
  NK.sessionFault = function (s) {
    if (s.fault && typeof s.fault === "object" && s.fault.code) return s.fault;
    if (s.fault_code) return { code: s.fault_code, message: s.fault_message || "" };
    return null;
  };

  /* stage_times: [{id, t_s}] (when each phase or stage began) -> chart bands, x from t0. */
  NK.stageBands = function (s, t0, titles) {
    var marks = Array.isArray(s.stage_times) ? s.stage_times.filter(function (m) {
      return m && typeof m.t_s === "number";
    }) : [];
    var end = typeof s.ended_at === "number" ? s.ended_at : null;
    return marks.map(function (m, i) {
      var to = i + 1 < marks.length ? marks[i + 1].t_s : (end !== null ? end : m.t_s);
      return { from: m.t_s - t0, to: to - t0, label: PHASES[m.id] || (titles && titles[m.id]) || m.id };
    });
  };

  NK.sessionChart = function (svg, s, titles) {
    var samples = Array.isArray(s.samples) ? s.samples : [];
    var t0 = samples.length ? samples[0].t_s : (s.started_at || 0);
    if (typeof s.started_at === "number" && s.started_at < t0) t0 = s.started_at;
    var series = samples.map(function (p) { return { x: p.t_s - t0, y: p.temp_c, relay: p.relay }; });
    NK.drawChart(svg, series, {
      target: s.target_c,
      bands: NK.stageBands(s, t0, titles),
      xStart: 0,
      xEnd: typeof s.ended_at === "number" ? s.ended_at - t0 : undefined,
      empty: "No readings were kept for this session.",
      xLabel: function (x) { return x < 90 ? Math.round(x) + " s" : Math.round(x / 60) + " min"; }
    });
  };

  NK.sessionFacts = function (s) {
    var facts = [NK.outcomeText(s)];
    if (typeof s.ended_at === "number" && typeof s.started_at === "number") {
      facts.push(NK.fmtDuration(s.ended_at - s.started_at));
    }
    if (typeof s.max_temp_c === "number") facts.push("up to " + s.max_temp_c.toFixed(1) + " °C");
    if (typeof s.dose_cem43 === "number") facts.push("heat dose " + s.dose_cem43.toFixed(1));
    if (typeof s.heat_on_s === "number") facts.push("heat on " + NK.fmtDuration(s.heat_on_s));
    return facts.join(" · ");
  };

  var titles = {};
  var shownId = null;
  var loading = false;

  function card(visible) { NK.show("summary-card", visible); }

  async function loadTitles() {
    if (Object.keys(titles).length) return;
    var r = await NK.api("GET", "/api/routine");
    if (r.ok && Array.isArray(r.data.stages)) r.data.stages.forEach(function (st) { titles[st.id] = st.title; });
  }

  async function show(id) {
    loading = true;
    card(true);
    var results = await Promise.all([NK.api("GET", "/api/sessions/" + encodeURIComponent(id)), loadTitles()]);
    loading = false;
    var r = results[0];
    if (!r.ok) { if (r.status === 404) dismiss(); return; }
    var s = r.data;
    shownId = s.id;
    try { window.sessionStorage.setItem(KEY, String(s.id)); } catch (e) { /* ok */ }
    NK.setText("summary-title", TITLES[s.outcome] || "Session ended");
    var fault = NK.sessionFault(s);
    NK.setText("summary-facts", NK.sessionFacts(s) + (fault ? ". Fault: " + (fault.message || fault.code) : ""));
    NK.sessionChart($("summary-chart"), s, titles);
    var stages = Array.isArray(s.stages) ? s.stages : [];
    NK.setText("summary-stages", stages.length ? "Stages done (" + stages.length + "): " +
      stages.map(function (sid) { return titles[sid] || sid; }).join(", ") : "No massage stages were done.");
  }

  function dismiss() {
    card(false);
    shownId = null;
    try { window.sessionStorage.removeItem(KEY); } catch (e) { /* ok */ }
  }

  NK.summary = {
    /* A session just ended: show the newest one. */
    open: async function () {
      if (loading) return;
      card(true);
      loading = true;
      // A reload before the record has come still brings the summary back (restore).
      try { window.sessionStorage.setItem(KEY, LATEST); } catch (e) { /* ok */ }
      var r = await NK.api("GET", "/api/sessions");
      loading = false;
      var list = r.ok && Array.isArray(r.data.sessions) ? r.data.sessions : [];
      // No session after all: forget it; the kit not answering: a reload asks again.
      if (!list.length) { if (r.ok) dismiss(); else card(false); return; }
      if (list[0].id !== shownId) show(list[0].id);
    },
    /* After a reload: the summary that was on screen and not dismissed. */
    restore: function () {
      var id = null;
      try { id = window.sessionStorage.getItem(KEY); } catch (e) { /* ok */ }
      if (id === LATEST) NK.summary.open();
      else if (id && /^\d+$/.test(id)) show(id);
    },
    close: function () { if (shownId !== null || !$("summary-card").hidden) dismiss(); }
  };

  document.addEventListener("DOMContentLoaded", function () {
    var button = $("summary-dismiss");
    if (button) button.addEventListener("click", dismiss);
  });
})();
