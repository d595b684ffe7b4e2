// The optimizer explorer's page: contours of a landscape, a start set by clicking, and the
// trajectories and loss curves that the server computes with optim.minimize, animated.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const PLOT = { left: 44, top: 10, width: 466, height: 466 };
const LOSS = { left: 58, top: 12, width: 448, height: 300 };
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#17becf", "#7f7f00"];
const DEFAULT_TICKED = ["sgd", "momentum", "rmsprop", "adam"];
const LEVELS = 18;

const state = { landscapes: {}, optimizers: [], land: null, start: [0, 0], frame: null };
const $ = (id) => document.getElementById(id);

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function status(message, isError = false) {
  const box = $("status");
  box.textContent = message;
  box.classList.toggle("error", isError);
}

// --- coordinates -----------------------------------------------------------------------------

function sx(x) {
  const [lo, hi] = state.land.domain[0];
  return PLOT.left + ((x - lo) / (hi - lo)) * PLOT.width;
}
function sy(y) {
  const [lo, hi] = state.land.domain[1];
  return PLOT.top + (1 - (y - lo) / (hi - lo)) * PLOT.height;
}
function fromScreen(px, py) {
  const [[x0, x1], [y0, y1]] = state.land.domain;
  const x = x0 + ((px - PLOT.left) / PLOT.width) * (x1 - x0);
  const y = y0 + (1 - (py - PLOT.top) / PLOT.height) * (y1 - y0);
  return [Math.min(x1, Math.max(x0, x)), Math.min(y1, Math.max(y0, y))];
}
function fmt(v) {
  return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2)
    : String(Number(v.toPrecision(4)));
}

// --- contours --------------------------------------------------------------------------------

function quantileLevels(z) {
  const flat = z.flat().filter(Number.isFinite).sort((a, b) => a - b);
  const levels = [];
  for (let i = 1; i <= LEVELS; i++) {
    // denser near the bottom, where the minima are
    const p = Math.pow(i / (LEVELS + 1), 1.6);
    levels.push(flat[Math.floor(p * (flat.length - 1))]);
  }
  return { flat, levels: [...new Set(levels)] };
}

function marchingSquares(grid, level) {
  const { x, y, z } = grid;
  const parts = [];
  const cross = (a, b, za, zb) => a + ((level - za) / (zb - za)) * (b - a);
  for (let i = 0; i + 1 < y.length; i++) {
    for (let j = 0; j + 1 < x.length; j++) {
      const z00 = z[i][j], z01 = z[i][j + 1], z10 = z[i + 1][j], z11 = z[i + 1][j + 1];
      const pts = [];
      if ((z00 < level) !== (z01 < level)) pts.push([cross(x[j], x[j + 1], z00, z01), y[i]]);
      if ((z01 < level) !== (z11 < level)) pts.push([x[j + 1], cross(y[i], y[i + 1], z01, z11)]);
      if ((z10 < level) !== (z11 < level)) pts.push([cross(x[j], x[j + 1], z10, z11), y[i + 1]]);
      if ((z00 < level) !== (z10 < level)) pts.push([x[j], cross(y[i], y[i + 1], z00, z10)]);
      const seg = (a, b) => parts.push(`M${sx(a[0]).toFixed(1)},${sy(a[1]).toFixed(1)}` +
        `L${sx(b[0]).toFixed(1)},${sy(b[1]).toFixed(1)}`);
      if (pts.length === 2) seg(pts[0], pts[1]);
      else if (pts.length === 4) { seg(pts[0], pts[3]); seg(pts[1], pts[2]); }
    }
  }
  return parts.join("");
}

function heatmap(grid, flat) {
  const n = grid.x.length, m = grid.y.length;
  const canvas = document.createElement("canvas");
  canvas.width = n; canvas.height = m;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(n, m);
  const rank = (v) => { // the value's quantile, by binary search in the sorted values
    let lo = 0, hi = flat.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (flat[mid] < v) lo = mid + 1; else hi = mid; }
    return lo / (flat.length - 1);
  };
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const t = Math.sqrt(rank(grid.z[i][j]));
      const k = ((m - 1 - i) * n + j) * 4; // row 0 of the image is the top (largest y)
      image.data[k] = 255 - 70 * t; image.data[k + 1] = 252 - 40 * t;
      image.data[k + 2] = 240 - 5 * t; image.data[k + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
  return canvas.toDataURL();
}

