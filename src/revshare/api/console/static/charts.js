// revshare console: draws the usage charts with the vendored uPlot (static/vendor/, MIT licence).
// The figures come from a <script type="application/json"> block of the page; the table below each
// chart holds the same rows, so the page says everything without this file. Times are UTC.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (typeof window.uPlot !== "function") { return; }
  var COLOURS = ["#1f5fbf", "#d9730d", "#1c7a3f", "#b3261e", "#6b3fa0", "#0f7b8a", "#8a6d0f", "#c2185b"];
  var cache = {};
  function data(id) {
    if (!(id in cache)) {
      var block = document.getElementById(id);
      cache[id] = block ? JSON.parse(block.textContent) : null;
    }
    return cache[id];
  }
  function utc(ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); }
  function width(box) { return Math.max(box.clientWidth, 200); }
  function compact(value) {
    if (value == null) { return ""; }
    var abs = Math.abs(value);
    if (abs > 0 && abs < 0.01) { return value.toExponential(1).replace(".0e", "e"); }
    if (abs >= 1e9) { return (value / 1e9).toFixed(1).replace(/\.0$/, "") + "G"; }
    if (abs >= 1e6) { return (value / 1e6).toFixed(1).replace(/\.0$/, "") + "M"; }
    if (abs >= 1e4) { return (value / 1e3).toFixed(1).replace(/\.0$/, "") + "k"; }
    return String(Math.round(value * 1e6) / 1e6);
  }
  // Show every figure first, then measure: each chart is drawn as wide as its own box.
  var boxes = [];
  document.querySelectorAll("[data-chart]").forEach(function (box) {
    var source = data(box.getAttribute("data-chart"));
    var lines = source && source[box.getAttribute("data-metric")];
    if (!lines || !lines.length) { return; }
    var figure = box.closest("figure");
    if (figure) { figure.hidden = false; }
    boxes.push({ box: box, source: source, lines: lines });
  });
  var charts = boxes.map(function (item) {
    var source = item.source, lines = item.lines, box = item.box;
    var many = source.x.length > 62;
    var series = [{ label: source.granularity === "hour" ? "Hour (UTC)" : "Day (UTC)",
                    value: source.granularity === "hour" ? "{YYYY}-{MM}-{DD} {HH}:00" : "{YYYY}-{MM}-{DD}" }];
    var values = [source.x];
    lines.forEach(function (line, i) {
      var colour = COLOURS[i % COLOURS.length];
      series.push({ label: line.label, stroke: colour, width: 2, fill: lines.length === 1 ? colour + "22" : undefined,
                    points: { show: !many, size: 5 }, value: function (u, v) { return compact(v); } });
      values.push(line.values);
    });
    var options = {
      width: width(box), height: 220, tzDate: utc, series: series,
      scales: { y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      axes: [{ }, { size: 64, values: function (u, ticks) { return ticks.map(compact); } }],
      legend: { live: true },
    };
    return { box: box, plot: new window.uPlot(options, values, box) };
  });
  var pending = 0;
  window.addEventListener("resize", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(function () {
      charts.forEach(function (c) { c.plot.setSize({ width: width(c.box), height: 220 }); });
    }, 100);
  });
});
