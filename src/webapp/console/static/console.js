// storemon console: draws the Plotly charts whose specs the page embeds, and follows a
// triggered report until it is finished. Nothing else runs in the browser.
(function () {
  "use strict";

  function drawCharts() {
    document.querySelectorAll("div.chart[data-figure]").forEach(function (node) {
      var spec = JSON.parse(document.getElementById(node.dataset.figure).textContent);
      window.Plotly.newPlot(node, spec.data, spec.layout, { responsive: true, displaylogo: false });
    });
  }

  function follow(panel) {
    var status = document.getElementById("progress-status");
    var bar = document.getElementById("progress-bar");
    function show(text, progress) {
      status.textContent = text;
      if (progress !== null && progress !== undefined) { bar.value = progress; }
    }
    function done() {
      show("Complete", 1);
      document.getElementById("progress-done").hidden = false;
    }
    function failed(message) {
      show("Failed", null);
      var box = document.getElementById("progress-error");
      box.textContent = message;
      box.hidden = false;
    }
    function poll() {
      // The session cookie authenticates this GET (same origin); a complete report answers its CSV.
      fetch(panel.dataset.statusUrl, { method: "GET", credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.headers.get("X-Report-Status") === "Complete") { done(); return null; }
          return response.json().then(function (body) {
            if (!response.ok) { failed(body.error || "HTTP " + response.status); return; }
            if (body.status === "Failed") { failed(body.error || "the report failed"); return; }
            show(body.status, body.progress);
            window.setTimeout(poll, 500);
          });
        })
        .catch(function () { window.setTimeout(poll, 2000); });
    }
    poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (window.Plotly) { drawCharts(); }
    var panel = document.getElementById("progress");
    if (panel) { follow(panel); }
  });
})();
