//! Just enough of the W3C WebDriver protocol to drive the app through `tauri-driver`: sessions,
//! elements, clicks, typing, scripts and screenshots, over plain HTTP/1.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session.
pub struct Session {
    port: u16,
    id: String,
}

// No `Connection: close`: tauri-driver would pass it on to WebKitWebDriver, which then closes the
// connection that tauri-driver's pool reuses for the next request, and that request fails.
fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).map_err(|e| e.to_string())?;
    let mut length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let mut text = Vec::new();
    match length {
        Some(n) => {
            text.resize(n, 0);
            reader.read_exact(&mut text).map_err(|e| e.to_string())?;
        }
        None => {
            reader.read_to_end(&mut text).map_err(|e| e.to_string())?;
        }
    }
    let value: Value = serde_json::from_slice(&text)
        .map_err(|e| format!("{status}: {e}: {}", String::from_utf8_lossy(&text)))?;
    if !status.contains(" 200 ") {
        return Err(format!("{} {path}: {value}", status.trim()));
    }
    Ok(value["value"].clone())
}

impl Session {
    /// Waits for the driver on `port`, then starts the app at `application`.
    pub fn start(port: u16, application: &str) -> Session {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tauri-driver did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({
            "capabilities": { "alwaysMatch": { "tauri:options": { "application": application } } }
        });
        // tauri-driver listens before WebKitWebDriver behind it does: retry until both answer.
        let value = loop {
            match request(port, "POST", "/session", Some(&caps)) {
                Ok(v) => break v,
                Err(e) if Instant::now() > deadline => panic!("no WebDriver session: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        let id = value["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Session { port, id }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        request(
            self.port,
            method,
            &format!("/session/{}{path}", self.id),
            body.as_ref(),
        )
    }

    /// The element matching a CSS selector, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> Element<'_> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.call(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            ) {
                Ok(v) => {
                    return Element {
                        session: self,
                        id: v[ELEMENT]
                            .as_str()
                            .unwrap_or_else(|| panic!("an element id in {v}"))
                            .to_owned(),
                    };
                }
                Err(e) if Instant::now() > deadline => panic!("no element {css}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Runs `script` (a function body; `arguments` available) in the page.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Polls `script` until it returns something truthy; returns that, or panics after `within`.
    pub fn wait_for(&self, what: &str, within: Duration, script: &str) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let v = self.script(script, json!([]));
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            if Instant::now() >= deadline {
                panic!("timed out waiting for {what}\n{}", self.diagnosis(what));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// What a failed wait leaves behind: the page's last pointer events (which element each
    /// click went to, and what lay at its point when it was sent) and a screenshot kept in
    /// `/tmp/conclave-window-failures/`. Best effort: a broken session says only that.
    fn diagnosis(&self, what: &str) -> String {
        let events = self
            .call(
                "POST",
                "/execute/sync",
                Some(json!({"script": "return window.__pointer || []", "args": []})),
            )
            .map(|v| v.to_string())
            .unwrap_or_else(|e| format!("(no page: {e})"));
        let dir = std::path::Path::new("/tmp/conclave-window-failures");
        let name: String = what
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let shot = dir.join(format!("{}-{name}.png", std::process::id()));
        let kept = self
            .call("GET", "/screenshot", None)
            .ok()
            .and_then(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.as_str()?)
                    .ok()
            })
            .and_then(|png| {
                std::fs::create_dir_all(dir).ok()?;
                std::fs::write(&shot, png).ok()
            });
        let shot = match kept {
            Some(()) => shot.display().to_string(),
            None => "none".into(),
        };
        format!("pointer events: {events}\nscreenshot: {shot}")
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        // WebKitGTK under Xvfb answers a screenshot only after its next paint, and a page at rest
        // never paints: keep it repainting (invisibly) for a moment.
        self.script(
            "let n = 0; const i = setInterval(() => {\
               document.body.style.opacity = n % 2 ? '1' : '0.999';\
               if (++n > 30) { clearInterval(i); document.body.style.opacity = ''; }\
             }, 30);",
            json!([]),
        );
        let b64 = self.call("GET", "/screenshot", None).expect("a screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64"))
            .expect("valid base64")
    }

    /// Ends the session (and the app).
    pub fn close(self) {
        let _ = self.call("DELETE", "", None);
    }
}

/// An element of the page.
pub struct Element<'a> {
    session: &'a Session,
    id: String,
}

impl Element<'_> {
    /// Clicks it, scrolled into view first (WebKitWebDriver does not scroll inside a dialog
    /// taller than the window, and refuses an element outside the view as "not interactable").
    pub fn click(&self) {
        self.session.script(
            // The middle of the window: at an edge, the sticky header can cover it. The page
            // keeps its last pointer events, and what lay under this element's middle when the
            // click was sent, for a wait that fails after it (`Session::diagnosis`).
            "const el = arguments[0];\
             el.scrollIntoView({block: 'center', inline: 'nearest'});\
             const name = e => e ? e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')\
               + (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\\s+/).join('.') : '') : 'nothing';\
             const log = window.__pointer || (window.__pointer = []);\
             const note = s => { log.push(Math.round(performance.now()) + ' ' + s); if (log.length > 12) log.shift(); };\
             if (!window.__pointerWatched) {\
               window.__pointerWatched = true;\
               for (const type of ['mousedown', 'mouseup', 'click'])\
                 document.addEventListener(type, e =>\
                   note(type + ' ' + name(e.target) + ' at ' + e.clientX + ',' + e.clientY), true);\
             }\
             const r = el.getBoundingClientRect();\
             const x = r.left + r.width / 2, y = r.top + r.height / 2;\
             note('sent to ' + name(el) + ' at ' + Math.round(x) + ',' + Math.round(y)\
               + ' over ' + name(document.elementFromPoint(x, y)));",
            json!([{ ELEMENT: self.id }]),
        );
        self.session
            .call(
                "POST",
                &format!("/element/{}/click", self.id),
                Some(json!({})),
            )
            .unwrap_or_else(|e| panic!("click failed: {e}"));
    }

    /// Types into it.
    pub fn send_keys(&self, text: &str) {
        self.session
            .call(
                "POST",
                &format!("/element/{}/value", self.id),
                Some(json!({ "text": text })),
            )
            .unwrap_or_else(|e| panic!("typing failed: {e}"));
    }

    /// Its visible text.
    pub fn text(&self) -> String {
        self.session
            .call("GET", &format!("/element/{}/text", self.id), None)
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }
}
