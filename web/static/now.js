/* napekit: the Now page. Polls GET /api/status about twice a second and shows the state,
 * the reading against the target, a live chart while heating, the current stage with a
 * countdown ring, and Start / Next / Stop. Survives the kit restarting: no answer or 503
 * shows "reconnecting" and polling goes on. */
(function () {
  "use strict";
  var NK = window.NK;
  var $ = NK.$;

  var POLL_MS = 500;
  var CHART_WINDOW_MS = 15 * 60 * 1000;
  var CHART_KEY = "napekit.chart";
  var HEATING = ["preheat", "warmup"];
  var ACTIVE = ["preheat", "warmup", "ready", "massage"];

  var WORDS = {
    idle: ["Ready when you are", "The pad is off."],
    preheat: ["Warming the pad", "Heating up to the target."],
    warmup: ["Warm-up", "The pad holds the target temperature."],
    ready: ["Warm-up done", "Take the pad off, then begin the massage."],
    massage: ["Massage", ""],
    done: ["All done", "Well done. The pad is off."],
    fault: ["Fault", "The heat is off."]
  };

  function has(list, item) { return list.indexOf(item) !== -1; }

  NK.pages.now = function () {
    var last = null;        // the last status shown
    var lastKey = null;     // state/stage, to notice a change
    var lastRingKey = null;
    var holdMin = null;     // warm-up minutes, for the ring
    var warmTotal = 0;      // largest remaining_s seen in this warm-up (fallback)
    var startTemp = null;   // reading at the start of pre-heat, for the ring
    var timer = null;
    var stopped = false;
    var busy = false;
    var points = loadPoints();
    var lastPointAt = 0;
    var lastSaved = 0;

    NK.onUnpaired(function () { stopped = true; clearTimeout(timer); });
    NK.on("kit", function () { schedule(120); });

    if (!NK.local.get("guide_seen")) {
      NK.show("first-note", true);
      setTimeout(fillSafety, 300);
    }

    // ---- polling -------------------------------------------------------------------------
    function schedule(ms) {
      if (stopped) return;
      clearTimeout(timer);
      timer = setTimeout(poll, ms);
    }

    async function poll() {
      if (stopped) return;
      var r = await NK.api("GET", "/api/status");
      if (r.status === 401) return; // the pairing screen took over
      if (r.ok) render(r.data);
      else showDown(r);
      schedule(document.hidden ? 3000 : (r.ok ? POLL_MS : 1000));
    }

    document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(0); });

    function showDown(r) {
      var word = $("state-word");
      word.dataset.state = "down";
      $("reading-card").dataset.state = "down";
      NK.setText(word, "Reconnecting…");
      NK.setText("state-sub", r.status === 0 || r.status >= 500 ?
        "The kit is not answering. If it is restarting, it comes back with the heat off." :
        (r.data.error || ""));
      // No stale numbers: what the kit does now is unknown.
      NK.setText("temp", "––.–");
      NK.setText("relay", "heat unknown");
      $("relay").classList.remove("on");
      NK.show("dose", false);
      setButtons(null);
    }

    // ---- rendering -----------------------------------------------------------------------
    function render(s) {
      var state = s.state;
      var words = WORDS[state] || [state, ""];
      var word = $("state-word");
      word.dataset.state = state;
      $("reading-card").dataset.state = state;
      var title = words[0];
      var sub = words[1];
      if (state === "massage" && s.waiting) sub = "Time is up for this stage.";

      NK.setText(word, title);
      NK.setText("state-sub", sub);

      NK.setText("temp", NK.fmtTemp(s.temp_c));
      NK.setText("target", NK.fmtTemp(s.target_c));
      var relay = $("relay");
      NK.setText(relay, s.relay ? "heating" : "heat off");
      relay.classList.toggle("on", !!s.relay);
      var doseText = typeof s.dose_cem43 === "number" && has(["preheat", "warmup", "ready"], state) ?
        "Heat dose " + s.dose_cem43.toFixed(1) + " of 15" : "";
      NK.setText("dose", doseText);
      NK.show("dose", !!doseText);

      // fault
      var fault = s.fault;
      NK.show("fault", !!fault);
      if (fault) NK.setText("fault-msg", fault.message || fault.code || "");

      // a new session clears the chart
      if (state === "preheat" && last && !has(ACTIVE, last.state)) {
        points = [];
        startTemp = s.temp_c;
      }
      if (startTemp === null && state === "preheat") startTemp = points.length ? points[0].c : s.temp_c;
      if (state !== "warmup") warmTotal = 0;
      recordPoint(s);
      renderChart(s);
      renderStage(s);
      setButtons(s);

      var key = state + "/" + (s.stage_index === null || s.stage_index === undefined ? "" : s.stage_index);
      if (lastKey !== null && key !== lastKey) changed(s);
      if (state === "warmup" && (!last || last.state !== "warmup")) loadHoldMin();
      lastKey = key;
      last = s;
    }

    function stageOf(s) {
      if (s.state !== "massage" || !Array.isArray(s.stages)) return null;
      return s.stages[s.stage_index] || null;
    }

    function renderStage(s) {
      var state = s.state;
      var card = $("stage-card");
      var stage = stageOf(s);
      var phase = s.phase;
      if (!stage && !(phase && has(["preheat", "warmup", "ready"], state)) && state !== "done") {
        card.hidden = true;
        return;
      }
      card.hidden = false;
      var fraction = 0, ringText = "", ringSub = "";
      var count = "", title = "", instr = "", caution = "";
      if (stage) {
        var total = Number(stage.duration_s) || 1;
        var left = typeof s.remaining_s === "number" ? s.remaining_s : total;
        fraction = Math.max(0, Math.min(1, left / total));
        ringText = NK.fmtClock(left);
        ringSub = s.waiting ? "time is up" : "left";
        count = "Stage " + (s.stage_index + 1) + " of " + s.stages.length;
        title = stage.title;
        instr = stage.instruction;
        caution = stage.caution || "";
      } else if (state === "done") {
        fraction = 0;
        ringText = "✓";
        ringSub = "done";
        title = "Session complete";
        instr = "Sit for a moment before you get up. Drink some water if you like.";
      } else {
        title = phase.title;
        instr = phase.instruction;
        if (state === "preheat") {
          count = "Before the massage: 1 of 2";
          var tgt = s.target_c, now = s.temp_c, from = startTemp;
          if (typeof now === "number" && typeof tgt === "number") {
            if (typeof from !== "number" || from >= tgt) from = Math.min(now, tgt - 1);
            fraction = 1 - Math.max(0, Math.min(1, (now - from) / (tgt - from)));
            ringText = Math.max(0, tgt - now).toFixed(1) + "°";
            ringSub = "to go";
          } else {
            fraction = 1; ringText = "…"; ringSub = "";
          }
        } else if (state === "warmup") {
          count = "Before the massage: 2 of 2";
          var leftW = typeof s.remaining_s === "number" ? s.remaining_s : 0;
          warmTotal = Math.max(warmTotal, leftW);
          var totalW = holdMin ? holdMin * 60 : warmTotal || 1;
          fraction = Math.max(0, Math.min(1, leftW / totalW));
          ringText = NK.fmtClock(leftW);
          ringSub = "left";
        } else {
          count = "Massage next";
          fraction = 0;
          ringText = "Go";
          ringSub = "";
        }
      }
      var ring = $("ring-fg");
      var ringKey = state + "/" + s.stage_index;
      if (ringKey !== lastRingKey) {
        // A new stage starts full at once; only the countdown itself is animated.
        ring.classList.add("jump");
        ring.setAttribute("stroke-dashoffset", (100 - fraction * 100).toFixed(2));
        ring.getBoundingClientRect();
        ring.classList.remove("jump");
        lastRingKey = ringKey;
      } else {
        ring.setAttribute("stroke-dashoffset", (100 - fraction * 100).toFixed(2));
      }
      NK.setText("ring-text", ringText);
      NK.setText("ring-sub", ringSub);
      NK.setText("stage-count", count);
      NK.setText("stage-title", title || "");
      NK.setText("stage-instr", instr || "");
      NK.setText("stage-caution", caution);
      NK.show("stage-caution", !!caution);
      NK.show("stage-wait", !!(stage && s.waiting));
    }

    function setButtons(s) {
      var start = $("btn-start"), next = $("btn-next"), stop = $("btn-stop");
      var state = s ? s.state : null;
      start.disabled = busy || !(state === "idle" || state === "done");
      next.disabled = busy || !has(ACTIVE, state);
      stop.disabled = busy || !has(ACTIVE, state);
      var hint = "";
      if (has(HEATING, state)) hint = "skip warm-up";
      else if (state === "ready") hint = "begin massage";
      else if (state === "massage" && s && Array.isArray(s.stages) && s.stage_index === s.stages.length - 1) hint = "finish";
      else if (state === "massage") hint = "next stage";
      NK.setText("next-hint", hint);
      NK.show("next-hint", !!hint);
      if (hint) next.setAttribute("aria-label", "Next: " + hint);
      else next.removeAttribute("aria-label");
    }

    // ---- a stage changed: vibrate, maybe speak --------------------------------------------
    function changed(s) {
      if (!has(["warmup", "ready", "massage", "done", "fault"], s.state)) return;
      var touched = !navigator.userActivation || navigator.userActivation.hasBeenActive;
      if (navigator.vibrate && touched) {  // browsers refuse (and complain) before a tap
        try { navigator.vibrate(s.state === "fault" ? [400, 150, 400, 150, 400] : [180, 90, 180]); } catch (e) { /* ok */ }
      }
      if (NK.local.get("speak") !== "1" || !("speechSynthesis" in window)) return;
      var text = "";
      var stage = stageOf(s);
      if (stage) text = stage.title + ". " + stage.instruction;
      else if (s.state === "fault" && s.fault) text = "Fault. " + (s.fault.message || "");
      else if (s.state === "done") text = "All done.";
      else if (s.phase) text = s.phase.title + ". " + s.phase.instruction;
      if (!text) return;
      try {
        window.speechSynthesis.cancel();
        window.speechSynthesis.speak(new SpeechSynthesisUtterance(text));
      } catch (e) { /* no voice: fine */ }
    }

    async function loadHoldMin() {
      var r = await NK.api("GET", "/api/settings");
      if (r.ok && typeof r.data.hold_min === "number") holdMin = r.data.hold_min;
    }

    // ---- the live chart ------------------------------------------------------------------
    function loadPoints() {
      try {
        var raw = window.sessionStorage.getItem(CHART_KEY);
        var list = raw ? JSON.parse(raw) : [];
        var cutoff = Date.now() - CHART_WINDOW_MS;
        return Array.isArray(list) ? list.filter(function (p) { return p && p.t >= cutoff; }) : [];
      } catch (e) { return []; }
    }

    function savePoints(force) {
      var now = Date.now();
      if (!force && now - lastSaved < 5000) return;
      lastSaved = now;
      try { window.sessionStorage.setItem(CHART_KEY, JSON.stringify(points)); } catch (e) { /* ok */ }
    }

    function recordPoint(s) {
      var now = Date.now();
      if (typeof s.temp_c !== "number" || now - lastPointAt < 1000) return;
      lastPointAt = now;
      points.push({ t: now, c: s.temp_c, r: !!s.relay });
      var cutoff = now - CHART_WINDOW_MS;
      while (points.length && points[0].t < cutoff) points.shift();
      savePoints(false);
    }

    window.addEventListener("pagehide", function () { savePoints(true); });

    function renderChart(s) {
      var show = has(["preheat", "warmup", "ready"], s.state) ||
        (s.state === "fault" && points.length > 1);
      NK.show("chart-card", show);
      if (!show) return;
      var now = Date.now();
      var series = points.map(function (p) { return { x: (p.t - now) / 1000, y: p.c, relay: p.r }; });
      NK.drawChart($("chart"), series, {
        target: s.target_c,
        empty: "The chart starts with the next readings…",
        xLabel: function (x, first) {
          if (!first) return "now";
          var m = Math.round(-x / 60);
          return m >= 1 ? m + " min ago" : Math.round(-x) + " s ago";
        }
      });
    }

    // ---- buttons -------------------------------------------------------------------------
    async function command(name) {
      if (busy) return;
      busy = true;
      setButtons(last);
      NK.msg("action-msg", "");
      var r = await NK.api("POST", "/api/session/" + name, {});
      busy = false;
      if (r.ok) {
        if (r.data && r.data.state) render(r.data);
        else setButtons(last);
      } else if (r.status !== 401) {
        NK.msg("action-msg", r.data.error || "The kit refused.", "bad");
        setButtons(last);
      }
      schedule(100);
    }

    function start() {
      if (NK.local.get("guide_seen")) { command("start"); return; }
      var dialog = $("first-dialog");
      if (!dialog || typeof dialog.showModal !== "function") {
        window.location.assign("/guide");
        return;
      }
      fillSafety();
      dialog.showModal();
    }

    var safetyLoaded = false;
    async function fillSafety() {
      if (safetyLoaded) return;
      var list = $("first-safety");
      var r = await NK.api("GET", "/api/routine");
      if (!r.ok || !Array.isArray(r.data.safety)) return;
      safetyLoaded = true;
      while (list.firstChild) list.removeChild(list.firstChild);
      r.data.safety.forEach(function (line) { list.appendChild(NK.el("li", { text: line })); });
    }

    $("btn-start").addEventListener("click", start);
    $("btn-next").addEventListener("click", function () { command("next"); });
    $("btn-stop").addEventListener("click", function () { command("stop"); });
    $("first-go").addEventListener("click", function () {
      NK.local.set("guide_seen", "1");
      NK.show("first-note", false);
      $("first-dialog").close();
      command("start");
    });
    $("first-cancel").addEventListener("click", function () { $("first-dialog").close(); });

    poll();
  };
})();
