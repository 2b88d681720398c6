// German and English strings. The language follows the OS (navigator.language) unless chosen.
"use strict";

const STRINGS = {
  en: {
    tagline: "End-to-end encrypted video meetings.",
    promise: "The meeting server relays only ciphertext: it never sees or hears you.",
    language: "Language",
    about: (v, suite) => `Version ${v} · media encryption: SFrame ${suite}`,
    noBackend: "Running outside the Conclave app: no version information.",
  },
  de: {
    tagline: "Videokonferenzen mit Ende-zu-Ende-Verschlüsselung.",
    promise: "Der Konferenzserver leitet nur Chiffretext weiter: Er sieht und hört Sie nie.",
    language: "Sprache",
    about: (v, suite) => `Version ${v} · Medienverschlüsselung: SFrame ${suite}`,
    noBackend: "Läuft außerhalb der Conclave-App: keine Versionsangaben.",
  },
};

function defaultLanguage() {
  const lang = (navigator.language || "en").slice(0, 2).toLowerCase();
  return lang in STRINGS ? lang : "en";
}

function t(lang, key, ...args) {
  const entry = STRINGS[lang][key];
  return typeof entry === "function" ? entry(...args) : entry;
}
