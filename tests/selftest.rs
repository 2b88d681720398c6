//! `conclave selftest` end to end: the synthetic run reports what the issue promises, and missing
//! devices are reported and skipped rather than failing the whole test.

use std::process::Command;

fn selftest(args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_conclave"))
        .arg("selftest")
        .args(args)
        .arg("--json")
        // No sound server and no camera here, whatever the machine has.
        .env("PULSE_SERVER", "/nonexistent")
        .env("CONCLAVE_AUDIO_HOST", "alsa")
        .env("ALSA_CONFIG_PATH", "/nonexistent")
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_synthetic_run_reports_latency_loss_quality_and_stages() {
    let (code, r, err) = selftest(&["--synthetic", "--duration", "2s", "--resolution", "640x360"]);
    assert_eq!(code, Some(0), "{err}");
    let p50 = r["end_to_end_ms"]["p50"].as_f64().unwrap();
    let p95 = r["end_to_end_ms"]["p95"].as_f64().unwrap();
    assert!(p50 > 0.0 && p50 <= p95 && p95 < 500.0, "{r}");
    assert_eq!(r["frames_lost"], 0, "{r}");
    assert!(r["psnr_db"].as_f64().unwrap() > 30.0, "{r}");
    for stage in ["encode_ms", "encrypt_ms", "decrypt_ms", "decode_ms"] {
        assert!(
            r["stages"][stage]["count"].as_u64().unwrap() >= 50,
            "{stage}: {r}"
        );
    }
    let video = &r["video"];
    assert!(video["frames_captured"].as_u64().unwrap() >= 50, "{r}");
    let audio = &r["audio"];
    assert!(audio["frames_played"].as_u64().unwrap() >= 80, "{r}");
    assert!(r["warnings"].as_array().unwrap().is_empty(), "{r}");
}

#[test]
fn without_a_camera_the_test_continues_audio_only() {
    let (code, r, err) = selftest(&["--camera", "0", "--mic", "tone", "--speaker", "null"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(r["video"].is_null(), "{r}");
    assert!(r["audio"]["frames_played"].as_u64().unwrap() > 0, "{r}");
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("no camera found"), "{warnings}");
    assert!(warnings.contains("continuing without video"), "{warnings}");
}

#[test]
fn without_any_device_it_says_so_and_exits_non_zero() {
    let (code, r, _) = selftest(&["--duration", "1s"]);
    assert_eq!(code, Some(1), "{r}");
    let warnings = r["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{r}");
    assert!(r["warnings"].to_string().contains("microphone"), "{r}");
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    for args in [
        &["--duration", "soon"][..],
        &["--resolution", "big"],
        &["--bitrate", "fast"],
        &["--camera", "front"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_conclave"))
            .arg("selftest")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

mod unplugged {
    use std::time::Duration;

    use conclave::client::{Device, Problem};
    use conclave::selftest::{self, NullSpeaker, Options};
    use conclave_media::synthetic::{Signal, SyntheticCamera, SyntheticMic, Unplugging};
    use conclave_media::{AudioSink, AudioSource, VideoFormat, VideoSource};

    fn options() -> Options {
        let mut o = Options::synthetic(Duration::from_millis(1500));
        o.video = VideoFormat {
            width: 320,
            height: 240,
            fps: 30,
        };
        o
    }

    fn camera(unplug_after: u64) -> Box<dyn VideoSource> {
        let cam = SyntheticCamera::new(options().video).unwrap();
        Box::new(Unplugging::after(unplug_after, cam))
    }

    fn audio(unplug_after: u64) -> (Box<dyn AudioSource>, Box<dyn AudioSink>) {
        let mic = SyntheticMic::new(Signal::Tone {
            hz: 440.0,
            amplitude: 0.3,
        });
        (
            Box::new(Unplugging::after(unplug_after, mic)),
            Box::new(NullSpeaker),
        )
    }

    #[test]
    fn a_camera_unplugged_mid_test_keeps_what_was_measured_and_audio_goes_on() {
        let r = selftest::run_with(&options(), Ok(Some(camera(20))), Ok(Some(audio(u64::MAX))));
        let video = r.video.expect("partial video report");
        assert_eq!(video.frames_captured, 20);
        assert_eq!(video.frames_decoded, 20);
        let audio = r.audio.expect("audio report");
        assert!(audio.frames_captured >= 60, "{}", audio.frames_captured);
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(
            r.warnings[0].starts_with("the camera was disconnected")
                && r.warnings[0].ends_with("; continuing without video"),
            "{:?}",
            r.warnings
        );
        assert_eq!(r.device_problems.len(), 1);
        assert_eq!(r.device_problems[0].device, Device::Camera);
        assert_eq!(r.device_problems[0].problem, Problem::Stopped);
    }

    #[test]
    fn a_microphone_unplugged_mid_test_is_reported_and_video_goes_on() {
        let r = selftest::run_with(&options(), Ok(Some(camera(u64::MAX))), Ok(Some(audio(10))));
        assert_eq!(r.audio.expect("partial audio report").frames_captured, 10);
        assert!(r.video.expect("video report").frames_captured >= 30);
        assert_eq!(
            r.warnings,
            [format!(
                "the microphone was disconnected: {}; continuing without audio",
                r.device_problems[0].detail
            )]
        );
        assert_eq!(r.device_problems[0].device, Device::Microphone);
        assert_eq!(r.device_problems[0].problem, Problem::Stopped);
    }
}
