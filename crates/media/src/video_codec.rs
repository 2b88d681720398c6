//! H.264 with OpenH264: an encoder with target bitrate, keyframes on demand and resolution changes,
//! and a decoder that reports broken frames so the caller can ask for a keyframe.
//!
//! Licensing: the `openh264-source` feature (default) compiles OpenH264 from source, for
//! development and tests; Cisco's patent licence covers only Cisco's prebuilt binary, which
//! `openh264-cisco-binary` loads at run time from `CONCLAVE_OPENH264_LIB`.

use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode,
    UsageType,
};
use openh264::formats::YUVSource;

use crate::error::CodecError;
use crate::frame::VideoFrame;

const CODEC: &str = "H.264";

/// Encoder settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoEncoderSettings {
    /// Target bitrate in bits per second.
    pub bitrate_bps: u32,
    /// Frame rate the source delivers.
    pub fps: u32,
    /// A keyframe at least this often, so late joiners and lossy links recover.
    pub keyframe_interval_frames: u32,
}

impl Default for VideoEncoderSettings {
    fn default() -> Self {
        VideoEncoderSettings {
            bitrate_bps: 1_500_000,
            fps: 30,
            keyframe_interval_frames: 300,
        }
    }
}

/// Fewest bits per pixel of each frame the encoder is given: below it, the picture is scaled
/// down a step (720p at 30 fps keeps its size down to about 1 Mbit/s).
const MIN_BITS_PER_PIXEL: f64 = 0.035;
/// Smallest picture: a quarter of the width (1280×720 → 320×180).
pub const MAX_SCALE_DOWN: usize = 4;

/// By how much (a whole factor, 1 to [`MAX_SCALE_DOWN`]) a `width`×`height` picture at `fps`
/// is scaled down to be encoded at `bitrate_bps`: the least that leaves
/// [`MIN_BITS_PER_PIXEL`].
pub fn scale_down_for(bitrate_bps: u32, fps: u32, width: usize, height: usize) -> usize {
    (1..=MAX_SCALE_DOWN)
        .find(|f| {
            let pixels = (width / f) * (height / f) * fps.max(1) as usize;
            f64::from(bitrate_bps) / pixels.max(1) as f64 >= MIN_BITS_PER_PIXEL
        })
        .unwrap_or(MAX_SCALE_DOWN)
}

/// One encoded access unit (Annex B).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedVideo {
    /// The access unit.
    pub data: Vec<u8>,
    /// Whether it starts with an IDR picture.
    pub keyframe: bool,
    /// Capture time of the picture.
    pub captured_us: u64,
}

#[cfg(not(any(feature = "openh264-source", feature = "openh264-cisco-binary")))]
compile_error!("enable `openh264-source` (development) or `openh264-cisco-binary` (distribution)");

fn api() -> Result<OpenH264API, CodecError> {
    #[cfg(feature = "openh264-source")]
    {
        Ok(OpenH264API::from_source())
    }
    #[cfg(all(not(feature = "openh264-source"), feature = "openh264-cisco-binary"))]
    {
        let path = std::env::var_os("CONCLAVE_OPENH264_LIB").ok_or_else(|| CodecError::Init {
            codec: CODEC,
            reason: "set CONCLAVE_OPENH264_LIB to Cisco's libopenh264".into(),
        })?;
        OpenH264API::from_blob_path(path).map_err(|e| CodecError::Init {
            codec: CODEC,
            reason: e.to_string(),
        })
    }
}

