// German and English strings. The language follows the OS (navigator.language) unless chosen.
"use strict";

const STRINGS = {
  en: {
    language: "Language",
    prejoinTitle: "Join a meeting",
    promise: "The meeting server relays only ciphertext: it never sees or hears you.",
    linkLabel: "Meeting link",
    nameLabel: "Your name",
    cameraLabel: "Camera",
    microphoneLabel: "Microphone",
    speakerLabel: "Speaker",
    startMuted: "Join with microphone off",
    startCameraOff: "Join with camera off",
    join: "Join",
    noDevice: "None",
    systemDefault: "System default",
    linkOk: (room, server) => `Room “${room}” on ${server}`,
    meetingTitle: "Meeting",
    e2eeTitle: "End-to-end encrypted",
    codeHint: "Compare this code with everyone: if all see the same, nobody is listening in.",
    codeSettling: "being agreed …",
    participants: "Participants",
    microphone: "Microphone",
    camera: "Camera",
    leave: "Leave",
    devices: "Devices",
    selfView: "Your camera",
    joinedMeeting: (name) => `${name} joined the meeting.`,
    inMeeting: (name) => `${name} is in the meeting.`,
    leftMeeting: (name) => `${name} left the meeting.`,
    forgedFrames: (name) =>
      `Warning: someone in this meeting sent pictures or sound pretending to be ${name}. They were detected and are dropped; compare the group code.`,
    unavailableDevice: "The device in use (no longer available)",
    mutedHint: "You are muted. Unmute with the microphone button or Ctrl+Shift+M.",
    useDevices: "Use these",
    you: "You",
    verified: "verified",
    unverified: "not verified — gets no keys",
    verifying: "verifying…",
    micOff: "microphone off",
    micOn: "microphone on",
    micNone: "no microphone",
    camOff: "camera off",
    waiting: "Waiting for others to join…",
    frames: (n) => `${n} frames`,
    undecryptable: (name, n) =>
      `none of the ${n} frames from ${name} could be decrypted: a wrong room secret on one side?`,
    notVerified: (name, why) => `${name} is not verified and gets no keys: ${why}`,
    // A device the app could not use ({ device, problem, detail } from the app).
    deviceProblem: ({ device, problem, detail }) => {
      const noun = { camera: "camera", microphone: "microphone", speaker: "speaker" }[device];
      const why = detail ? ` (${detail})` : "";
      const what = {
        not_found: detail ? `No ${noun} named “${detail}” was found` : `No ${noun} was found`,
        unavailable: `The ${noun} could not be opened${why}`,
        stopped: `The ${noun} stopped${why}`,
        failed: `The ${noun} failed${why}`,
      }[problem];
      const then = {
        camera: "you take part without video",
        microphone: "you take part without sound",
        speaker: "you cannot hear the others",
      }[device];
      return `${what}; ${then}.`;
    },
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Connection lost — reconnecting…",
    left: "You left the meeting.",
    failed: "The meeting ended with an error.",
    endSfuRefused: (detail) => `The meeting server refused to let you in (${detail}).`,
    endConnectionLost: "The meeting server could not be reached, so Conclave stopped trying.",
    endNoTurnServer:
      "Media only through a TURN server is set, but no TURN server is configured (see Settings).",
    endBadIceServer: (detail) => `A configured STUN/TURN server cannot be used (${detail}). Check the settings.`,
    endNoRelay:
      "The TURN server gave no relay: it refused the user name or password, or did not answer. Check the TURN settings.",
    endUntrustedServer: (detail) =>
      `The meeting server's certificate is not trusted, so Conclave did not connect (${detail}). If your organisation runs its own certificate authority, add it in the settings.`,
    endBadCa: (detail) => `The trusted certificate authority in the settings cannot be used (${detail}).`,
    insecureLink:
      "This link talks to its server unencrypted (ws://): the server's address, room PIN and connection details cross the network in clear. Media stays end-to-end encrypted.",
    unreachable: "Cannot reach the meeting server. Still trying — check the link or your network.",
    reconnectingPeer: "reconnecting…",
    showSafetyNumber: "Show the safety number you can compare with them",
    safetyNumber: (n) => `safety number ${n}`,
    switchTitle: "Join another meeting?",
    switchText: "You are in a meeting. Leave it and join the one from the link?",
    switchYes: "Leave and join",
    switchNo: "Stay here",
    invalidLink: "This is not a valid Conclave meeting link.",
    badDevice: "That device cannot be chosen.",
    alreadyInMeeting: "You are already in a meeting.",
    noName: "Please enter your name.",
    internal: "Something went wrong inside Conclave.",
    micLevel: "Microphone level",
    testCall: "Test call",
    testing: "Testing camera and microphone for three seconds…",
    testVideo: (p50, p95, psnr, lost) =>
      `Picture: ${p50} ms from camera to screen (95 %: ${p95} ms), quality ${psnr} dB, ${lost} frames lost.`,
    testAudio: (played, concealed) => `Sound: ${played} frames played, ${concealed} concealed.`,
    testNoVideo: "Picture: no camera.",
    testNoAudio: "Sound: no microphone.",
    settings: "Settings",
    savedRooms: "Remembered rooms",
    remember: "Remember this room on this computer (its secret goes into the system keyring)",
    forget: "Forget",
    defaultName: "Default name",
    iceServers: "STUN/TURN servers (passwords go into the system keyring)",
    iceUrl: "stun: or turn: address",
    iceUser: "User name (TURN)",
    icePassword: "Password (TURN)",
    iceAdd: "Add server",
    iceRemove: "Remove",
    iceHint: "None by default: Conclave then contacts nobody but the meeting server.",
    relayOnly:
      "Send media only through the TURN server, so that the meeting server never sees this computer's address",
    relayWithoutTurn: "Media only through a TURN server needs a TURN server (a turn: line above).",
    badIceServer: (detail) => `A STUN/TURN server cannot be used (${detail}); nothing was saved.`,
    badCa: (detail) => `The certificate authority cannot be used (${detail}); nothing was saved.`,
    advanced: "Advanced",
    trustedCa:
      "An extra certificate authority to trust for meeting servers (PEM), for organisations that run their own",
    keepIdentity:
      "Keep my identity key on this computer (in the system keyring), so that my safety numbers stay the same across meetings",
    devicesHint: "Saving also keeps the camera, microphone and speaker chosen on the join screen.",
    save: "Save",
    cancel: "Cancel",
    privacy: "Privacy",
    privacyText: "Conclave keeps no meeting history. Only what you chose to keep is stored: these settings and remembered rooms.",
    forgetEverything: "Forget everything",
    forgotten: "Everything Conclave kept is deleted: settings and remembered rooms.",
    keyring: "The system keyring is not available; the room was not remembered.",
    keyringSettings: "The system keyring is not available, so the TURN password cannot be kept: nothing was saved.",
    settingsFailed: "The settings could not be saved.",
    about: (v, suite) => `Version ${v} · media encryption: SFrame ${suite}`,
    noBackend: "Running outside the Conclave app: no version information.",
  },
  de: {
    language: "Sprache",
    prejoinTitle: "An einer Besprechung teilnehmen",
    promise: "Der Konferenzserver leitet nur Chiffretext weiter: Er sieht und hört Sie nie.",
    linkLabel: "Besprechungslink",
    nameLabel: "Ihr Name",
    cameraLabel: "Kamera",
    microphoneLabel: "Mikrofon",
    speakerLabel: "Lautsprecher",
    startMuted: "Mit ausgeschaltetem Mikrofon beitreten",
    startCameraOff: "Mit ausgeschalteter Kamera beitreten",
    join: "Beitreten",
    noDevice: "Keine",
    systemDefault: "Systemstandard",
    linkOk: (room, server) => `Raum „${room}“ auf ${server}`,
    meetingTitle: "Besprechung",
    e2eeTitle: "Ende-zu-Ende-verschlüsselt",
    codeHint: "Vergleichen Sie diesen Code mit allen: Sehen alle denselben, hört niemand mit.",
    codeSettling: "wird vereinbart …",
    participants: "Teilnehmende",
    microphone: "Mikrofon",
    camera: "Kamera",
    leave: "Verlassen",
    devices: "Geräte",
    selfView: "Ihre Kamera",
    joinedMeeting: (name) => `${name} nimmt jetzt teil.`,
    inMeeting: (name) => `${name} ist in der Besprechung.`,
    leftMeeting: (name) => `${name} hat die Besprechung verlassen.`,
    forgedFrames: (name) =>
      `Warnung: Jemand in dieser Besprechung hat Bild oder Ton als ${name} ausgegeben. Das wurde erkannt und wird verworfen; vergleichen Sie den Gruppencode.`,
    unavailableDevice: "Das bisherige Gerät (nicht mehr verfügbar)",
    mutedHint: "Ihr Mikrofon ist aus. Einschalten mit der Mikrofon-Taste oder Strg+Umschalt+M.",
    useDevices: "Übernehmen",
    you: "Sie",
    verified: "verifiziert",
    unverified: "nicht verifiziert — erhält keine Schlüssel",
    verifying: "wird verifiziert…",
    micOff: "Mikrofon aus",
    micOn: "Mikrofon an",
    micNone: "kein Mikrofon",
    camOff: "Kamera aus",
    waiting: "Warten auf weitere Teilnehmende…",
    frames: (n) => `${n} Bilder`,
    undecryptable: (name, n) =>
      `Keiner der ${n} Frames von ${name} ließ sich entschlüsseln: Hat eine Seite einen falschen Raumschlüssel?`,
    notVerified: (name, why) => `${name} ist nicht verifiziert und erhält keine Schlüssel: ${why}`,
    deviceProblem: ({ device, problem, detail }) => {
      const [article, noun, none] = {
        camera: ["Die", "Kamera", "Keine"],
        microphone: ["Das", "Mikrofon", "Kein"],
        speaker: ["Der", "Lautsprecher", "Kein"],
      }[device];
      const why = detail ? ` (${detail})` : "";
      const what = {
        not_found: detail ? `${none} ${noun} namens „${detail}“ gefunden` : `${none} ${noun} gefunden`,
        unavailable: `${article} ${noun} ließ sich nicht öffnen${why}`,
        stopped: `${article} ${noun} ist ausgefallen${why}`,
        failed: `${article} ${noun} funktioniert nicht${why}`,
      }[problem];
      const then = {
        camera: "Sie nehmen ohne Bild teil",
        microphone: "Sie nehmen ohne Ton teil",
        speaker: "Sie hören die anderen nicht",
      }[device];
      return `${what}; ${then}.`;
    },
    "they use an older version of Conclave that cannot talk to this one":
      "sie verwenden eine ältere Version von Conclave, die mit dieser nicht sprechen kann",
    // Why a handshake failed, as the key agreement (crates/group) says it.
    "no answer to the handshake in time": "keine rechtzeitige Antwort auf den Schlüsselaustausch",
    "the handshake could not start": "der Schlüsselaustausch konnte nicht beginnen",
    "the handshake did not verify": "der Schlüsselaustausch ließ sich nicht prüfen",
    "they do not hold this room's secret, or someone altered the handshake":
      "hat nicht den Raumschlüssel dieses Raums, oder jemand hat den Schlüsselaustausch verändert",
    connecting: "Verbindung wird aufgebaut…",
    connected: "Verbunden",
    reconnecting: "Verbindung unterbrochen — neuer Versuch…",
    left: "Sie haben die Besprechung verlassen.",
    failed: "Die Besprechung wurde mit einem Fehler beendet.",
    endSfuRefused: (detail) => `Der Konferenzserver hat den Beitritt abgelehnt (${detail}).`,
    endConnectionLost: "Der Konferenzserver war nicht erreichbar; Conclave hat es aufgegeben.",
    endNoTurnServer:
      "Medien nur über einen TURN-Server sind eingestellt, aber kein TURN-Server ist eingetragen (siehe Einstellungen).",
    endBadIceServer: (detail) =>
      `Ein eingetragener STUN/TURN-Server ist nicht verwendbar (${detail}). Bitte die Einstellungen prüfen.`,
    endNoRelay:
      "Der TURN-Server hat kein Relay vergeben: Er hat Benutzername oder Passwort abgelehnt oder nicht geantwortet. Bitte die TURN-Einstellungen prüfen.",
    endUntrustedServer: (detail) =>
      `Dem Zertifikat des Konferenzservers wird nicht vertraut, daher hat Conclave keine Verbindung aufgebaut (${detail}). Wenn Ihre Organisation eine eigene Zertifizierungsstelle betreibt, tragen Sie sie in den Einstellungen ein.`,
    endBadCa: (detail) =>
      `Die in den Einstellungen eingetragene Zertifizierungsstelle ist nicht verwendbar (${detail}).`,
    insecureLink:
      "Dieser Link spricht unverschlüsselt mit seinem Server (ws://): Raum-PIN und Verbindungsdaten gehen im Klartext übers Netz. Die Medien bleiben Ende-zu-Ende-verschlüsselt.",
    unreachable: "Der Konferenzserver ist nicht erreichbar. Neue Versuche laufen — prüfen Sie den Link oder Ihr Netzwerk.",
    reconnectingPeer: "Verbindung wird wiederhergestellt…",
    showSafetyNumber: "Die Sicherheitsnummer zeigen, die Sie miteinander vergleichen können",
    safetyNumber: (n) => `Sicherheitsnummer ${n}`,
    switchTitle: "An einer anderen Besprechung teilnehmen?",
    switchText: "Sie sind in einer Besprechung. Diese verlassen und der Besprechung aus dem Link beitreten?",
    switchYes: "Verlassen und beitreten",
    switchNo: "Hierbleiben",
    invalidLink: "Dies ist kein gültiger Conclave-Besprechungslink.",
    badDevice: "Dieses Gerät kann nicht gewählt werden.",
    alreadyInMeeting: "Sie sind bereits in einer Besprechung.",
    noName: "Bitte geben Sie Ihren Namen ein.",
    internal: "In Conclave ist etwas schiefgegangen.",
    micLevel: "Mikrofonpegel",
    testCall: "Testanruf",
    testing: "Kamera und Mikrofon werden drei Sekunden lang getestet…",
    testVideo: (p50, p95, psnr, lost) =>
      `Bild: ${p50} ms von der Kamera bis zum Bildschirm (95 %: ${p95} ms), Qualität ${psnr} dB, ${lost} Bilder verloren.`,
    testAudio: (played, concealed) => `Ton: ${played} Pakete abgespielt, ${concealed} verdeckt.`,
    testNoVideo: "Bild: keine Kamera.",
    testNoAudio: "Ton: kein Mikrofon.",
    settings: "Einstellungen",
    savedRooms: "Gemerkte Räume",
    remember: "Diesen Raum auf diesem Computer merken (sein Geheimnis kommt in den Systemschlüsselbund)",
    forget: "Vergessen",
    defaultName: "Standardname",
    iceServers: "STUN/TURN-Server (Passwörter kommen in den Systemschlüsselbund)",
    iceUrl: "stun:- oder turn:-Adresse",
    iceUser: "Benutzername (TURN)",
    icePassword: "Passwort (TURN)",
    iceAdd: "Server hinzufügen",
    iceRemove: "Entfernen",
    iceHint: "Standardmäßig keine: Conclave kontaktiert dann nur den Konferenzserver.",
    relayOnly:
      "Medien nur über den TURN-Server senden, damit der Konferenzserver die Adresse dieses Computers nie sieht",
    relayWithoutTurn: "Medien nur über einen TURN-Server brauchen einen TURN-Server (eine turn:-Zeile oben).",
    badIceServer: (detail) => `Ein STUN/TURN-Server ist nicht verwendbar (${detail}); nichts wurde gespeichert.`,
    badCa: (detail) => `Die Zertifizierungsstelle ist nicht verwendbar (${detail}); nichts wurde gespeichert.`,
    advanced: "Erweitert",
    trustedCa:
      "Eine zusätzliche Zertifizierungsstelle für Konferenzserver (PEM), für Organisationen mit eigener",
    keepIdentity:
      "Meinen Identitätsschlüssel auf diesem Computer behalten (im Systemschlüsselbund), damit meine Sicherheitsnummern von Besprechung zu Besprechung gleich bleiben",
    devicesHint: "Speichern behält auch Kamera, Mikrofon und Lautsprecher, die auf der Beitrittsseite gewählt sind.",
    save: "Speichern",
    cancel: "Abbrechen",
    privacy: "Datenschutz",
    privacyText: "Conclave führt keinen Besprechungsverlauf. Gespeichert wird nur, was Sie behalten wollen: diese Einstellungen und gemerkte Räume.",
    forgetEverything: "Alles vergessen",
    forgotten: "Alles, was Conclave gespeichert hatte, ist gelöscht: Einstellungen und gemerkte Räume.",
    keyring: "Der Systemschlüsselbund ist nicht verfügbar; der Raum wurde nicht gemerkt.",
    keyringSettings:
      "Der Systemschlüsselbund ist nicht verfügbar, daher kann das TURN-Passwort nicht aufbewahrt werden: Nichts wurde gespeichert.",
    settingsFailed: "Die Einstellungen konnten nicht gespeichert werden.",
    about: (v, suite) => `Version ${v} · Medienverschlüsselung: SFrame ${suite}`,
    noBackend: "Läuft außerhalb der Conclave-App: keine Versionsangaben.",
  },
};

function defaultLanguage() {
  const lang = (navigator.language || "en").slice(0, 2).toLowerCase();
  return lang in STRINGS ? lang : "en";
}

function t(lang, key, ...args) {
  const entry = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return typeof entry === "function" ? entry(...args) : entry;
}
