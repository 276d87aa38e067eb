// A small line chart in SVG: no library, so the page works with no network at all.
"use strict";
const COLORS = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#1098ad", "#c92a2a"];

// A label precise enough to tell apart values ``span`` apart (loss 9.052 vs 9.058).
function niceNumber(value, span = Math.abs(value)) {
  if (value === 0) return "0";
  const size = Math.abs(value);
  if (size >= 1e5 || size < 1e-3) return value.toExponential(span && span < size / 100 ? 3 : 1);
  const decimals = span > 0 ? Math.min(6, Math.max(0, Math.ceil(-Math.log10(span)) + 1)) : 3;
  return String(Number(value.toFixed(decimals)));
}

// series: [{name, points: [[x, y], ...]}]; draws them on shared axes.
function drawChart(container, title, series) {
  const width = Math.max(300, container.clientWidth - 28);
  const height = container.classList.contains("wide") ? 260 : 170;
  const left = 54, right = 10, top = 8, bottom = 22;
  const all = series.flatMap((s) => s.points);
  container.replaceChildren(el("h3", {}, title));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  container.append(svg);
  if (!all.length) return;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const px = (x) => left + ((x - x0) / (x1 - x0)) * (width - left - right);
  const py = (y) => top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom);
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
  };
  for (const fraction of [0, 0.5, 1]) {
    const y = y0 + fraction * (y1 - y0);
    add("line", { x1: left, x2: width - right, y1: py(y), y2: py(y), class: "grid" });
    add("text", { x: left - 4, y: py(y) + 3, "text-anchor": "end", class: "axis" }, niceNumber(y, y1 - y0));
  }
  add("text", { x: left, y: height - 6, class: "axis" }, niceNumber(x0, x1 - x0));
  add("text", { x: width - right, y: height - 6, "text-anchor": "end", class: "axis" },
      niceNumber(x1, x1 - x0));
  series.forEach((s, index) => {
    const points = s.points.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`);
    add("polyline", { points: points.join(" "), fill: "none", "stroke-width": 2,
                      stroke: COLORS[index % COLORS.length], class: "series",
                      "data-points": s.points.length, "vector-effect": "non-scaling-stroke" });
  });
  if (series.length > 1) {
    const legend = el("div", { class: "legend" });
    series.forEach((s, index) => legend.append(
      el("span", {}, el("i", { style: `background:${COLORS[index % COLORS.length]}` }), s.name)));
    container.append(legend);
  }
}