/// H.264 encoder.
pub struct H264Encoder {
    inner: Option<Encoder>,
    settings: VideoEncoderSettings,
    size: (usize, usize),
    keyframe_requested: bool,
    /// How much smaller than the source the picture is encoded, beyond what the bitrate alone
    /// asks for ([`scale_down_for`]): raised while the encoder overshoots the rate (content too
    /// hard for the size), lowered again to try the bigger size after a while.
    extra_scale: usize,
    /// The scale the rate alone called for at the last frame.
    base_factor: Option<usize>,
    /// The rate the open encoder holds (its layer's maximum too).
    opened_at: i32,
    /// The current window over which the rate is checked.
    window: RateWindow,
    /// Windows since the last step, whether it was up, and how many windows to wait before the
    /// next try up (doubling each time the bigger size overshoots again at once).
    since_step: u32,
    stepped_up: bool,
    wait_up: u32,
    /// Screen content ([`H264Encoder::for_screen`]).
    screen: bool,
    /// Bytes the rate allows now: a leaky bucket filled at the rate for each frame offered (by
    /// the time between frames: [`H264Encoder::set_frame_interval`]), emptied by what was sent.
    /// A sharp share drops a frame while it is below zero; a camera while it is below
    /// [`CAMERA_AHEAD`] of debt.
    budget: f64,
    /// Seconds between the frames offered, where not the frame rate's.
    interval: Option<f64>,
    /// For screen content: encoded for sharpness (camera mode, frames dropped to hold the
    /// rate) rather than OpenH264's screen-content mode; see [`H264Encoder::for_screen`].
    sharp: bool,
    /// Whether `sharp` follows the rate.
    screen_mode: ScreenMode,
}

/// How a share is encoded ([`H264Encoder::for_screen`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScreenMode {
    /// As the rate allows: [`ScreenMode::Content`] below 580 kbit/s, [`ScreenMode::Sharp`] above.
    Auto,
    /// OpenH264's screen-content mode.
    Content,
    /// OpenH264's camera mode at full size, frames dropped to hold the rate.
    Sharp,
}

/// A share's rate from which it is encoded for sharpness ...
const SHARP_FROM_BPS: u32 = 580_000;
/// ... and below which it goes back to the screen-content mode.
const SHARP_UNTIL_BPS: u32 = 500_000;

/// How far (seconds of its rate, plus [`OVERSHOOT`]) a camera may run ahead of its rate before
/// frames are skipped, and how much unused rate it may save up: the frame-rate step below the
/// smallest picture ([`MAX_SCALE_DOWN`]). OpenH264 in bitrate mode cannot go below some
/// 180 kbit/s on a moving, textured 320×180 picture, and a 720p camera asked for 50 or
/// 100 kbit/s sent that whatever was asked — on a narrow uplink, a standing queue the estimate
/// could not drain. Where a picture size fits the rate nothing is skipped: 720p at 1.5 Mbit/s
/// with a keyframe asked for twice a second sends 1.8 Mbit/s, within the margin (skipping after
/// every keyframe froze the picture 135 ms each time).
const CAMERA_AHEAD: f64 = 0.5;

/// How far above a bigger picture's threshold the rate must be to move up to it.
const SIZE_UP_MARGIN: f64 = 1.25;
/// Frames per window over which the rate is checked (one second at 30 fps).
const RATE_WINDOW: u32 = 30;
/// How far (as a factor either way) the rate may move from where a window began and the window
/// go on.
const RATE_MOVE: f64 = 1.2;

/// What the frames of one window ([`RATE_WINDOW`]) came to.
#[derive(Clone, Copy, Debug, Default)]
struct RateWindow {
    /// The rate when it began.
    rate_bps: u32,
    /// Frames other than keyframes encoded, and their bytes.
    frames: u32,
    bytes: usize,
}

impl RateWindow {
    /// A window beginning at `rate_bps`.
    fn at(rate_bps: u32) -> RateWindow {
        RateWindow {
            rate_bps,
            ..RateWindow::default()
        }
    }
}

