//! Video to the page without JSON or base64, in one of two forms:
//! - `frame://localhost/FEED?seen=N`: the newest decoded picture as raw I420 — at once if there
//!   is one the page has not seen, else as soon as one arrives (or 204 after [`WAIT`]) — which it
//!   draws with a WebGL shader. Newest wins: a page that falls behind skips pictures.
//! - `frame://localhost/h264?feeds=FEED.N.R,…`: for every tile in one request, the H.264 access
//!   units after the `N`th it took (or, with `R` = 1, from a fresh keyframe; see
//!   [`conclave::client::EncodedOut`]), which the page decodes with WebCodecs. One request for
//!   all tiles: each round trip through the webview's IPC costs more than the units it carries.

use tauri::http::{Response, StatusCode, Uri};

use conclave::client::Ask;

use crate::controller::Controller;

/// The URI scheme (on Windows the page sees it as `http://frame.localhost/`).
pub const SCHEME: &str = "frame";

/// One small H.264 keyframe (64x64, black) for the page to try decoding before it asks the app
/// for access units: a webview may claim H.264 support and then lack the decoder (on Linux,
/// GStreamer's libav plugin). Empty if the encoder fails.
pub fn h264_probe() -> Vec<u8> {
    let mut encoder = conclave_media::H264Encoder::new(conclave_media::VideoEncoderSettings {
        bitrate_bps: 100_000,
        fps: 30,
        keyframe_interval_frames: 30,
    });
    let picture = conclave_media::VideoFrame::black(64, 64);
    match encoder.encode(&picture) {
        Ok(Some(unit)) if unit.keyframe => unit.data,
        _ => Vec::new(),
    }
}

/// Bytes before the planes, each u32 little-endian: width, height, sequence number, and the low
/// 32 bits of when the picture was decoded (Unix milliseconds; the page measures its latency).
pub const HEADER: usize = 16;

/// Bytes before each access unit, each u32 little-endian: its number, the low 32 bits of when
/// it arrived (Unix milliseconds), flags (bit 0: keyframe; bits 8 and up: which of the asked
/// feeds it belongs to) and its length.
pub const UNIT_HEADER: usize = 16;

/// Most feeds one request may ask for.
const MAX_ASKS: usize = 64;

/// How long an answer that has units for some tiles waits for the others' (added latency, traded
/// for fewer round trips).
pub const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

/// What the page asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    /// The newest decoded picture of a feed that is not the `seen`th.
    Picture { feed: u64, seen: u32 },
    /// The access units of several feeds.
    Units(Vec<Ask>),
}

