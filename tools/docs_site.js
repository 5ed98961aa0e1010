// brainssl docs: each plotly figure is stored as a PNG (shown without JavaScript) and its JSON; where plotly.js loaded,
// the PNG is replaced by the live, interactive plot. A figure that fails to draw keeps its PNG.
document.addEventListener("DOMContentLoaded", function () {
  if (typeof Plotly === "undefined") return;
  document.querySelectorAll("script.plotly-spec").forEach(function (s) {
    var target = document.getElementById(s.dataset.target);
    if (!target) return;
    var spec = JSON.parse(s.textContent);
    var still = target.innerHTML;
    target.innerHTML = "";
    var div = document.createElement("div");
    div.className = "plotly-live";
    target.appendChild(div);
    Plotly.newPlot(div, spec.data || [], spec.layout || {}, Object.assign({responsive: true, displaylogo: false}, spec.config || {}))
      .catch(function () { target.innerHTML = still; });
  });
});
