/* Draws the metrics charts with uPlot (static/vendor/uplot). Each chart is a
   <div data-chart> next to a <script type="application/json"> holding
   {title, unit, x: [unix seconds], series: [{label, values: [number|null]}]}.
   Runs on page load and after every htmx swap of the polled fragment. */
(function () {
  "use strict";
  var COLOURS = ["#2454c5", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490"];

  function format(unit, v) {
    if (v == null || isNaN(v)) return "—";
    if (unit === "ratio") return (v * 100).toFixed(1) + " %";
    if (unit === "s") return v < 1 ? (v * 1000).toFixed(0) + " ms" : v.toFixed(2) + " s";
    if (unit === "tokens/s" || unit === "req/s") return v >= 100 ? Math.round(v).toLocaleString() : v.toFixed(2);
    return Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(1);
  }

  function draw(el) {
    if (el.dataset.drawn === "1" || typeof uPlot === "undefined") return;
    var script = el.parentElement.querySelector('script[type="application/json"]');
    if (!script) return;
    var spec = JSON.parse(script.textContent);
    var unit = spec.unit;
    var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    var series = [{}].concat(spec.series.map(function (s, i) {
      return { label: s.label, stroke: COLOURS[i % COLOURS.length], width: 1.5, spanGaps: false,
               value: function (u, v) { return format(unit, v); } };
    }));
    var width = Math.max(280, el.clientWidth || el.parentElement.clientWidth - 24);
    var opts = {
      width: width, height: 200, series: series,
      axes: [{}, { size: 64, values: function (u, vals) { return vals.map(function (v) { return format(unit, v); }); } }],
      scales: { x: { time: true }, y: unit === "ratio" ? { range: [0, 1] } : { range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; } } },
      legend: { live: true }
    };
    el.innerHTML = "";
    new uPlot(opts, data, el);
    el.dataset.drawn = "1";
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSwap", function (e) { drawAll(document); });
  window.ModelPortCharts = { drawAll: drawAll };
})();
