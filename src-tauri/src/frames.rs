//! Video to the page without JSON or base64: the page fetches `frame://localhost/FEED?seen=N`
//! and gets the newest decoded picture as raw I420 — at once if there is one it has not seen,
//! else as soon as one arrives (or 204 after [`WAIT`]) — which it draws with a WebGL shader.
//! Newest wins: a page that falls behind skips pictures.

use tauri::http::{Response, StatusCode, Uri};

use crate::controller::Controller;

/// The URI scheme (on Windows the page sees it as `http://frame.localhost/`).
pub const SCHEME: &str = "frame";

/// Bytes before the planes: width, height and sequence number, each u32 little-endian, and one
/// reserved u32.
pub const HEADER: usize = 16;

/// Parses `/FEED` and `seen=N` from the request.
fn parse(uri: &Uri) -> Option<(u64, u32)> {
    let feed = uri.path().trim_start_matches('/').parse().ok()?;
    let seen = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("seen="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Some((feed, seen))
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

/// Answers one request of the page: the newest picture it has not seen, waiting up to `wait`
/// for one (call it off the main thread).
pub fn respond(controller: &Controller, uri: &Uri, wait: std::time::Duration) -> Response<Vec<u8>> {
    let Some((feed, seen)) = parse(uri) else {
        return empty(StatusCode::BAD_REQUEST);
    };
    let Some(latest) = controller.video_out().wait_newer_than(feed, seen, wait) else {
        return empty(StatusCode::NO_CONTENT);
    };
    let frame = &latest.frame;
    let mut body = Vec::with_capacity(HEADER + frame.data.len());
    for n in [frame.width as u32, frame.height as u32, latest.seq, 0] {
        body.extend_from_slice(&n.to_le_bytes());
    }
    body.extend_from_slice(&frame.data);
    let mut r = empty(StatusCode::OK);
    *r.body_mut() = body;
    r.headers_mut().insert(
        "Content-Type",
        "application/octet-stream".parse().expect("valid"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_a_feed_and_what_the_page_has_seen() {
        let uri: Uri = "frame://localhost/42?seen=7".parse().unwrap();
        assert_eq!(parse(&uri), Some((42, 7)));
        let uri: Uri = "http://frame.localhost/42".parse().unwrap();
        assert_eq!(parse(&uri), Some((42, 0)));
        let uri: Uri = "frame://localhost/x".parse().unwrap();
        assert_eq!(parse(&uri), None);
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
}
