/* The pages' only script of our own: draw every figure from its JSON island (a
   <script type="application/json" id=ID> next to a <div data-figure=ID>), also after htmx
   swaps new content in; a click on a figure point with layout.meta.links opens that link. */
(function () {
  "use strict";
  var config = {displaylogo: false, responsive: true, typesetMath: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"]};

  function draw(root) {
    root.querySelectorAll("[data-figure]").forEach(function (div) {
      if (div.dataset.drawn) { return; }
      var island = document.getElementById(div.dataset.figure);
      if (!island) { return; }
      var spec = JSON.parse(island.textContent);
      div.dataset.drawn = "1";
      if (!window.Plotly) { div.textContent = "The chart could not be drawn."; return; }
      Plotly.newPlot(div, spec.data, spec.layout, config).then(function () {
        var links = (spec.layout.meta || {}).links;
        if (!links) { return; }
        div.on("plotly_click", function (ev) {
          var p = ev.points && ev.points[0];
          var href = p && (links[p.pointIndex] || links[p.y] || links[p.label]);
          if (href) { window.location.href = href; }
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (ev) { draw(ev.target); });
})();
