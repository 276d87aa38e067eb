// Shared by the page's scripts: the API call (with the token from the URL), tabs.
"use strict";
const TOKEN = new URLSearchParams(location.search).get("token") || "";

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (TOKEN) headers.Authorization = "Bearer " + TOKEN;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options = Object.assign({}, options, { body: JSON.stringify(options.json) });
  }
  const response = await fetch("/api" + path, Object.assign({}, options, { headers }));
  if (options.raw) return response;
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab"))
    tab.classList.toggle("active", tab.dataset.tab === name);
  for (const page of document.querySelectorAll(".page"))
    page.classList.toggle("active", page.id === name);
  document.dispatchEvent(new CustomEvent("tab", { detail: name }));
}

for (const tab of document.querySelectorAll(".tab"))
  tab.addEventListener("click", () => showTab(tab.dataset.tab));
