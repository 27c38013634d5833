/* loadkit: the LLM tab's live charts and the session's runs, added under Locust's LLM table.
 * Locust's React app has no hook for a tab's own content, so this script finds the LLM tab's
 * container while that tab is selected and keeps one panel in it; it polls loadkit's JSON routes
 * (charts.json: windows merged across workers; runs.json: this web UI session's runs). */
(function () {
  "use strict";
  var POLL_MS = 2000;
  var base = "./loadkit/";
  var lastRun = null, timer = null;

  function llmSelected() {
    var tabs = document.querySelectorAll('[role="tab"]');
    for (var i = 0; i < tabs.length; i++) {
      if (tabs[i].textContent.trim() === "LLM") return tabs[i].getAttribute("aria-selected") === "true";
    }
    return false;
  }

  function panel() {
    var existing = document.getElementById("loadkit-llm-panel");
    var host = document.querySelector("main .MuiContainer-root") || document.querySelector("main");
    if (!host) return null;
    if (existing && existing.parentNode === host) return existing;
    if (existing) existing.remove();
    var el = document.createElement("div");
    el.id = "loadkit-llm-panel";
    el.innerHTML =
      '<style>#loadkit-llm-panel{margin:16px 0 32px;font:14px/1.45 system-ui,sans-serif}' +
      '#loadkit-llm-panel h3{font-size:15px;margin:18px 0 8px}' +
      '#loadkit-llm-panel .lk-charts{grid-template-columns:repeat(auto-fill,minmax(520px,1fr))}' +
      '#loadkit-llm-panel .lk-chart{background:#fff;color:#1f2937;border:1px solid #e5e7eb;border-radius:8px;padding:8px 10px}' +
      '#loadkit-llm-panel table.lk-runs{border-collapse:collapse;font-size:13px}' +
      '#loadkit-llm-panel table.lk-runs td,#loadkit-llm-panel table.lk-runs th{padding:3px 10px;border-bottom:1px solid #e5e7eb;text-align:left}' +
      '#loadkit-llm-panel a{color:#2563eb}</style>' +
      '<h3>Runs in this session</h3><div id="loadkit-runs"></div>' +
      '<h3>Per model over time <span style="font-weight:400;font-size:12px;color:#6b7280">' +
      '(5 s windows, merged across workers)</span></h3>' +
      '<div class="lk-toggles" data-model-toggles></div>' +
      '<div class="lk-charts" data-charts="ttft_ms,itl_ms,e2e_ms,output_tokens,requests,responses_429,errors"></div>';
    host.appendChild(el);
    return el;
  }

  function text(v) { return v == null ? "–" : String(v); }

  function drawRuns(data) {
    var holder = document.getElementById("loadkit-runs");
    if (!holder) return;
    var rows = data.runs.slice().reverse().map(function (r) {
      var links = r.files.map(function (f) {
        return '<a href="' + base + "runs/" + encodeURIComponent(r.run_id) + "/" + f + '" target="_blank">' + f + "</a>";
      }).join(" · ");
      return "<tr><td>" + text(r.run_id) + "</td><td>" + text(r.started_at) + "</td><td>" +
        (r.duration_s == null ? "–" : r.duration_s.toFixed(1) + " s") + "</td><td>" + text(r.users) + "</td><td>" +
        text(r.requests) + "</td><td>" + text(r.exit_code) + "</td><td>" + links + "</td></tr>";
    });
    if (data.running) rows.unshift("<tr><td>" + text(data.current) + '</td><td colspan="6"><i>running</i></td></tr>');
    holder.innerHTML = rows.length ?
      '<table class="lk-runs"><thead><tr><th>run</th><th>started</th><th>duration</th><th>users</th>' +
      "<th>requests</th><th>exit code</th><th>files</th></tr></thead><tbody>" + rows.join("") + "</tbody></table>" :
      '<div class="lk-chart-empty">No run finished yet: each Start is its own run, written at Stop.</div>';
  }

  function fetchJson(name) {
    return fetch(base + name, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      if (!r.ok) throw new Error(name + ": " + r.status);
      return r.json();
    });
  }

  function refresh() {
    if (!llmSelected()) {
      var old = document.getElementById("loadkit-llm-panel");
      if (old) { LoadkitCharts.clear(); old.remove(); }
      return;
    }
    var el = panel();
    if (!el) return;
    Promise.all([fetchJson("charts.json"), fetchJson("runs.json")]).then(function (both) {
      var charts = both[0];
      if (lastRun !== charts.run_id) { LoadkitCharts.clear(el); lastRun = charts.run_id; }
      LoadkitCharts.mount(charts.specs, el);
      el.setAttribute("data-run-id", charts.run_id);
      drawRuns(both[1]);
    }).catch(function (e) { console.warn("loadkit LLM tab:", e); });
  }

  function schedule() {
    if (timer) clearInterval(timer);
    timer = setInterval(refresh, POLL_MS);
  }

  document.addEventListener("click", function () { setTimeout(refresh, 50); }, true);
  window.LoadkitLLMTab = {refresh: refresh};
  schedule();
  refresh();
})();