/// Sustained overshoot that moves the picture a size down: OpenH264's bitrate mode without frame
/// skipping holds the rate on ordinary content, and overshoots on content too hard for the size.
const OVERSHOOT: f64 = 1.25;
/// Windows at a smaller size before trying the bigger one again, at first.
const FIRST_WAIT_UP: u32 = 10;
/// The longest such wait.
const MAX_WAIT_UP: u32 = 80;

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("settings", &self.settings)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl H264Encoder {
    /// An encoder; it opens on the first frame, at that frame's size.
    pub fn new(settings: VideoEncoderSettings) -> Self {
        let window = RateWindow::at(settings.bitrate_bps);
        H264Encoder {
            inner: None,
            settings,
            size: (0, 0),
            keyframe_requested: false,
            extra_scale: 0,
            base_factor: None,
            opened_at: 0,
            window,
            since_step: 0,
            stepped_up: false,
            wait_up: FIRST_WAIT_UP,
            screen: false,
            budget: 0.0,
            interval: None,
            sharp: false,
            screen_mode: ScreenMode::Auto,
        }
    }

    /// An encoder for a shared screen or window: the picture always at its full size (text must
    /// stay legible). Below [`SHARP_FROM_BPS`] in OpenH264's screen-content mode, which shows
    /// every change at once at a modest rate but never sharpens a still page past about
    /// 38–40 dB; from there on in its camera mode with frames dropped here while the bytes sent
    /// run ahead of the rate, so that a still page sharpens frame by frame (45–50 dB with room)
    /// and a scrolling one comes at fewer frames a second (at 600 kbit/s a change shows after
    /// 160 ms on average). Measured on the synthetic page (`examples/share_quality.rs`;
    /// figures in BENCHMARKS.md).
    pub fn for_screen(settings: VideoEncoderSettings) -> Self {
        Self::for_screen_in(settings, ScreenMode::Auto)
    }

    /// [`H264Encoder::for_screen`] held in one mode (to compare them: `examples/share_quality.rs`).
    pub fn for_screen_in(settings: VideoEncoderSettings, mode: ScreenMode) -> Self {
        H264Encoder {
            screen: true,
            sharp: match mode {
                ScreenMode::Auto => settings.bitrate_bps >= SHARP_FROM_BPS,
                ScreenMode::Content => false,
                ScreenMode::Sharp => true,
            },
            screen_mode: mode,
            ..H264Encoder::new(settings)
        }
    }

    /// The next frame will be a keyframe (e.g. the SFU relayed a picture loss indication).
    pub fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// Frames are offered every `interval` from the next one on (`None`: at the frame rate), as
    /// a paused picture is (one every 200 ms), and the rate's budget fills by that much for each.
    /// Filled a thirtieth of a second's worth per frame, a paused picture paid off the debt of
    /// the keyframes before the pause at a sixth of its rate and went out for 9 s not at all (the
    /// path's feedback, which Janus gives only on video, with it). Entering a longer interval, the
    /// debt is kept to a second of the rate, as it is when run up ([`H264Encoder::encode`]).
    /// By the interval the caller keeps, not by the frames' capture times: a busy machine's
    /// capture comes late and then catches up, and capture times refilled more than the rate
    /// (longer freezes through a 300 kbit/s uplink, 3 runs of 8).
    pub fn set_frame_interval(&mut self, interval: Option<std::time::Duration>) {
        let interval = interval.map(|i| i.as_secs_f64().min(1.0));
        if interval.is_some_and(|i| i > self.frame_seconds()) && self.interval != interval {
            self.budget = self.budget.max(-self.bytes_per_second());
        }
        self.interval = interval;
    }

    /// The target bitrate.
    pub fn bitrate(&self) -> u32 {
        self.settings.bitrate_bps
    }

    /// Changes the target bitrate from the next frame on, without reopening the encoder (no
    /// keyframe) unless the rate calls for another picture size ([`scale_down_for`]).
    pub fn set_bitrate(&mut self, bps: u32) {
        if bps == self.settings.bitrate_bps {
            return;
        }
        self.settings.bitrate_bps = bps;
        // A rate far from the one the window began at: measure afresh. A link's estimate moves
        // by a few per cent every few hundred milliseconds, and measuring afresh at each move
        // never finished a window (a camera skipping most of its frames kept its size for 8 s).
        // The step down the content called for stays (a rate that moves often would otherwise
        // reopen the encoder at the bigger size each time: a keyframe, into a link already
        // short of room).
        let moved = f64::from(bps) / f64::from(self.window.rate_bps.max(1));
        if !(1.0 / RATE_MOVE..=RATE_MOVE).contains(&moved) {
            self.window = RateWindow::at(bps);
            self.since_step = 0;
            self.stepped_up = false;
            self.wait_up = FIRST_WAIT_UP;
        }
        let Some(encoder) = self.inner.as_mut() else {
            return;
        };
        let bps = i32::try_from(bps).unwrap_or(i32::MAX);
        // OpenH264 refuses a target above the layer's maximum (which the encoder was opened
        // with: its first rate), so the maximum moves first on the way up, last on the way down.
        let raise = bps > self.opened_at;
        let steps = if raise {
            [
                (
                    openh264_sys2::ENCODER_OPTION_MAX_BITRATE,
                    openh264_sys2::SPATIAL_LAYER_0,
                ),
                (
                    openh264_sys2::ENCODER_OPTION_BITRATE,
                    openh264_sys2::SPATIAL_LAYER_ALL,
                ),
            ]
        } else {
            [
                (
                    openh264_sys2::ENCODER_OPTION_BITRATE,
                    openh264_sys2::SPATIAL_LAYER_ALL,
                ),
                (
                    openh264_sys2::ENCODER_OPTION_MAX_BITRATE,
                    openh264_sys2::SPATIAL_LAYER_0,
                ),
            ]
        };
        for (option, layer) in steps {
            let mut info = openh264_sys2::SBitrateInfo {
                iLayer: layer,
                iBitrate: bps,
            };
            // SAFETY: the encoder is initialised (it encoded a frame at this size), and both
            // options read one SBitrateInfo through the pointer, which lives until the call
            // returns; OpenH264 copies the values.
            #[allow(unsafe_code)]
            let status = unsafe {
                encoder
                    .raw_api()
                    .set_option(option, std::ptr::addr_of_mut!(info).cast())
            };
            if status != 0 {
                // Refused: reopen with the new rate at the next frame.
                self.inner = None;
                return;
            }
        }
        self.opened_at = bps;
    }

    /// Encodes one frame, scaled down as the bitrate calls for; `None` if the encoder skipped
    /// it to hold the rate.
    pub fn encode(&mut self, frame: &VideoFrame) -> Result<Option<EncodedVideo>, CodecError> {
        let for_rate = |bps: u32| scale_down_for(bps, self.settings.fps, frame.width, frame.height);
        let mut base = for_rate(self.settings.bitrate_bps);
        // A bigger picture only once the rate clears its threshold by a margin: a rate that
        // moves around a threshold would resize (and send a keyframe) each time it crosses.
        if let Some(current) = self.base_factor
            && base < current
            && for_rate((f64::from(self.settings.bitrate_bps) / SIZE_UP_MARGIN) as u32) >= current
        {
            base = current;
        }
        self.base_factor = Some(base);
        let factor = if self.screen {
            1
        } else {
            (base + self.extra_scale).min(MAX_SCALE_DOWN)
        };
        if self.screen && self.screen_mode == ScreenMode::Auto {
            // The mode follows the rate (a change reopens the encoder: a keyframe).
            let rate = self.settings.bitrate_bps;
            let sharp = if self.sharp {
                rate >= SHARP_UNTIL_BPS
            } else {
                rate >= SHARP_FROM_BPS
            };
            if sharp != self.sharp {
                self.sharp = sharp;
                self.inner = None;
                self.budget = 0.0;
            }
        }
        // The leaky bucket: a sharp share is refilled at its rate, saves up a second's worth and
        // skips while in debt; a camera is refilled a quarter faster (the size steps hold the
        // rate within that, and the meeting leaves room for it: an encoder a few per cent over
        // its rate on a hard picture must not lose frames for it) and skips only at
        // CAMERA_AHEAD of debt. A share in screen-content mode holds its rate by itself.
        let bucket = if self.screen {
            self.sharp.then_some((1.0, 1.0, 0.0))
        } else {
            Some((OVERSHOOT, CAMERA_AHEAD, CAMERA_AHEAD))
        };
        let interval = self.interval.unwrap_or_else(|| self.frame_seconds());
        if let Some((fill, save, debt)) = bucket
            && self.over_budget(fill, save, debt, interval)
        {
            return Ok(None);
        }
        let scaled;
        let frame = if factor > 1 {
            scaled = frame.shrunk(frame.width.div_ceil(factor));
            &scaled
        } else {
            frame
        };
        if self.inner.is_none() || self.size != (frame.width, frame.height) {
            if self.size != (frame.width, frame.height) {
                tracing::debug!(
                    width = frame.width,
                    height = frame.height,
                    bps = self.settings.bitrate_bps,
                    extra_scale = self.extra_scale,
                    "picture size"
                );
            }
            self.inner = Some(self.open()?);
            self.opened_at = i32::try_from(self.settings.bitrate_bps).unwrap_or(i32::MAX);
            self.size = (frame.width, frame.height);
        }
        let encoder = self.inner.as_mut().ok_or_else(|| CodecError::Init {
            codec: CODEC,
            reason: "encoder unavailable".into(),
        })?;
        if std::mem::take(&mut self.keyframe_requested) {
            encoder.force_intra_frame();
        }
        let bitstream = encoder
            .encode(&I420(frame))
            .map_err(|e| CodecError::Encode {
                codec: CODEC,
                reason: e.to_string(),
            })?;
        let keyframe = matches!(bitstream.frame_type(), FrameType::IDR | FrameType::I);
        let data = bitstream.to_vec();
        if data.is_empty() || matches!(bitstream.frame_type(), FrameType::Skip) {
            return Ok(None);
        }
        // A keyframe (asked for by every new receiver) runs the budget into debt; at most a
        // second's worth, so that a few requests in a row cannot silence the picture for long.
        self.budget = (self.budget - data.len() as f64).max(-self.bytes_per_second());
        self.count(data.len(), keyframe, factor);
        Ok(Some(EncodedVideo {
            data,
            keyframe,
            captured_us: frame.captured_us,
        }))
    }

    /// Refills the budget for `elapsed` seconds at `fill` times the rate, saving up at most
    /// `save` seconds of that, and says whether the frame is to be skipped: the budget is more
    /// than `debt` seconds of it in debt. A keyframe asked for goes out whatever, and so does a
    /// new encoder's first frame.
    fn over_budget(&mut self, fill: f64, save: f64, debt: f64, elapsed: f64) -> bool {
        let second = fill * self.bytes_per_second();
        self.budget = (self.budget + second * elapsed).min(save * second);
        self.budget < -debt * second && !self.keyframe_requested && self.inner.is_some()
    }

    /// Seconds between frames at the frame rate.
    fn frame_seconds(&self) -> f64 {
        1.0 / f64::from(self.settings.fps.max(1))
    }

    /// What the rate allows in a second, in bytes (a share's budget: [`H264Encoder::for_screen`]).
    fn bytes_per_second(&self) -> f64 {
        f64::from(self.settings.bitrate_bps) / 8.0
    }

    /// Counts an encoded frame at scale `factor`: moves the picture a size down while the rate
    /// is overshot (keyframes aside: they are asked for, and paid back over time), and tries the
    /// bigger size again after a while.
    fn count(&mut self, bytes: usize, keyframe: bool, factor: usize) {
        if self.screen {
            return;
        }
        if !keyframe {
            self.window.frames += 1;
            self.window.bytes += bytes;
        }
        if self.window.frames < RATE_WINDOW {
            return;
        }
        let window = std::mem::replace(&mut self.window, RateWindow::at(self.settings.bitrate_bps));
        let bps = window.bytes as f64 * 8.0 * f64::from(self.settings.fps.max(1))
            / f64::from(window.frames);
        self.since_step += 1;
        if bps > OVERSHOOT * f64::from(self.settings.bitrate_bps) && factor < MAX_SCALE_DOWN {
            // Right after a try up: that size is still too big, wait longer next time.
            if self.stepped_up && self.since_step <= 2 {
                self.wait_up = (self.wait_up * 2).min(MAX_WAIT_UP);
            }
            self.extra_scale += 1;
            (self.since_step, self.stepped_up) = (0, false);
        } else if self.extra_scale > 0 && self.since_step >= self.wait_up {
            self.extra_scale -= 1;
            (self.since_step, self.stepped_up) = (0, true);
        }
    }

    fn open(&self) -> Result<Encoder, CodecError> {
        let config = EncoderConfig::new()
            .usage_type(if self.screen && !self.sharp {
                UsageType::ScreenContentRealTime
            } else {
                UsageType::CameraVideoRealTime
            })
            .bitrate(BitRate::from_bps(self.settings.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(self.settings.fps as f32))
            .intra_frame_period(IntraFramePeriod::from_num_frames(
                self.settings.keyframe_interval_frames,
            ))
            // Hold the rate asked for (the default quality mode ignores it). Not by skipping
            // frames: that freezes the picture after every keyframe; a picture size that
            // follows the rate and the content holds it instead.
            .rate_control_mode(RateControlMode::Bitrate)
            .skip_frames(false);
        // Neither is built for screen content (OpenH264 turns them off, saying so).
        let config = if self.screen && !self.sharp {
            config
                .adaptive_quantization(false)
                .background_detection(false)
        } else {
            config
        };
        Encoder::with_api_config(api()?, config).map_err(|e| CodecError::Init {
            codec: CODEC,
            reason: e.to_string(),
        })
    }
}

/// H.264 decoder.
pub struct H264Decoder {
    inner: Decoder,
}

impl std::fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("H264Decoder")
    }
}

