// Using a run: chat with its adapter (streamed; with RAG, the passages' sources shown),
// predict on a split with the metric table, export (any registered format, with its
// options); and the compare page (curves overlaid, configs diffed).
"use strict";
const chat = { history: [] };

function useCard(name) {
  chat.history = [];
  const path = `/runs/${encodeURIComponent(name)}`;
  const send = async () => {
    const input = document.getElementById("chat-input");
    const message = input.value.trim();
    if (!message) return;
    input.value = "";
    const answer = el("div", { class: "turn answer" });
    document.getElementById("chat-log").append(el("div", { class: "turn user" }, message), answer);
    const response = await api(path + "/chat", { method: "POST", raw: true, json: {
      message, history: chat.history, system: document.getElementById("chat-system").value,
      rag: document.getElementById("chat-rag").checked } });
    if (!response.ok) { answer.textContent = (await response.json()).detail; return; }
    const sources = JSON.parse(response.headers.get("X-Plugtune-Sources") || "[]");
    const reader = response.body.getReader(), decoder = new TextDecoder();
    for (let part = await reader.read(); !part.done; part = await reader.read())
      answer.textContent += decoder.decode(part.value, { stream: true });
    if (!answer.textContent) answer.textContent = "(the model ended its answer at once: no text)";
    chat.history.push([message, answer.textContent]);
    if (sources.length) answer.after(sourceList(sources));
    answer.dataset.done = "true";
  };
  const task = (kind, body) => async () => {
    try { await api(`${path}/${kind}`, { method: "POST", json: body() }); }
    catch (error) { document.getElementById(`${kind}-state`).textContent = error.message; }
  };
  const split = el("select", { id: "predict-split" },
    ...["test", "eval", "train"].map((s) => el("option", { value: s }, s)));
  return el("div", { class: "use" }, el("div", {},
    el("div", { class: "card" }, el("h2", {}, "Chat"),
       el("input", { id: "chat-system", placeholder: "system prompt (optional)" }),
       el("label", { class: "hint", id: "chat-rag-label" },
          el("input", { type: "checkbox", id: "chat-rag" }), " RAG: add the retriever's passages"),
       el("div", { class: "chat-log", id: "chat-log" }),
       el("div", { class: "chat-row" }, el("input", { id: "chat-input", placeholder: "Ask the model…",
          onkeydown: (e) => { if (e.key === "Enter") send(); } }),
          el("button", { id: "chat-send", class: "use-button", onclick: send }, "Send"))),
    exportCard(task)),
    el("div", { class: "card" }, el("h2", {}, "Predict"),
       el("div", { class: "actions" }, split,
          el("input", { id: "predict-limit", type: "number", min: "1", placeholder: "limit" }),
          el("button", { id: "predict-run", class: "use-button", onclick: task("predict", () => ({
            split: split.value, limit: Number(document.getElementById("predict-limit").value) || null })) },
            "Predict")),
       el("div", { id: "predict-state", class: "hint" }), el("div", { id: "predict-table" })));
}

// The passages RAG put in the prompt: where each came from and how close it was
// (cosine distance); its text on hover.
function sourceList(sources) {
  return el("div", { class: "turn sources" }, "sources: ", ...sources.map((source, index) =>
    el("span", { class: "source", title: source.text },
       `[${index + 1}] ${String(source.source || "?").split("/").pop()} (${source.distance == null ? "?" : source.distance.toFixed(2)})`)));
}

// Export: a registered format (safetensors: the merged model; gguf: llama.cpp; a
// plugin's), its own options as fields built from its schema, and why it cannot run here
// when the server says so (gguf without llama.cpp's converter). The one chosen first is
// the server's default: what `plugtune export` writes when told no format.
const exportFormats = { list: null };

function exportCard(task) {
  const select = el("select", { id: "export-format" });
  const options = el("div", { class: "options", id: "export-options" });
  const note = el("div", { class: "hint", id: "export-note" });
  const chosen = () => (exportFormats.list || []).find((format) => format.name === select.value);
  const show = () => {
    const format = chosen();
    options.replaceChildren();
    if (format?.options) objectFields(options, "export", format.options, {});
    note.textContent = format?.unavailable ? `not available here: ${format.unavailable}` : "";
  };
  select.addEventListener("change", show);
  (exportFormats.list ? Promise.resolve(exportFormats.list) : api("/exports")).then((list) => {
    exportFormats.list = list;
    select.replaceChildren(...list.map((format) => el("option", { value: format.name,
      title: format.doc }, format.name + (format.unavailable ? " (not available)" : ""))));
    select.value = (list.find((format) => format.default) || list[0])?.name;
    show();
  });
  const button = el("button", { id: "export-run", class: "use-button", onclick: task("export",
    () => ({ format: select.value, options: exportOptions(chosen()) })) }, "Export");
  return el("div", { class: "card" }, el("h2", {}, "Export"),
            el("div", { class: "actions" }, select, button), options, note,
            el("div", { id: "export-state", class: "hint" }));
}

