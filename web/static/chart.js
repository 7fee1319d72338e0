/* napekit: the SVG temperature chart (Now, the session summary and History). */
(function () {
  "use strict";
  var NK = window.NK;
  // ---- the SVG line chart (Now and History) -----------------------------------------------
  /* points: [{x, y, relay}] with x in seconds; opts: {target, xLabel(x) -> text, empty,
     bands: [{from, to, label}] (x in the same seconds: a shaded band per phase or stage),
     xStart, xEnd: widen the time axis (a whole session, beyond its first and last sample)}.
     The heat-on strip under the plot comes from the points' relay flags. */
  NK.drawChart = function (svg, points, opts) {
    opts = opts || {};
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var W = 320, H = 170, L = 34, R = 8, T = 14, B = 34;
    var pw = W - L - R, ph = H - T - B;
    var ys = points.map(function (p) { return p.y; }).filter(function (y) { return typeof y === "number"; });
    if (points.length < 2 || ys.length < 2) {
      svg.appendChild(NK.svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", className: "empty",
        text: opts.empty || "Waiting for readings…" }));
      return;
    }
    var target = typeof opts.target === "number" ? opts.target : null;
    var lo = Math.min.apply(null, ys), hi = Math.max.apply(null, ys);
    if (target !== null) { lo = Math.min(lo, target); hi = Math.max(hi, target); }
    lo = Math.floor(lo - 0.5); hi = Math.ceil(hi + 0.5);
    if (hi - lo < 4) { var mid = (hi + lo) / 2; lo = Math.floor(mid - 2); hi = lo + 4; }
    var x0 = points[0].x, x1 = points[points.length - 1].x;
    if (typeof opts.xStart === "number") x0 = Math.min(x0, opts.xStart);
    if (typeof opts.xEnd === "number") x1 = Math.max(x1, opts.xEnd);
    if (x1 - x0 < 1) x1 = x0 + 1;
    function sx(x) { return L + (x - x0) / (x1 - x0) * pw; }
    function sy(y) { return T + (hi - y) / (hi - lo) * ph; }

    (opts.bands || []).forEach(function (band, i) {
      var a = sx(Math.max(x0, band.from)), b = sx(Math.min(x1, band.to));
      if (!(b > a)) return;
      svg.appendChild(NK.svg("rect", { x: a, y: T, width: b - a, height: ph,
        className: "band band-" + (i % 2) }));
      if (b - a >= 26 && band.label) {
        svg.appendChild(NK.svg("text", { x: a + 2, y: T + 9, className: "band-label",
          text: band.label.length * 5 > b - a ? band.label.slice(0, Math.floor((b - a) / 5.5)) : band.label }));
      }
    });

    var stepY = [1, 2, 5, 10, 20].filter(function (k) { return (hi - lo) / k <= 6; })[0] || 50;
    for (var g = Math.ceil(lo / stepY) * stepY; g <= hi; g += stepY) {
      svg.appendChild(NK.svg("line", { x1: L, x2: W - R, y1: sy(g), y2: sy(g), className: "grid" }));
      svg.appendChild(NK.svg("text", { x: L - 4, y: sy(g) + 4, "text-anchor": "end", text: String(g) }));
    }
    svg.appendChild(NK.svg("line", { x1: L, x2: L, y1: T, y2: T + ph, className: "axis" }));
    svg.appendChild(NK.svg("line", { x1: L, x2: W - R, y1: T + ph, y2: T + ph, className: "axis" }));

    // relay-on spans as a band under the plot
    var bandY = T + ph + 3;
    for (var i = 0; i < points.length - 1; i++) {
      if (points[i].relay) {
        var a = sx(points[i].x), b = sx(points[i + 1].x);
        svg.appendChild(NK.svg("rect", { x: a, y: bandY, width: Math.max(0.5, b - a), height: 5, className: "relay-on" }));
      }
    }

    if (target !== null) {
      svg.appendChild(NK.svg("line", { x1: L, x2: W - R, y1: sy(target), y2: sy(target), className: "tline" }));
      svg.appendChild(NK.svg("text", { x: W - R - 2, y: sy(target) - 4, "text-anchor": "end", className: "ttext",
        text: "target " + target.toFixed(1) }));
    }

    var d = "";
    var pen = false;
    points.forEach(function (p) {
      if (typeof p.y !== "number") { pen = false; return; }
      d += (pen ? "L" : "M") + sx(p.x).toFixed(1) + " " + sy(p.y).toFixed(1);
      pen = true;
    });
    svg.appendChild(NK.svg("path", { d: d, className: "line" }));

    var label = opts.xLabel || function (x) { return Math.round(x) + " s"; };
    svg.appendChild(NK.svg("text", { x: L, y: H - 8, "text-anchor": "start", text: label(x0, true) }));
    svg.appendChild(NK.svg("text", { x: W - R, y: H - 8, "text-anchor": "end", text: label(x1, false) }));
    svg.appendChild(NK.svg("text", { x: L + 4, y: T - 3, "text-anchor": "start", text: "°C" }));
    svg.appendChild(NK.svg("rect", { x: L + pw / 2 - 30, y: H - 15, width: 14, height: 5, className: "relay-on" }));
    svg.appendChild(NK.svg("text", { x: L + pw / 2 - 12, y: H - 8, "text-anchor": "start", text: "heat on" }));
  };
})();