impl H264Decoder {
    /// A decoder.
    pub fn new() -> Result<Self, CodecError> {
        let inner = Decoder::with_api_config(api()?, DecoderConfig::new()).map_err(|e| {
            CodecError::Init {
                codec: CODEC,
                reason: e.to_string(),
            }
        })?;
        Ok(H264Decoder { inner })
    }

    /// Decodes one access unit; `None` while the decoder still waits for data (e.g. a keyframe).
    /// An error means the picture is broken: request a keyframe from the sender.
    pub fn decode(
        &mut self,
        access_unit: &[u8],
        captured_us: u64,
    ) -> Result<Option<VideoFrame>, CodecError> {
        let picture = self
            .inner
            .decode(access_unit)
            .map_err(|e| CodecError::Decode {
                codec: CODEC,
                reason: e.to_string(),
            })?;
        Ok(picture.map(|p| {
            let (width, height) = p.dimensions();
            let (sy, su, sv) = p.strides();
            let mut data = Vec::with_capacity(width * height * 3 / 2);
            for row in 0..height {
                data.extend_from_slice(&p.y()[row * sy..row * sy + width]);
            }
            for (plane, stride) in [(p.u(), su), (p.v(), sv)] {
                for row in 0..height / 2 {
                    data.extend_from_slice(&plane[row * stride..row * stride + width / 2]);
                }
            }
            VideoFrame {
                width,
                height,
                data,
                captured_us,
            }
        }))
    }
}

/// Lets OpenH264 read a [`VideoFrame`] without copying it.
struct I420<'a>(&'a VideoFrame);

impl YUVSource for I420<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width, self.0.height)
    }

    fn strides(&self) -> (usize, usize, usize) {
        (self.0.width, self.0.width / 2, self.0.width / 2)
    }

    fn y(&self) -> &[u8] {
        self.0.planes().0
    }

    fn u(&self) -> &[u8] {
        self.0.planes().1
    }

    fn v(&self) -> &[u8] {
        self.0.planes().2
    }
}
