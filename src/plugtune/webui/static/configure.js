// The configure page: fields from the config's JSON schema, component pickers from the
// registries (with each component's own options), checked by the server as you type.
"use strict";
const SECTIONS = ["model", "data", "template", "trainer", "peft", "quantization", "training",
                  "evaluation", "generation", "retriever", "output"];
const COMPONENTS = { template: "templates", trainer: "trainers", peft: "peft",
                     retriever: "retrievers" };
const NO_CHOICE = { template: "auto", trainer: "", retriever: "" };  // peft always has one
const LISTS = { "evaluation.metrics": "metrics" };
const SKIPPED = new Set(["data.loader", "evaluation.benchmark", "data.dataset_dir",
                         "data.registry", "output.dir"]);
const form = { spec: null, values: {}, timer: null, yaml: "" };

function resolve(schema) {
  if (!schema) return {};
  if (schema.$ref) return resolve(form.spec.schema.$defs[schema.$ref.split("/").pop()]);
  if (schema.anyOf) {
    const real = schema.anyOf.filter((s) => s.type !== "null").map(resolve);
    const pick = real.find((s) => s.type !== "string") || real[0] || {};
    return Object.assign({}, pick, { nullable: true, description: schema.description,
                                     default: schema.default });
  }
  return schema;
}

function getPath(object, key) {
  return key.split(".").reduce((node, part) => (node == null ? undefined : node[part]), object);
}

function setPath(object, key, value) {
  const parts = key.split("."), last = parts.pop();
  let node = object;
  for (const part of parts) {
    if (node[part] == null || typeof node[part] !== "object") node[part] = {};
    node = node[part];
  }
  node[last] = value;
}

function inputFor(key, schema, value) {
  const id = "f-" + key.replaceAll(".", "-");
  let input, kind = schema.type || "string";
  if (schema.enum) {
    input = el("select", { id });
    if (schema.nullable) input.append(el("option", { value: "" }, "(none)"));
    for (const option of schema.enum) input.append(el("option", { value: option }, String(option)));
    input.value = value ?? schema.default;
    kind = typeof schema.enum[0] === "number" ? "number" : "string";
  } else if (kind === "boolean" && schema.nullable) {  // unset keeps the config's own rule
    input = el("select", { id });
    for (const option of ["", "true", "false"])
      input.append(el("option", { value: option }, option || "(default)"));
    input.value = value == null ? "" : String(value);
    kind = "unset-or-boolean";
  } else if (kind === "boolean") {
    input = el("input", { id, type: "checkbox" });
    input.checked = Boolean(value);
  } else if (kind === "integer" || kind === "number") {
    input = el("input", { id, type: "number", step: "any" });
    input.value = value ?? "";
  } else if (kind === "array" && (value == null || Array.isArray(value))) {
    input = el("input", { id, placeholder: "comma-separated", spellcheck: "false" });
    input.value = (value || []).map((item) => (typeof item === "object" ? item.name || item.path
                                                                        : item)).join(", ");
  } else {  // a string, or a value that may be a string or a list (given as a string)
    input = el("input", { id, spellcheck: "false" });
    input.value = value ?? "";
    kind = "string";
  }
  input.dataset.key = key;
  input.dataset.kind = kind;
  input.addEventListener("change", scheduleCheck);
  input.addEventListener("input", scheduleCheck);
  return input;
}

function fieldRow(key, label, control, help) {
  const row = el("div", { class: "field", "data-field": key }, el("label", { for: control.id }, label),
                 control);
  if (help) row.append(el("div", { class: "help" }, help));
  row.append(el("div", { class: "error" }));
  return row;
}