// The options that differ from the format's defaults (the server fills in the rest).
function exportOptions(format) {
  const given = {};
  for (const input of document.querySelectorAll("#export-options [data-key]")) {
    const key = input.dataset.key.slice("export.".length), value = readInput(input);
    const fallback = format?.options?.properties?.[key]?.default ?? null;
    if (JSON.stringify(value) !== JSON.stringify(fallback)) given[key] = value;
  }
  return given;
}

function metricTable(results, samples) {
  const table = el("table", { class: "table", id: "metric-table" },
    el("tr", {}, el("th", {}, "metric"), el("th", {}, "value")));
  for (const [metric, value] of Object.entries(results.metrics || {}))
    table.append(el("tr", {}, el("td", {}, metric), el("td", {}, niceNumber(value))));
  table.append(el("tr", {}, el("td", {}, "samples"), el("td", {}, String(results.samples))));
  const wrap = el("div", {}, table);
  const rows = samples.map((sample) => flatten(sample.scores || sample));
  const keys = [...new Set(rows.flatMap((row) => Object.keys(row)))].filter((k) => k !== "origin");
  if (keys.length) {
    const perSample = el("table", { class: "table" },
      el("tr", {}, ...["record", ...keys].map((k) => el("th", {}, k.split(".").pop()))));
    samples.slice(0, 10).forEach((sample, index) => perSample.append(el("tr", {},
      el("td", {}, String(sample.origin ?? "").split("/").pop()),
      ...keys.map((k) => el("td", {}, typeof rows[index][k] === "number"
        ? niceNumber(rows[index][k]) : String(rows[index][k] ?? ""))))));
    wrap.append(el("h3", {}, "per sample"), perSample);
  }
  return wrap;
}

function flatten(object, prefix = "") {
  const flat = {};
  for (const [key, value] of Object.entries(object || {})) {
    if (value && typeof value === "object") Object.assign(flat, flatten(value, `${prefix}${key}.`));
    else flat[prefix + key] = value;
  }
  return flat;
}

async function refreshUse(run) {
  for (const button of document.querySelectorAll(".use-button")) button.disabled = !run.has_adapter;
  document.getElementById("chat-rag").disabled = !run.has_retriever;
  document.getElementById("chat-rag-label").title = run.has_retriever
    ? "passages from the run's retriever (its store)"
    : "this run's config has no retriever (Configure: retriever, a store from plugtune rag index)";
  if (!run.has_adapter) return;
  const path = `/runs/${encodeURIComponent(run.name)}/tasks`;
  const [predict, exported] = await Promise.all([api(path + "/predict"), api(path + "/export")]);
  document.getElementById("predict-state").textContent = predict.status
    ? `predict: ${predict.status}` + (predict.status === "failed" ? "\n" + predict.log.join("\n") : "") : "";
  const table = document.getElementById("predict-table");
  if (predict.results && table.dataset.shown !== String(predict.results.runtime_s)) {
    table.dataset.shown = String(predict.results.runtime_s);
    table.replaceChildren(metricTable(predict.results, predict.samples));
  }
  document.getElementById("export-state").textContent = exported.status
    ? `export: ${exported.status}` + (exported.status === "failed" ? "\n" + exported.log.join("\n") : "") : "";
}

// The picks are rebuilt only when the list of runs changes, so a pick made while the
// list refreshes is never lost; what is picked lives here, not in the DOM.
const picks = { chosen: new Set(), names: "" };

function renderPicks(list) {
  const names = list.map((run) => run.name);
  if (names.join("\n") === picks.names) return;
  picks.names = names.join("\n");
  document.getElementById("compare-picks").replaceChildren(...names.map((name) => {
    const box = el("input", { type: "checkbox", value: name, onchange: () => {
      if (box.checked) picks.chosen.add(name); else picks.chosen.delete(name);
      compareRuns();
    } });
    box.checked = picks.chosen.has(name);
    return el("label", {}, box, " " + name);
  }));
}

async function compareRuns() {
  const names = [...picks.chosen];
  const series = [];
  for (const name of names) series.push({ name, points: seriesOf(await pollLog(name), "loss") });
  drawChart(document.getElementById("compare-chart"), "loss", series);
  const { diff } = await api(`/compare?runs=${names.map(encodeURIComponent).join(",")}`);
  const table = document.getElementById("compare-diff");
  table.replaceChildren(el("tr", {}, el("th", {}, "key"), ...names.map((n) => el("th", {}, n))));
  if (!diff.length) table.append(el("tr", {}, el("td", { colspan: String(names.length + 1) },
    names.length > 1 ? "the configs are the same" : "pick another run to diff")));
  for (const row of diff)
    table.append(el("tr", {}, el("td", {}, row.key), ...names.map((n) => el("td", {}, JSON.stringify(row.values[n])))));
}

document.addEventListener("tab", (event) => {
  if (event.detail === "compare") api("/runs").then(renderPicks);
});
