// The metrics page's charts, drawn with the vendored Chart.js from the numbers the
// server put in the page (json_script "metrics-data"); the tables beside them hold the same
// numbers, so the page reads the same without JavaScript. A null is "no data": no bar.
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("metrics-data");
    if (!source || typeof window.Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    var css = getComputedStyle(document.documentElement);
    function colour(name, fallback) {
      return (css.getPropertyValue(name) || "").trim() || fallback;
    }
    var accent = colour("--accent", "#0b5cad");
    var fail = colour("--fail", "#b3261e");
    var stale = colour("--stale", "#8a5a00");
    var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

    function chart(id, datasets, yTitle, stacked) {
      var canvas = document.getElementById(id);
      if (!canvas) return;
      canvas.chart = new window.Chart(canvas, {
        type: "bar",
        data: { labels: data.labels, datasets: datasets },
        options: {
          animation: reduced ? false : { duration: 300 },
          maintainAspectRatio: false,
          scales: {
            x: { stacked: !!stacked },
            y: { stacked: !!stacked, beginAtZero: true, title: { display: true, text: yTitle } }
          },
          plugins: { legend: { display: datasets.length > 1 } }
        }
      });
    }

    chart("chart-cycle", [{ label: "Cycle time (hours)", data: data.cycle_hours, backgroundColor: accent }], "hours");
    chart(
      "chart-findings",
      [
        { label: "Blocking", data: data.findings_blocking, backgroundColor: fail },
        { label: "Non-blocking", data: data.findings_non_blocking, backgroundColor: stale }
      ],
      "findings",
      true
    );
    chart("chart-escapes", [{ label: "Escaped defects", data: data.escaped_defects, backgroundColor: fail }], "issues");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
