// The data preview under the Data section: the template, each split's stats, and the
// first encoded examples with the trained tokens highlighted.
"use strict";

function statsTable(stats) {
  const columns = ["records", "examples", "dropped", "truncated", "label_ratio", "padding_ratio"];
  const table = el("table", { class: "table", id: "data-stats" },
    el("tr", {}, el("th", {}, "split"), el("th", {}, "p50 / max tokens"),
       ...columns.map((c) => el("th", {}, c.replace("_", " ")))));
  for (const [split, row] of Object.entries(stats))
    table.append(el("tr", {}, el("td", {}, split),
      el("td", {}, `${row.length_percentiles.p50} / ${row.length_percentiles.max}`),
      ...columns.map((c) => el("td", {}, niceNumber(row[c], 0.01)))));
  return table;
}

async function previewData() {
  const box = document.getElementById("data-preview");
  box.replaceChildren(el("span", { class: "hint" }, "encoding…"));
  try {
    const result = await api("/preview", { method: "POST", json: formConfig() });
    const examples = result.examples.map((example) => el("div", { class: "example" },
      el("div", { class: "hint" }, `${example.origin} · ${example.tokens} tokens`),
      el("pre", {}, ...example.pieces.map(([text, trained]) =>
        el("span", { class: trained ? "trained" : "" }, text)))));
    box.replaceChildren(el("div", {}, el("b", {}, "template: "), result.template,
                           el("span", { class: "hint" }, " · trained tokens in green")),
                        statsTable(result.stats), ...examples);
  } catch (error) {
    box.replaceChildren(el("span", { class: "message bad" }, error.message));
  }
}

function previewField() {
  return el("div", { class: "field preview-row" },
    el("button", { type: "button", id: "preview-data", onclick: previewData }, "Preview data"),
    el("div", { id: "data-preview", class: "preview" }));
}