function axes(group, box, xTicks, yTicks, xLabel, yLabel) {
  el("rect", { x: box.left, y: box.top, width: box.width, height: box.height,
    class: "frame" }, group);
  for (const [value, pos] of xTicks) {
    el("line", { x1: pos, x2: pos, y1: box.top + box.height, y2: box.top + box.height + 4,
      class: "tick" }, group);
    el("text", { x: pos, y: box.top + box.height + 15, "text-anchor": "middle",
      class: "tick-label" }, group).textContent = value;
  }
  for (const [value, pos] of yTicks) {
    el("line", { x1: box.left - 4, x2: box.left, y1: pos, y2: pos, class: "tick" }, group);
    el("text", { x: box.left - 6, y: pos + 4, "text-anchor": "end",
      class: "tick-label" }, group).textContent = value;
  }
  if (xLabel) el("text", { x: box.left + box.width / 2, y: box.top + box.height + 32,
    "text-anchor": "middle", class: "axis-label" }, group).textContent = xLabel;
  if (yLabel) el("text", { x: 12, y: box.top + box.height / 2, "text-anchor": "middle",
    transform: `rotate(-90 12 ${box.top + box.height / 2})`, class: "axis-label" },
  group).textContent = yLabel;
}

function linearTicks(lo, hi, count = 5) {
  return Array.from({ length: count }, (_, i) => lo + (i / (count - 1)) * (hi - lo));
}

function drawLandscape() {
  const land = state.land;
  const contours = $("contours"), marks = $("marks");
  contours.replaceChildren(); marks.replaceChildren();
  const { flat, levels } = quantileLevels(land.grid.z);
  el("image", { href: heatmap(land.grid, flat), x: PLOT.left, y: PLOT.top, width: PLOT.width,
    height: PLOT.height, preserveAspectRatio: "none" }, contours);
  for (const level of levels) {
    el("path", { d: marchingSquares(land.grid, level), class: "contour" }, contours);
  }
  const [[x0, x1], [y0, y1]] = land.domain;
  axes(contours, PLOT, linearTicks(x0, x1).map((v) => [fmt(v), sx(v)]),
    linearTicks(y0, y1).map((v) => [fmt(v), sy(v)]));
  for (const [x, y] of land.minima) {
    el("path", { d: `M${sx(x) - 5},${sy(y) - 5}l10,10m0,-10l-10,10`, class: "minimum" }, marks);
  }
  for (const [x, y] of land.saddle_points) {
    el("path", { d: `M${sx(x)},${sy(y) - 6}l6,6l-6,6l-6,-6z`, class: "saddle" }, marks);
  }
  el("circle", { id: "start-marker", r: 6, cx: sx(state.start[0]), cy: sy(state.start[1]) },
    marks);
  $("formula").textContent = `f(x) = ${land.formula}` + (land.minimum_value === null ? "" :
    `, minimum ${fmt(land.minimum_value)}`);
}

// --- controls --------------------------------------------------------------------------------

function buildOptimizers() {
  const box = $("optimizers");
  state.optimizers.forEach((opt, index) => {
    const row = document.createElement("div");
    row.className = "optimizer";
    row.style.setProperty("--color", COLORS[index % COLORS.length]);
    const tick = document.createElement("input");
    Object.assign(tick, { type: "checkbox", id: `use-${opt.name}`,
      checked: DEFAULT_TICKED.includes(opt.name) });
    tick.dataset.optimizer = opt.name;
    const label = document.createElement("label");
    label.htmlFor = tick.id; label.className = "name"; label.textContent = opt.label;
    const numbers = document.createElement("div");
    numbers.className = "hyperparameters";
    row.append(tick, label, numbers);
    for (const h of opt.hyperparameters) {
      const id = `${opt.name}-${h.name}`;
      const pair = document.createElement("span");
      const hl = document.createElement("label");
      hl.htmlFor = id; hl.textContent = h.label;
      const input = document.createElement("input");
      Object.assign(input, { type: "number", id, step: "any", value: h.default });
      input.dataset.hyperparameter = h.name;
      pair.append(hl, input);
      numbers.append(pair);
    }
    if (!opt.hyperparameters.length) {
      const note = document.createElement("span");
      note.className = "note"; note.textContent = "the line search picks each step";
      numbers.append(note);
    }
    box.appendChild(row);
  });
}

function setStart(point, redraw = true) {
  state.start = point;
  $("start-x").value = fmt(point[0]);
  $("start-y").value = fmt(point[1]);
  const marker = $("start-marker");
  if (marker) { marker.setAttribute("cx", sx(point[0])); marker.setAttribute("cy", sy(point[1])); }
  if (redraw) clearRuns();
}

async function selectLandscape(key) {
  const land = state.landscapes[key];
  if (!land.grid) {
    const response = await fetch(`/api/landscapes/${encodeURIComponent(key)}`);
    land.grid = await response.json();
  }
  state.land = land;
  state.start = land.start.slice();
  drawLandscape();
  setStart(state.start);
  document.body.dataset.landscape = key;
}