function objectFields(container, prefix, schema, values) {
  for (const [name, property] of Object.entries(schema.properties || {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    const resolved = resolve(property);
    if (SKIPPED.has(key) || (resolved.type === "object" && !resolved.properties)) continue;
    if (LISTS[key]) { container.append(checkboxList(key, LISTS[key], values?.[name])); continue; }
    const value = values?.[name] ?? resolved.default;
    container.append(fieldRow(key, name, inputFor(key, resolved, value),
                              property.description || resolved.description));
  }
}

// A section that passes unknown keys on (training: any TrainingArguments field) gets a
// box of "key = value" lines; a value is read as JSON when it parses (numbers, true).
function extraField(section, schema, values) {
  const known = new Set(Object.keys(schema.properties || {}));
  const lines = Object.entries(values || {}).filter(([key]) => !known.has(key))
    .map(([key, value]) => `${key} = ${typeof value === "string" ? value : JSON.stringify(value)}`);
  const box = el("textarea", { id: `f-${section}-extra`, rows: "3", spellcheck: "false",
                               placeholder: "save_steps = 100\nwarmup_ratio = 0.1" });
  box.value = lines.join("\n");
  box.dataset.key = section;
  box.dataset.kind = "extra";
  box.dataset.known = [...known].join(",");
  box.addEventListener("input", scheduleCheck);
  return fieldRow(`${section}.*`, "other arguments", box,
                  "Any other field this section passes on, one key = value a line.");
}

// An optional section (quantization): off means none at all in the config.
function enableField(section, value) {
  const box = el("input", { id: `f-${section}-enabled`, type: "checkbox" });
  box.checked = value != null;
  box.dataset.enables = section;
  box.addEventListener("change", scheduleCheck);
  return fieldRow(section, "use", box);
}

function checkboxList(key, kind, selected) {
  const names = new Set((selected || []).map((item) => item.name || item));
  const box = el("div", { class: "checks", id: "f-" + key.replaceAll(".", "-") });
  box.dataset.key = key;
  box.dataset.kind = "list";
  for (const component of form.spec.components[kind]) {
    const check = el("input", { type: "checkbox", value: component.name, title: component.doc });
    check.checked = names.has(component.name);
    check.addEventListener("change", scheduleCheck);
    box.append(el("label", { title: component.doc }, check, " " + component.name + " "));
  }
  return fieldRow(key, key.split(".").pop(), box);
}

function componentField(section, value) {
  const kind = COMPONENTS[section];
  const name = typeof value === "string" ? value : value?.name || value?.type || "";
  const select = el("select", { id: "f-" + section });
  select.dataset.key = section;
  select.dataset.kind = "component";
  const empty = section in NO_CHOICE ? [NO_CHOICE[section]] : [];
  for (const option of empty) select.append(el("option", { value: option },
    option || (section === "retriever" ? "(none: no RAG)" : "(default)")));
  for (const c of form.spec.components[kind])
    select.append(el("option", { value: c.name, title: c.doc }, `${c.name} — ${c.origin}`));
  select.value = name || (section === "peft" ? "lora" : empty[0]);
  const options = el("div", { class: "options", id: `options-${section}` });
  const showOptions = () => {
    const chosen = form.spec.components[kind].find((c) => c.name === select.value);
    options.replaceChildren();
    if (chosen?.options) objectFields(options, section, chosen.options,
                                      typeof value === "object" ? value : {});
  };
  select.addEventListener("change", () => { showOptions(); scheduleCheck(); });
  showOptions();
  const chosen = form.spec.components[kind].find((c) => c.name === select.value);
  return [fieldRow(section, "name", select, chosen?.doc), options];
}

function buildForm(values) {
  form.values = values;
  const root = document.getElementById("config-form");
  root.replaceChildren();
  for (const section of SECTIONS) {
    const set = el("fieldset", { id: "section-" + section }, el("legend", {}, section));
    if (COMPONENTS[section]) set.append(...componentField(section, values[section]));
    else {
      const schema = resolve(form.spec.schema.properties[section]);
      if (form.spec.defaults[section] === null) set.append(enableField(section, values[section]));
      objectFields(set, section, schema, values[section] || {});
      if (section === "data") set.append(previewField());
      if (schema.additionalProperties !== false && schema.properties)
        set.append(extraField(section, schema, values[section]));
    }
    root.append(set);
  }
  scheduleCheck();
}

function readInput(input) {
  const kind = input.dataset.kind;
  if (kind === "boolean") return input.checked;
  if (kind === "unset-or-boolean") return input.value === "" ? null : input.value === "true";
  if (kind === "extra") return Object.fromEntries(input.value.split("\n")
    .map((line) => line.split("=")).filter((parts) => parts.length > 1 && parts[0].trim())
    .map(([key, ...rest]) => [key.trim(), parseValue(rest.join("=").trim())]));
  if (kind === "list") return [...input.querySelectorAll("input:checked")].map((c) => c.value);
  if (kind === "array") return input.value.split(",").map((s) => s.trim()).filter(Boolean);
  if (input.value === "") return null;
  if (kind === "integer" || kind === "number") return Number(input.value);
  return input.value;
}

function parseValue(text) {
  try { return JSON.parse(text); } catch { return text; }
}

function formConfig() {
  const config = JSON.parse(JSON.stringify(form.values));
  for (const section of Object.keys(COMPONENTS)) config[section] = {};
  for (const input of document.querySelectorAll("#config-form [data-key]")) {
    const key = input.dataset.key, value = readInput(input);
    if (input.dataset.kind === "component") setPath(config, key + (key === "peft" ? ".type" : ".name"), value);
    else if (input.dataset.kind === "extra") {
      const known = new Set(input.dataset.known.split(","));
      for (const old of Object.keys(config[key] || {})) if (!known.has(old)) delete config[key][old];
      config[key] = Object.assign(config[key] || {}, value);
    }
    else setPath(config, key, value);
  }
  for (const box of document.querySelectorAll("#config-form [data-enables]"))
    if (!box.checked) config[box.dataset.enables] = null;
  for (const section of Object.keys(NO_CHOICE))
    if (!config[section].name || config[section].name === "auto") config[section] = null;
  for (const section of Object.keys(COMPONENTS)) dropDefaultOptions(section, config[section]);
  return pruned(config, form.spec.defaults);
}

function dropDefaultOptions(section, ref) {
  if (!ref) return;
  const chosen = form.spec.components[COMPONENTS[section]].find(
    (c) => c.name === (ref.name || ref.type));
  for (const [option, schema] of Object.entries(chosen?.options?.properties || {}))
    if (JSON.stringify(ref[option]) === JSON.stringify(schema.default ?? null)
        || (schema.default == null && Array.isArray(ref[option]) && !ref[option].length))
      delete ref[option];
}

// Only what differs from the defaults: the YAML stays as short as a hand-written one.
function pruned(config, defaults) {
  const out = {};
  for (const [key, value] of Object.entries(config)) {
    const base = defaults?.[key];
    if (value && typeof value === "object" && !Array.isArray(value) && key !== "peft") {
      const inner = pruned(value, base || {});
      if (Object.keys(inner).length) out[key] = inner;
    } else if (JSON.stringify(value) !== JSON.stringify(base ?? null)
               && !(value == null && base === undefined)) out[key] = value;
  }
  return out;
}

function scheduleCheck() {
  clearTimeout(form.timer);
  form.timer = setTimeout(checkForm, 250);
}

function showErrors(errors) {
  for (const row of document.querySelectorAll("#config-form .field[data-field]")) {
    row.classList.remove("invalid");
    row.querySelector(".error").textContent = "";
  }
  const unplaced = [];
  for (const [key, message] of Object.entries(errors || {})) {
    let row = null;
    for (let parts = key.split("."); parts.length && !row; parts.pop())
      row = document.querySelector(`#config-form .field[data-field="${parts.join(".")}"]`);
    if (!row) { unplaced.push(`${key || "config"}: ${message}`); continue; }
    row.classList.add("invalid");
    row.querySelector(".error").textContent = message;
  }
  setMessage(unplaced.join("; "), unplaced.length ? "bad" : "");
}

function setMessage(text, kind) {
  const node = document.getElementById("launch-message");
  node.textContent = text;
  node.className = "message " + (kind || "");
}

async function checkForm() {
  const result = await api("/check", { method: "POST", json: formConfig() });
  form.yaml = result.yaml;
  document.getElementById("yaml-preview").textContent = result.yaml;
  showErrors(result.errors);
  return result;
}

async function launch() {
  const name = document.getElementById("run-name").value.trim();
  const processes = Number(document.getElementById("processes").value) || 1;
  try {
    const result = await api("/runs", { method: "POST", json: { name, config: formConfig(), processes } });
    if (!result.ok) { showErrors(result.errors); return; }
    setMessage(`launched ${name}`, "ok");
    openRun(name);
  } catch (error) { setMessage(error.message, "bad"); }
}

async function loadYaml(event) {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const result = await api("/yaml", { method: "POST", body: await file.text(),
                                        headers: { "Content-Type": "text/plain" } });
    buildForm(result.config);
    setMessage(`loaded ${file.name}`, "ok");
  } catch (error) { setMessage(error.message, "bad"); }
  event.target.value = "";
}

function downloadYaml() {
  const link = el("a", { href: URL.createObjectURL(new Blob([form.yaml], { type: "text/yaml" })),
                         download: (document.getElementById("run-name").value || "run") + ".yaml" });
  link.click();
}

document.getElementById("launch").addEventListener("click", launch);
document.getElementById("load-yaml").addEventListener("change", loadYaml);
document.getElementById("download-yaml").addEventListener("click", downloadYaml);
api("/form").then((spec) => { form.spec = spec; buildForm(spec.defaults); });
