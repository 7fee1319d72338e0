/* napekit: the History page. GET /api/sessions lists past sessions in the API's order
 * (newest start first; not re-sorted here); each says how it ended, in words, and which
 * fault when there was one. Tapping one fetches GET /api/sessions/<id> and draws its
 * whole curve (stage bands when the record has stage_times, the heat-on strip from the
 * samples), with a CSV download of its samples. */
(function () {
  "use strict";
  var NK = window.NK;
  var $ = NK.$;

  function num(v, digits, unit) {
    return typeof v === "number" && isFinite(v) ? v.toFixed(digits) + unit : "–";
  }

  NK.pages.history = function () {
    var titles = {};

    async function load() {
      var results = await Promise.all([NK.api("GET", "/api/sessions"), NK.api("GET", "/api/routine")]);
      var r = results[0];
      if (r.status === 401) return;
      var list = $("sessions");
      if (!r.ok) {
        list.replaceChildren(NK.el("li", { className: "muted", text: r.data.error + " Retrying…" }));
        NK.ready();
        setTimeout(load, 2000);
        return;
      }
      if (results[1].ok && Array.isArray(results[1].data.stages)) {
        results[1].data.stages.forEach(function (s) { titles[s.id] = s.title; });
      }
      var sessions = r.data.sessions || [];
      list.replaceChildren();
      if (!sessions.length) {
        list.appendChild(NK.el("li", { className: "muted", text: "No sessions yet. They appear here after the first start." }));
      }
      sessions.forEach(function (s) { list.appendChild(item(s)); });
      NK.ready();
    }

    function item(s) {
      var detailId = "session-" + s.id;
      var outcome = s.outcome || "";
      var fault = NK.sessionFault(s);
      var facts = [
        "target " + num(s.target_c, 1, " °C"),
        "max " + num(s.max_temp_c, 1, " °C"),
        "heat dose " + num(s.dose_cem43, 1, ""),
        s.ended_at && s.started_at ? NK.fmtDuration(s.ended_at - s.started_at) : null
      ].filter(Boolean).join(" · ");
      var button = NK.el("button", { type: "button", "aria-expanded": "false", "aria-controls": detailId }, [
        NK.el("span", { className: "s-head" }, [
          NK.el("span", { className: "s-date", text: NK.fmtDate(s.started_at) }),
          NK.el("span", { className: "outcome outcome-" + outcome, text: NK.outcomeText(s) })
        ]),
        fault ? NK.el("span", { className: "s-fault", text: "Fault " + fault.code + (fault.message ? ": " + fault.message : "") }) : null,
        NK.el("span", { className: "s-facts", text: facts })
      ]);
      var detail = NK.el("div", { className: "s-detail", id: detailId, hidden: true });
      var loaded = false;
      button.addEventListener("click", async function () {
        var open = button.getAttribute("aria-expanded") !== "true";
        button.setAttribute("aria-expanded", open ? "true" : "false");
        detail.hidden = !open;
        if (open && !loaded) {
          loaded = true;
          detail.replaceChildren(NK.el("p", { className: "muted", text: "Loading the curve…" }));
          var r = await NK.api("GET", "/api/sessions/" + encodeURIComponent(s.id));
          if (!r.ok) {
            loaded = false;
            detail.replaceChildren(NK.el("p", { className: "error", text: r.data.error }));
            return;
          }
          renderDetail(detail, r.data);
        }
      });
      return NK.el("li", { className: "session" }, [button, detail]);
    }

    function renderDetail(box, s) {
      var svg = NK.svg("svg", { viewBox: "0 0 320 170", className: "chart", role: "img",
        "aria-label": "Temperature over the whole session" });
      NK.sessionChart(svg, s, titles);
      var stages = Array.isArray(s.stages) ? s.stages : [];
      box.replaceChildren(
        svg,
        NK.el("p", { className: "muted", text: "Heat on for " + NK.fmtDuration(s.heat_on_s || 0) +
          (s.hold_min ? " · warm-up " + s.hold_min + " min" : "") +
          " · " + (Array.isArray(s.samples) ? s.samples.length : 0) + " readings" }),
        NK.el("p", { text: stages.length ? "Stages done: " + stages.map(function (id) { return titles[id] || id; }).join(", ") :
          "No massage stages." }),
        NK.el("a", { className: "btn small", href: "/api/sessions/" + encodeURIComponent(s.id) + "/samples.csv",
          download: true, text: "Download the readings (CSV)" })
      );
    }

    load();
  };
})();