function clearRuns() {
  if (state.frame) cancelAnimationFrame(state.frame);
  state.frame = null;
  $("trajectories").replaceChildren();
  $("loss-axes").replaceChildren();
  $("loss-curves").replaceChildren();
  $("legend").replaceChildren();
}

function request() {
  const runs = [];
  for (const opt of state.optimizers) {
    if (!$(`use-${opt.name}`).checked) continue;
    const run = { optimizer: opt.name };
    for (const h of opt.hyperparameters) {
      const text = $(`${opt.name}-${h.name}`).value.trim();
      run[h.name] = text === "" ? NaN : Number(text);
    }
    runs.push(run);
  }
  const start = [Number($("start-x").value), Number($("start-y").value)];
  // Non-finite numbers travel as strings, so that the server names them in its message.
  const clean = (v) => (Number.isFinite(v) ? v : String(v));
  return {
    landscape: state.land.key,
    start: start.map(clean),
    steps: Number($("steps").value),
    runs: runs.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) =>
      [k, typeof v === "number" ? clean(v) : v]))),
  };
}

// --- running ---------------------------------------------------------------------------------

async function play(event) {
  if (event) event.preventDefault();
  const pressed = performance.now();
  const body = request();
  if (!body.runs.length) { status("Tick at least one optimizer.", true); return; }
  clearRuns();
  status(`Running ${body.runs.map((r) => r.optimizer).join(", ")} for ${body.steps} steps…`);
  document.body.dataset.runState = "running";
  let answer;
  try {
    const response = await fetch("/api/run", { method: "POST", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" } });
    answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  } catch (error) {
    document.body.dataset.runState = "error";
    status(`Error: ${error.message}`, true);
    return;
  }
  animate(answer, pressed);
}

function lossScale(answer) {
  const known = state.land.minimum_value;
  const all = answer.runs.flatMap((r) => r.values);
  const floor = known ?? Math.min(...all);
  const gaps = all.map((v) => v - floor).filter((g) => g > 0);
  const tiny = gaps.length ? Math.max(Math.min(...gaps), 1e-12) : 1e-12;
  const top = gaps.length ? Math.max(...gaps) : 1;
  const lo = Math.floor(Math.log10(tiny)), hi = Math.max(lo + 1, Math.ceil(Math.log10(top)));
  const steps = answer.steps;
  return {
    floor, known: known !== null, lo, hi, steps,
    x: (t) => LOSS.left + (t / steps) * LOSS.width,
    y: (v) => {
      const g = Math.max(v - floor, Math.pow(10, lo));
      return LOSS.top + (1 - (Math.log10(g) - lo) / (hi - lo)) * LOSS.height;
    },
  };
}

function animate(answer, pressed) {
  const scale = lossScale(answer);
  const every = Math.max(1, Math.ceil((scale.hi - scale.lo) / 8));
  const yTicks = [];
  for (let p = scale.lo; p <= scale.hi; p += every) yTicks.push([`1e${p}`, scale.y(scale.floor + 10 ** p)]);
  axes($("loss-axes"), LOSS, linearTicks(0, answer.steps).map((t) => [String(Math.round(t)),
    scale.x(t)]), yTicks, "step", scale.known ? "f − minimum" : "f − lowest value reached");
  const color = (name) => COLORS[state.optimizers.findIndex((o) => o.name === name) % COLORS.length];
  const drawn = answer.runs.map((run) => {
    const c = color(run.optimizer);
    const path = el("path", { class: "trajectory", stroke: c, "data-optimizer": run.optimizer },
      $("trajectories"));
    const head = el("circle", { class: "head", r: 4, fill: c }, $("trajectories"));
    const curve = el("path", { class: "loss-curve", stroke: c, "data-optimizer": run.optimizer },
      $("loss-curves"));
    return { run, path, head, curve };
  });
  const words = answer.runs.map((run) => {
    const label = state.optimizers.find((o) => o.name === run.optimizer).label;
    const tail = run.diverged_at !== null ? `diverged at step ${run.diverged_at}`
      : `${run.reason}, f = ${fmt(run.values[run.values.length - 1])}`;
    const item = document.createElement("li");
    item.style.setProperty("--color", color(run.optimizer));
    item.textContent = `${label}: ${tail}`;
    $("legend").appendChild(item);
    return run.diverged_at !== null ? `${label} diverged at step ${run.diverged_at}.` : "";
  }).filter(Boolean);
  const speed = () => Math.max(1, Number($("speed").value) || 1);
  let shown = 0;
  const frame = () => {
    if (shown === 0) {
      const ms = performance.now() - pressed;
      document.body.dataset.firstFrameMs = ms.toFixed(1);
      document.body.dataset.serverSeconds = answer.seconds.toFixed(3);
      document.body.dataset.compiled = String(answer.compiled);
      console.log(`first frame ${ms.toFixed(1)} ms after play (server ${
        (answer.seconds * 1000).toFixed(1)} ms, ${answer.compiled} compiled)`);
      status(`Computed in ${(answer.seconds * 1000).toFixed(0)} ms (${answer.compiled} ` +
        `program(s) compiled); first frame ${ms.toFixed(0)} ms after play. ${words.join(" ")}`);
    }
    shown += shown === 0 ? 1 : speed();
    for (const d of drawn) {
      const n = Math.min(shown, d.run.points.length);
      const pts = d.run.points.slice(0, n);
      d.path.setAttribute("d", pts.map(([x, y], i) =>
        `${i ? "L" : "M"}${sx(x).toFixed(2)},${sy(y).toFixed(2)}`).join(""));
      const [hx, hy] = pts[pts.length - 1];
      d.head.setAttribute("cx", sx(hx)); d.head.setAttribute("cy", sy(hy));
      d.curve.setAttribute("d", d.run.values.slice(0, n).map((v, t) =>
        `${t ? "L" : "M"}${scale.x(t).toFixed(2)},${scale.y(v).toFixed(2)}`).join(""));
      if (n === d.run.points.length && d.run.diverged_at !== null && !d.mark) {
        d.mark = el("path", { d: `M${sx(hx) - 6},${sy(hy) - 6}l12,12m0,-12l-12,12`,
          class: "diverged", stroke: d.path.getAttribute("stroke") }, $("trajectories"));
      }
    }
    if (drawn.some((d) => shown < d.run.points.length)) {
      state.frame = requestAnimationFrame(frame);
    } else {
      state.frame = null;
      document.body.dataset.runState = "done";
    }
  };
  state.frame = requestAnimationFrame(frame);
}

// --- wiring ----------------------------------------------------------------------------------

function onPlotClick(event) {
  const svg = $("plot");
  const point = svg.createSVGPoint();
  point.x = event.clientX; point.y = event.clientY;
  const local = point.matrixTransform(svg.getScreenCTM().inverse());
  setStart(fromScreen(local.x, local.y));
  status(`Start set to (${fmt(state.start[0])}, ${fmt(state.start[1])}). Press play.`);
}

function onPlotKey(event) {
  const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
  if (event.key === "Enter" || event.key === " ") { event.preventDefault(); play(); return; }
  if (!(event.key in moves)) return;
  event.preventDefault();
  const [[x0, x1], [y0, y1]] = state.land.domain;
  const [dx, dy] = moves[event.key];
  const next = [state.start[0] + dx * (x1 - x0) / 50, state.start[1] + dy * (y1 - y0) / 50];
  setStart([Math.min(x1, Math.max(x0, next[0])), Math.min(y1, Math.max(y0, next[1]))]);
  status(`Start (${fmt(state.start[0])}, ${fmt(state.start[1])}).`);
}

async function main() {
  try {
    const [opts, lands] = await Promise.all([
      fetch("/api/optimizers").then((r) => r.json()),
      fetch("/api/landscapes").then((r) => r.json()),
    ]);
    state.optimizers = opts.optimizers;
    $("steps").max = opts.max_steps;
    for (const land of lands) {
      state.landscapes[land.key] = land;
      const option = document.createElement("option");
      option.value = land.key; option.textContent = land.name;
      $("landscape").appendChild(option);
    }
  } catch (error) {
    status(`Error: could not load the landscapes (${error.message})`, true);
    return;
  }
  buildOptimizers();
  await selectLandscape($("landscape").value);
  $("landscape").addEventListener("change", (e) => selectLandscape(e.target.value).catch(
    (error) => status(`Error: could not load the landscape (${error.message})`, true)));
  $("reset-start").addEventListener("click", () => setStart(state.land.start.slice()));
  for (const id of ["start-x", "start-y"]) {
    $(id).addEventListener("change", () => {
      const p = [Number($("start-x").value), Number($("start-y").value)];
      if (p.every(Number.isFinite)) setStart(p);
    });
  }
  $("controls").addEventListener("submit", play);
  $("plot").addEventListener("click", onPlotClick);
  $("plot").addEventListener("keydown", onPlotKey);
  document.body.dataset.ready = "true";
  status("Ready: click the plot to set the start, then press play.");
}

main();
