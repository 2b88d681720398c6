//! Parsing of the CLI's human-friendly values (durations, sizes, bitrates, device choices).

use std::time::Duration;

use crate::selftest::{CameraChoice, MicChoice, SpeakerChoice};

/// `5s`, `500ms`, `2m`, or plain seconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("\"{s}\" is not a duration (try 5s, 500ms or 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        _ => return Err(format!("unknown unit in \"{s}\" (use ms, s or m)")),
    };
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 24.0 * 3600.0 {
        return Err(format!("\"{s}\" must be between 1 ms and 24 h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `1280x720`.
pub fn resolution(s: &str) -> Result<(usize, usize), String> {
    let err = || format!("\"{s}\" is not a resolution like 1280x720 (even numbers)");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(err)?;
    let (w, h): (usize, usize) = (w.parse().map_err(|_| err())?, h.parse().map_err(|_| err())?);
    if w < 64 || h < 64 || w > 7680 || h > 4320 || w % 2 != 0 || h % 2 != 0 {
        return Err(err());
    }
    Ok((w, h))
}

/// `1500k`, `2M`, or bits per second.
pub fn bitrate(s: &str) -> Result<u32, String> {
    let err = || format!("\"{s}\" is not a bitrate like 800k or 2M");
    let (number, factor) = match s.strip_suffix(['k', 'K']) {
        Some(n) => (n, 1_000.0),
        None => match s.strip_suffix('M') {
            Some(n) => (n, 1_000_000.0),
            None => (s, 1.0),
        },
    };
    let bps = number.parse::<f64>().map_err(|_| err())? * factor;
    if !(50_000.0..=20_000_000.0).contains(&bps) {
        return Err(format!("\"{s}\" must be between 50k and 20M"));
    }
    Ok(bps as u32)
}

/// `synthetic`, `none`, or a camera index ([`CameraChoice::parse`]).
pub fn camera(s: &str) -> Result<CameraChoice, String> {
    CameraChoice::parse(s)
}

/// `synthetic` or `tone`, `speech`, `chirps`, `none`, `default`, or a device name
/// ([`MicChoice::parse`]).
pub fn mic(s: &str) -> MicChoice {
    MicChoice::parse(s)
}

/// `null`, `default`, or a device name ([`SpeakerChoice::parse`]).
pub fn speaker(s: &str) -> SpeakerChoice {
    SpeakerChoice::parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_nonsense_is_refused() {
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("3"), Ok(Duration::from_secs(3)));
        for bad in ["", "s", "-1s", "5h", "0s", "1e9s", "NaNs"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert_eq!(resolution("1280x720"), Ok((1280, 720)));
        for bad in ["1280", "x720", "1281x720", "10x10", "99999x2"] {
            assert!(resolution(bad).is_err(), "{bad}");
        }
        assert_eq!(bitrate("1500k"), Ok(1_500_000));
        assert_eq!(bitrate("2M"), Ok(2_000_000));
        for bad in ["fast", "1k", "100M"] {
            assert!(bitrate(bad).is_err(), "{bad}");
        }
        assert_eq!(camera("2"), Ok(CameraChoice::Device(2)));
        assert!(camera("front").is_err());
        assert_eq!(mic("USB Mic"), MicChoice::Device(Some("USB Mic".into())));
        assert_eq!(mic("synthetic"), mic("tone"));
        assert_eq!(mic(""), MicChoice::Device(None));
        assert_eq!(speaker("null"), SpeakerChoice::Null);
    }
}
