// The home screen: applies a language and shows what the Rust side reports about itself.
"use strict";

let language = defaultLanguage();
let info = null;

function render() {
  document.documentElement.lang = language;
  for (const el of document.querySelectorAll("[data-i18n]")) {
    el.textContent = t(language, el.dataset.i18n);
  }
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === language));
  }
  document.getElementById("about").textContent = info
    ? t(language, "about", info.version, info.cipherSuite)
    : t(language, "noBackend");
}

async function load() {
  const tauri = window.__TAURI__;
  if (tauri) {
    info = await tauri.core.invoke("app_info");
  }
  render();
}

for (const button of document.querySelectorAll("[data-lang]")) {
  button.addEventListener("click", () => {
    language = button.dataset.lang;
    render();
  });
}

load();