/// Parses `/FEED?seen=N` or `/h264?feeds=FEED.N.R,…`.
fn parse(uri: &Uri) -> Option<Request> {
    let path = uri.path().trim_start_matches('/');
    let number = |key: &str| -> u32 {
        uri.query()
            .unwrap_or_default()
            .split('&')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    if path == "h264" {
        let feeds = uri
            .query()?
            .split('&')
            .find_map(|kv| kv.strip_prefix("feeds="))?;
        let asks = feeds
            .split(',')
            .map(|ask| {
                let mut parts = ask.split('.');
                let ask = Ask {
                    feed: parts.next()?.parse().ok()?,
                    after: parts.next()?.parse().ok()?,
                    restart: parts.next()? == "1",
                };
                parts.next().is_none().then_some(ask)
            })
            .collect::<Option<Vec<Ask>>>()?;
        return (asks.len() <= MAX_ASKS).then_some(Request::Units(asks));
    }
    Some(Request::Picture {
        feed: path.parse().ok()?,
        seen: number("seen"),
    })
}

fn empty(status: StatusCode) -> Response<Vec<u8>> {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = status;
    r.headers_mut()
        .insert("Access-Control-Allow-Origin", "*".parse().expect("valid"));
    r
}

/// How long a request waits for a new picture before it is answered "nothing new" (204).
pub const WAIT: std::time::Duration = std::time::Duration::from_millis(250);

/// Answers one request of the page, waiting up to `wait` for something new (call it off the
/// main thread).
pub fn respond(controller: &Controller, uri: &Uri, wait: std::time::Duration) -> Response<Vec<u8>> {
    match parse(uri) {
        None => empty(StatusCode::BAD_REQUEST),
        Some(Request::Picture { feed, seen }) => picture(controller, feed, seen, wait),
        Some(Request::Units(asks)) => units(controller, &asks, wait),
    }
}

fn binary(body: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = empty(StatusCode::OK);
    *r.body_mut() = body;
    r.headers_mut().insert(
        "Content-Type",
        "application/octet-stream".parse().expect("valid"),
    );
    r
}

fn units(controller: &Controller, asks: &[Ask], wait: std::time::Duration) -> Response<Vec<u8>> {
    let answer = controller.encoded_out().wait_many(asks, GATHER, wait);
    if answer.iter().all(Vec::is_empty) {
        return empty(StatusCode::NO_CONTENT);
    }
    let size = answer
        .iter()
        .flatten()
        .map(|u| UNIT_HEADER + u.data.len())
        .sum();
    let mut body = Vec::with_capacity(size);
    for (index, units) in answer.iter().enumerate() {
        for u in units {
            let flags = u32::from(u.keyframe) | (index as u32) << 8;
            for n in [u.seq, u.arrived_unix_ms as u32, flags, u.data.len() as u32] {
                body.extend_from_slice(&n.to_le_bytes());
            }
            body.extend_from_slice(&u.data);
        }
    }
    binary(body)
}

fn picture(
    controller: &Controller,
    feed: u64,
    seen: u32,
    wait: std::time::Duration,
) -> Response<Vec<u8>> {
    let Some(latest) = controller.video_out().wait_newer_than(feed, seen, wait) else {
        return empty(StatusCode::NO_CONTENT);
    };
    let frame = &latest.frame;
    let mut body = Vec::with_capacity(HEADER + frame.data.len());
    for n in [
        frame.width as u32,
        frame.height as u32,
        latest.seq,
        latest.arrived_unix_ms as u32,
    ] {
        body.extend_from_slice(&n.to_le_bytes());
    }
    body.extend_from_slice(&frame.data);
    binary(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_a_feed_and_what_the_page_has_seen() {
        let parsed = |s: &str| parse(&s.parse::<Uri>().unwrap());
        assert_eq!(
            parsed("frame://localhost/42?seen=7"),
            Some(Request::Picture { feed: 42, seen: 7 })
        );
        assert_eq!(
            parsed("http://frame.localhost/42"),
            Some(Request::Picture { feed: 42, seen: 0 })
        );
        let ask = |feed, after, restart| Ask {
            feed,
            after,
            restart,
        };
        assert_eq!(
            parsed("frame://localhost/h264?feeds=9.3.0,12.0.1"),
            Some(Request::Units(vec![ask(9, 3, false), ask(12, 0, true)]))
        );
        assert_eq!(parsed("frame://localhost/x"), None);
        for bad in [
            "feeds=x.1.0",
            "feeds=9.3",
            "feeds=9.3.0.1",
            "feeds=",
            "after=1",
        ] {
            assert_eq!(
                parsed(&format!("frame://localhost/h264?{bad}")),
                None,
                "{bad}"
            );
        }
        let too_many = vec!["1.0.0"; MAX_ASKS + 1].join(",");
        assert_eq!(
            parsed(&format!("frame://localhost/h264?feeds={too_many}")),
            None
        );
    }

    #[test]
    fn the_page_gets_the_newest_picture_once() {
        let c = Controller::new(None);
        let uri: Uri = "frame://localhost/5?seen=0".parse().unwrap();
        let wait = std::time::Duration::from_millis(10);
        assert_eq!(respond(&c, &uri, wait).status(), StatusCode::NO_CONTENT);
        let mut picture = conclave_media::VideoFrame::black(4, 2);
        picture.data[0] = 99;
        c.video_out().put(5, picture);
        let r = respond(&c, &uri, wait);
        assert_eq!(r.status(), StatusCode::OK);
        let body = r.body();
        assert_eq!(&body[..4], &4u32.to_le_bytes());
        assert_eq!(&body[4..8], &2u32.to_le_bytes());
        assert_eq!(&body[8..12], &1u32.to_le_bytes());
        assert_eq!(body.len(), HEADER + 4 * 2 * 3 / 2);
        assert_eq!(body[HEADER], 99);
        let again: Uri = "frame://localhost/5?seen=1".parse().unwrap();
        assert_eq!(respond(&c, &again, wait).status(), StatusCode::NO_CONTENT);
    }

    #[test]
    fn the_probe_is_a_keyframe_a_decoder_turns_into_a_picture() {
        let probe = h264_probe();
        assert!(!probe.is_empty());
        let mut decoder = conclave_media::H264Decoder::new().unwrap();
        let picture = decoder.decode(&probe, 0).unwrap().expect("a picture");
        assert_eq!((picture.width, picture.height), (64, 64));
    }

    #[test]
    fn the_page_gets_the_access_units_it_has_not_decoded_for_all_its_tiles() {
        let c = Controller::new(None);
        let wait = std::time::Duration::from_millis(10);
        let uri = |query: &str| -> Uri {
            format!("frame://localhost/h264?feeds={query}")
                .parse()
                .unwrap()
        };
        assert_eq!(
            respond(&c, &uri("3.0.0,4.0.0"), wait).status(),
            StatusCode::NO_CONTENT
        );
        c.encoded_out().put(4, b"key", true);
        c.encoded_out().put(4, b"delta", false);
        let r = respond(&c, &uri("3.0.0,4.0.0"), wait);
        assert_eq!(r.status(), StatusCode::OK);
        let body = r.body();
        assert_eq!(body.len(), 2 * UNIT_HEADER + 3 + 5);
        assert_eq!(&body[..4], &1u32.to_le_bytes());
        assert_eq!(
            &body[8..12],
            &(1u32 | 1 << 8).to_le_bytes(),
            "a keyframe of the second"
        );
        assert_eq!(&body[12..16], &3u32.to_le_bytes());
        assert_eq!(&body[16..19], b"key");
        let second = &body[19..];
        assert_eq!(&second[..4], &2u32.to_le_bytes());
        assert_eq!(
            &second[8..12],
            &(1u32 << 8).to_le_bytes(),
            "a delta of the second"
        );
        assert_eq!(&second[UNIT_HEADER..], b"delta");
        assert_eq!(
            respond(&c, &uri("3.0.0,4.2.0"), wait).status(),
            StatusCode::NO_CONTENT
        );
    }
}
