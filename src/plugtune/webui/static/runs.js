// The runs page: every run in the runs folder, its live curves (the log is read from
// the last byte offset on each refresh), progress, ETA, stop and resume.
"use strict";
const runs = { selected: null, logs: {}, timer: null };

function entriesOf(name) {
  if (!runs.logs[name]) runs.logs[name] = { offset: 0, entries: [] };
  return runs.logs[name];
}

async function pollLog(name) {
  const log = entriesOf(name);
  const part = await api(`/runs/${encodeURIComponent(name)}/log?offset=${log.offset}`);
  log.entries.push(...part.entries);
  log.offset = part.offset;
  return log.entries;
}

function seriesOf(entries, key) {
  return entries.filter((e) => typeof e[key] === "number").map((e) => [e.step, e[key]]);
}

// Every logged key matching `test`, as one series each (GRPO's rewards, agentic
// episodes' tool calls and parse failures): charts appear only for runs that log them.
function seriesMatching(entries, test) {
  const keys = [...new Set(entries.flatMap((e) => Object.keys(e)))].filter(test).sort();
  return keys.map((key) => ({ name: key, points: seriesOf(entries, key) }));
}

function tokensPerSecond(entries) {
  const points = [];
  const timed = entries.filter((e) => typeof e.loss === "number" && typeof e.tokens === "number");
  for (let i = 1; i < timed.length; i++) {
    const seconds = timed[i].elapsed - timed[i - 1].elapsed;
    if (seconds > 0) points.push([timed[i].step, (timed[i].tokens - timed[i - 1].tokens) / seconds]);
  }
  return points;
}

function progressText(entries, maxSteps) {
  const steps = entries.filter((e) => typeof e.step === "number");
  const last = steps[steps.length - 1];
  if (!last) return { fraction: 0, text: "waiting for the first logged step…" };
  if (!(maxSteps > 0)) return { fraction: 0, text: `step ${last.step}, epoch ${last.epoch}` };
  const previous = steps[steps.length - 2];
  const perStep = previous && last.step > previous.step && last.elapsed > previous.elapsed
    ? (last.elapsed - previous.elapsed) / (last.step - previous.step) : last.elapsed / last.step;
  const eta = Math.max(0, (maxSteps - last.step) * perStep);
  return { fraction: Math.min(1, last.step / maxSteps),
           text: `step ${last.step} / ${maxSteps} · ETA ${eta.toFixed(0)} s` };
}

function runActions(run) {
  const path = `/runs/${encodeURIComponent(run.name)}`;
  const act = (label, id, action, enabled) => {
    const button = el("button", { id, onclick: async () => {
      button.disabled = true;
      try { await api(path + action, { method: "POST" }); } catch (error) { alert(error.message); }
      refreshRuns();
    } }, label);
    button.disabled = !enabled;
    return button;
  };
  return el("div", { class: "actions" },
    act("Stop", "stop-run", "/stop", run.status === "running"),
    act("Resume", "resume-run", "/resume", run.status !== "running" && run.status !== "finished"),
    el("span", { class: "hint" }, run.checkpoints.length
      ? `checkpoints: ${run.checkpoints.join(", ")}` : "no checkpoint yet"));
}

async function showRun(run) {
  const entries = await pollLog(run.name);
  const detail = document.getElementById("run-detail");
  if (detail.dataset.run !== run.name) {
    detail.dataset.run = run.name;
    detail.replaceChildren(
      el("div", { class: "card" }, el("h2", { id: "run-title" }), el("div", { id: "run-actions" }),
         el("div", { class: "progress" }, el("div", { id: "run-progress" })),
         el("div", { id: "run-progress-text", class: "hint" }), el("pre", { id: "run-lines", class: "log" })),
      el("div", { class: "charts" }, el("div", { class: "chart", id: "chart-loss" }),
         el("div", { class: "chart", id: "chart-lr" }), el("div", { class: "chart", id: "chart-tps" }),
         el("div", { class: "chart", id: "chart-rewards" }),
         el("div", { class: "chart", id: "chart-episodes" })),
      useCard(run.name));
  }
  const title = document.getElementById("run-title");
  title.replaceChildren(run.name, el("span", { class: "badge " + run.status, id: "run-status" }, run.status));
  document.getElementById("run-actions").replaceChildren(runActions(run));
  const progress = progressText(entries, run.max_steps);
  document.getElementById("run-progress").style.width = `${(progress.fraction * 100).toFixed(1)}%`;
  document.getElementById("run-progress-text").textContent = progress.text;
  const lines = document.getElementById("run-lines");
  lines.textContent = run.last_lines.join("\n");
  lines.style.display = run.last_lines.length ? "block" : "none";
  drawChart(document.getElementById("chart-loss"), "loss", [{ name: "loss", points: seriesOf(entries, "loss") }]);
  drawChart(document.getElementById("chart-lr"), "learning rate",
            [{ name: "lr", points: seriesOf(entries, "learning_rate") }]);
  drawChart(document.getElementById("chart-tps"), "tokens / s", [{ name: "tps", points: tokensPerSecond(entries) }]);
  const optional = [
    ["chart-rewards", "rewards", (k) => k === "reward" || /^rewards\/.*\/mean$/.test(k)],
    ["chart-episodes", "episodes (per episode)",
     (k) => ["episodes/tool_calls", "episodes/tool_errors", "episodes/parse_failures"].includes(k)],
  ];
  for (const [id, title, test] of optional) {
    const series = seriesMatching(entries, test);
    const node = document.getElementById(id);
    node.style.display = series.length ? "" : "none";
    if (series.length) drawChart(node, title, series);
  }
  refreshUse(run);
}

async function refreshRuns() {
  const list = await api("/runs");
  const node = document.getElementById("run-list");
  node.replaceChildren(...list.map((run) => el("li", {
    class: run.name === runs.selected ? "selected" : "", "data-run": run.name,
    onclick: () => { runs.selected = run.name; refreshRuns(); } },
    el("span", {}, run.name), el("span", { class: "badge " + run.status }, run.status))));
  const chosen = list.find((run) => run.name === runs.selected);
  if (chosen) await showRun(chosen);
  renderPicks(list);
}

function openRun(name) {
  runs.selected = name;
  showTab("runs");
}

function poll() {
  clearTimeout(runs.timer);
  const active = document.querySelector(".page.active")?.id;
  const work = active === "runs" ? refreshRuns() : Promise.resolve();
  work.catch(() => {}).finally(() => { runs.timer = setTimeout(poll, 1000); });
}

document.addEventListener("tab", poll);
poll();
