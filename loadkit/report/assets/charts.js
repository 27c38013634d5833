/* loadkit charts: draws chart specs (loadkit/report/series.py) with the vendored uPlot.
 * Used by report.html (inlined) and by the web UI's LLM tab (served from the package).
 * Every [data-charts="id1,id2"] element gets those charts; a [data-model-toggles] element gets one
 * checkbox per model that shows or hides that model's lines in every chart. */
(function () {
  "use strict";
  var COLOURS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777"];
  var DASH = {p50: null, p95: [6, 4], p99: [2, 3]};
  var state = {charts: {}, hidden: {}, models: [], specs: {}};

  function colour(model) {
    var i = state.models.indexOf(model);
    return COLOURS[(i < 0 ? 0 : i) % COLOURS.length];
  }

  function fmt(v, unit) {
    if (v == null) return "–";
    var a = Math.abs(v), s = a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
    return s + " " + unit;
  }

  function options(spec, width) {
    var series = [{label: spec.x_label || "time", value: function (u, v) {
      return v == null ? "–" : (spec.x_label ? v + " %" : v.toFixed(1) + " s"); }}];
    spec.series.forEach(function (s) {
      series.push({label: s.label, stroke: colour(s.model), width: 1.6, dash: DASH[s.stat] || undefined,
                   show: !state.hidden[s.model], spanGaps: false, points: {size: 4},
                   value: function (u, v) { return fmt(v, spec.unit); }});
    });
    return {width: width, height: 220, series: series, scales: {x: {time: false}, y: {range: function (u, lo, hi) {
              return [0, hi > 0 ? hi * 1.08 : 1]; }}},
            axes: [{label: spec.x_label || "time since start (s)", size: 40},
                   {label: spec.unit, size: 60, values: function (u, vals) {
                     return vals.map(function (v) { return v >= 1000 ? (v / 1000) + "k" : v; }); }}],
            legend: {live: true}, cursor: {drag: {x: true, y: false}}};
  }

  function data(spec) {
    return [spec.x].concat(spec.series.map(function (s) { return s.values; }));
  }

  function sameShape(chart, spec) {
    return chart.labels === spec.series.map(function (s) { return s.label; }).join("|");
  }

  function drawOne(holder, spec) {
    var card = holder.querySelector('[data-chart-id="' + spec.id + '"]');
    if (!card) {
      card = document.createElement("div");
      card.className = "lk-chart";
      card.setAttribute("data-chart-id", spec.id);
      card.innerHTML = '<div class="lk-chart-title"></div><div class="lk-chart-body"></div>';
      card.firstChild.textContent = spec.title;
      holder.appendChild(card);
    }
    var body = card.querySelector(".lk-chart-body");
    var existing = state.charts[spec.id];
    if (spec.empty) {
      if (existing) { existing.plot.destroy(); delete state.charts[spec.id]; }
      body.innerHTML = "";
      var note = document.createElement("div");
      note.className = "lk-chart-empty";
      note.textContent = spec.empty;
      body.appendChild(note);
      return;
    }
    if (existing && sameShape(existing, spec)) {
      var cur = existing.plot.cursor, left = cur.left, top = cur.top;
      existing.plot.setData(data(spec));
      existing.spec = spec;
      // a live refresh must not drop the values a person is hovering
      if (left != null && left >= 0) existing.plot.setCursor({left: left, top: top});
      return;
    }
    if (existing) existing.plot.destroy();
    body.innerHTML = "";
    var width = Math.max(300, body.clientWidth || holder.clientWidth || 800);
    var plot = new uPlot(options(spec, width), data(spec), body);
    state.charts[spec.id] = {plot: plot, spec: spec, labels: spec.series.map(function (s) { return s.label; }).join("|")};
  }

  function drawToggles() {
    var bars = document.querySelectorAll("[data-model-toggles]");
    bars.forEach(function (bar) {
      var have = Array.prototype.map.call(bar.querySelectorAll("input"), function (i) { return i.value; }).join("|");
      if (have === state.models.join("|")) return;
      bar.innerHTML = "";
      state.models.forEach(function (model) {
        var label = document.createElement("label");
        label.className = "lk-toggle";
        var box = document.createElement("input");
        box.type = "checkbox"; box.value = model; box.checked = !state.hidden[model];
        box.addEventListener("change", function () { setModelShown(model, box.checked); });
        var swatch = document.createElement("span");
        swatch.className = "lk-swatch"; swatch.style.background = colour(model);
        label.appendChild(box); label.appendChild(swatch); label.appendChild(document.createTextNode(model));
        bar.appendChild(label);
      });
    });
  }

  function setModelShown(model, shown) {
    state.hidden[model] = !shown;
    Object.keys(state.charts).forEach(function (id) {
      var c = state.charts[id];
      c.spec.series.forEach(function (s, i) { if (s.model === model) c.plot.setSeries(i + 1, {show: shown}); });
    });
    document.querySelectorAll('[data-model-toggles] input[value="' + CSS.escape(model) + '"]').forEach(
      function (box) { box.checked = shown; });
  }

  /* specs: a list of chart specs; draws every [data-charts] element found in root (default: document). */
  function mount(specs, root) {
    root = root || document;
    specs.forEach(function (s) { state.specs[s.id] = s; });
    var models = {};
    Object.keys(state.specs).forEach(function (id) {
      state.specs[id].series.forEach(function (x) { models[x.model] = true; }); });
    state.models = Object.keys(models).sort();
    drawToggles();
    root.querySelectorAll("[data-charts]").forEach(function (holder) {
      holder.getAttribute("data-charts").split(",").forEach(function (id) {
        if (state.specs[id]) drawOne(holder, state.specs[id]);
      });
    });
  }

  /* Forget every chart and model (the web UI's Reset). */
  function clear(root) {
    Object.keys(state.charts).forEach(function (id) { state.charts[id].plot.destroy(); });
    state.charts = {}; state.specs = {}; state.models = []; state.hidden = {};
    (root || document).querySelectorAll("[data-charts]").forEach(function (h) { h.innerHTML = ""; });
    document.querySelectorAll("[data-model-toggles]").forEach(function (b) { b.innerHTML = ""; });
  }

  window.addEventListener("resize", function () {
    Object.keys(state.charts).forEach(function (id) {
      var c = state.charts[id], w = c.plot.root.parentNode.clientWidth;
      if (w > 300) c.plot.setSize({width: w, height: 220});
    });
  });

  window.LoadkitCharts = {mount: mount, clear: clear, setModelShown: setModelShown, state: state};
})();
