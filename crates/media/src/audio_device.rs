//! Real microphones and speakers through `cpal` (on Linux its PulseAudio host when a sound server
//! runs, ALSA otherwise). Each stream lives on its own thread, because `cpal` streams may not move
//! between threads; samples cross over bounded queues, so a stalled consumer loses audio rather
//! than memory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, FromSample, Sample, SampleFormat, SizedSample, StreamConfig};

use crate::error::DeviceError;
use crate::frame::{AudioFrame, SAMPLE_RATE, SAMPLES_PER_FRAME, wall_clock_us};
use crate::resample::Resampler;
use crate::source::{AudioSink, AudioSource, Played};

/// A device as the user picks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioDeviceInfo {
    /// Display name, also what [`Microphone::open`] and [`Speaker::open`] take.
    pub name: String,
    /// Whether it is the system default.
    pub is_default: bool,
}

/// The sound system for `kind`, or the one named by `CONCLAVE_AUDIO_HOST` (`alsa`, `pulseaudio`).
///
/// Microphones use cpal's default: on Linux its PulseAudio host when a server runs (first samples
/// in about 10 ms, against 0.2–2 s through ALSA's pulse plugin). Speakers on Linux use ALSA, which
/// desktops route to their sound server: cpal 0.18's PulseAudio playback stream was measured
/// starving the server (4 callbacks a second where 100 were due, audible gaps), ALSA's pulse
/// plugin kept time (see BENCHMARKS.md).
fn host(kind: &'static str) -> Arc<cpal::Host> {
    if let Ok(name) = std::env::var("CONCLAVE_AUDIO_HOST") {
        if name.eq_ignore_ascii_case("pulseaudio")
            && let Some(pulse) = shared_pulse()
        {
            return pulse;
        }
        if let Some(host) = by_name(&name) {
            return Arc::new(host);
        }
    }
    if cfg!(target_os = "linux")
        && kind == KIND_SPEAKER
        && let Some(alsa) = by_name("alsa")
    {
        return Arc::new(alsa);
    }
    if let Some(pulse) = shared_pulse() {
        return pulse;
    }
    Arc::new(cpal::default_host())
}

/// cpal's host called `name` (`alsa`, `pulseaudio`, `wasapi`, …) where it is available.
fn by_name(name: &str) -> Option<cpal::Host> {
    cpal::available_hosts()
        .into_iter()
        .find(|id| id.name().eq_ignore_ascii_case(name))
        .and_then(|id| cpal::host_from_id(id).ok())
}

/// The process's one PulseAudio host, where a server runs. cpal's PulseAudio host connects to the
/// server when it is made, and the connection outlives it for a while: hosts made in quick
/// succession (five a look, ten looks a second, here) filled PulseAudio 16's 64 connections, after
/// which it refused new ones ("Too many connections (64)"), other programs' included, and cpal
/// fell back to ALSA at random. One host for the process, then; a fresh one after it failed
/// ([`forget_pulse`]), e.g. because the server restarted. It needs the user's sound-server cookie
/// (`~/.config/pulse/cookie`, which a desktop session has, and which libpulse makes on first use):
/// without one the server ends cpal's handshake ("protocol error", even where it takes anonymous
/// clients) and the microphones come through ALSA until it exists.
fn shared_pulse() -> Option<Arc<cpal::Host>> {
    let mut slot = PULSE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(host) = slot.as_ref() {
        return Some(Arc::clone(host));
    }
    // Made on a thread of its own name: the client's thread, which carries every stream's data,
    // inherits it, and a stream's callbacks promote it by that name (`Promotion`). Made on
    // whichever thread looked first (the app's device list), it would carry that thread's name
    // and stay at normal priority.
    let host = std::thread::Builder::new()
        .name(PULSE_THREADS.into())
        .spawn(|| by_name("pulseaudio"))
        .ok()?
        .join()
        .ok()??;
    let host = Arc::new(host);
    *slot = Some(Arc::clone(&host));
    Some(host)
}

/// The name the shared PulseAudio client's threads carry (see [`shared_pulse`]).
const PULSE_THREADS: &str = "conclave-pulse";

static PULSE: Mutex<Option<Arc<cpal::Host>>> = Mutex::new(None);

/// Drops the shared PulseAudio host after `host` failed, if it is that one: the next look makes a
/// fresh connection.
fn forget_pulse(host: &Arc<cpal::Host>) {
    let mut slot = PULSE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if slot
        .as_ref()
        .is_some_and(|shared| Arc::ptr_eq(shared, host))
    {
        *slot = None;
    }
}

/// Microphones present now, as a person would choose among them: the system default first,
/// then the other inputs, without what only looks like one (see [`offered_input`]).
pub fn microphones() -> Vec<AudioDeviceInfo> {
    let host = host(KIND_MIC);
    let default = host.default_input_device().map(|d| d.to_string());
    let devices = host.input_devices();
    if devices.is_err() {
        forget_pulse(&host);
    }
    let others = offered_names(
        &host,
        devices.map(Iterator::collect).unwrap_or_default(),
        default.as_ref(),
        offered_input,
    );
    default
        .map(|name| AudioDeviceInfo {
            name,
            is_default: true,
        })
        .into_iter()
        .chain(others.into_iter().map(|name| AudioDeviceInfo {
            name,
            is_default: false,
        }))
        .collect()
}

/// The names of `devices` a person would choose among, without `default` (which the lists put
/// first): those that `offered` keeps, asked with the sound system's name and the device's (ALSA's
/// PCM, which it gives as the description's driver; else the device's id, which is PulseAudio's
/// source or sink name).
fn offered_names(
    host: &cpal::Host,
    devices: Vec<cpal::Device>,
    default: Option<&String>,
    offered: fn(&str, &str) -> bool,
) -> Vec<String> {
    let host_name = host.id().name();
    devices
        .into_iter()
        .filter(|d| {
            let alsa_pcm = d
                .description()
                .ok()
                .and_then(|desc| desc.driver().map(str::to_owned));
            let id = d.id().map(|id| id.id().to_owned()).ok();
            alsa_pcm.or(id).is_none_or(|name| offered(host_name, &name))
        })
        .map(|d| d.to_string())
        .filter(|name| Some(name) != default)
        .collect()
}

/// Whether the input `name` (PulseAudio's source name, ALSA's PCM) of the sound system `host` is
/// one to offer as a microphone. PulseAudio lists a *monitor* of every output beside the
/// microphones (`….monitor`: what the speakers play, never the person), ALSA its plugins as for
/// outputs ([`offered_output`]). The system default is offered whatever it is.
pub fn offered_input(host: &str, name: &str) -> bool {
    if host.eq_ignore_ascii_case("alsa") {
        offered_output(name)
    } else if host.eq_ignore_ascii_case("pulseaudio") {
        !name.ends_with(".monitor")
    } else {
        true
    }
}

/// Speakers present now, as a person would choose among them: the system default first (always
/// there: opening "no name" opens the system's default), then the other outputs, without what
/// ALSA lists besides them (see [`offered_output`]).
pub fn speakers() -> Vec<AudioDeviceInfo> {
    let host = host(KIND_SPEAKER);
    let default = host.default_output_device().map(|d| d.to_string());
    let others = offered_names(
        &host,
        host.output_devices()
            .map(Iterator::collect)
            .unwrap_or_default(),
        default.as_ref(),
        |host, pcm| !host.eq_ignore_ascii_case("alsa") || offered_output(pcm),
    );
    std::iter::once(AudioDeviceInfo {
        name: default.unwrap_or_default(),
        is_default: true,
    })
    .chain(others.into_iter().map(|name| AudioDeviceInfo {
        name,
        is_default: false,
    }))
    .collect()
}

/// Whether ALSA's output `pcm` is one to offer. ALSA lists, besides each card's outputs
/// (`front:CARD=…`, `hdmi:CARD=…`), the system default and the sound server behind it (offered as
/// the system default), its plugins — mixers, converters and channel maps (`dmix`, `plughw`,
/// `surround51`, …), which a person does not pick and which bypass the sound server — and
/// `null`, which plays nothing: preselected, nobody hears the meeting.
pub fn offered_output(pcm: &str) -> bool {
    const NOT_OFFERED: &[&str] = &[
        "default",
        "sysdefault",
        "pulse",
        "pipewire",
        "null",
        "dmix",
        "dsnoop",
        "plughw",
        "hw",
        "plug",
        "iec958",
        "spdif",
        "upmix",
        "vdownmix",
        "lavrate",
        "samplerate",
        "speexrate",
        "speex",
        "a52",
        "dca",
        "jack",
        "oss",
        "usbstream",
    ];
    let kind = pcm.split(':').next().unwrap_or_default();
    !(NOT_OFFERED.contains(&kind) || kind.starts_with("surround"))
}

fn find_device(
    kind: &'static str,
    name: Option<&str>,
) -> Result<(Arc<cpal::Host>, cpal::Device), DeviceError> {
    let host = host(kind);
    let not_found = || DeviceError::NotFound {
        kind,
        name: name.map(str::to_owned),
    };
    let input = kind == "microphone";
    let device = match name {
        None if input => host.default_input_device().ok_or_else(not_found),
        None => host.default_output_device().ok_or_else(not_found),
        Some(name) => {
            let devices = if input {
                host.input_devices().map(|d| d.collect::<Vec<_>>())
            } else {
                host.output_devices().map(|d| d.collect::<Vec<_>>())
            };
            devices
                .inspect_err(|_| forget_pulse(&host))
                .map_err(|e| open_error(kind, e))?
                .into_iter()
                .find(|d| d.to_string() == name)
                .ok_or_else(not_found)
        }
    }?;
    Ok((host, device))
}

/// Waits before each try to open a device again after its stream broke: at once, then after a
/// quarter, a half, one and two seconds (3.75 s in all), long enough for a sound server that
/// restarts (PipeWire's service takes about a second) to be back.
const REOPEN_WAITS_MS: [u64; 5] = [0, 250, 500, 1000, 2000];

/// A device whose stream broke, being opened again as [`REOPEN_WAITS_MS`] says.
struct Broken {
    kind: &'static str,
    /// Why it broke: what is reported if it cannot be opened again.
    reason: String,
    /// Tries so far.
    tries: usize,
    /// When to try next.
    next: std::time::Instant,
}

impl Broken {
    fn new(kind: &'static str, reason: String) -> Broken {
        Broken {
            kind,
            reason,
            tries: 0,
            next: std::time::Instant::now(),
        }
    }

    /// `open` tried once if it is time: the device if it opened; nothing if it is not time or it
    /// failed with tries left; that it broke, once none are left.
    fn try_open<T>(
        &mut self,
        open: impl FnOnce() -> Result<T, DeviceError>,
    ) -> Result<Option<T>, DeviceError> {
        if std::time::Instant::now() < self.next {
            return Ok(None);
        }
        if let Ok(device) = open() {
            return Ok(Some(device));
        }
        self.tries += 1;
        let Some(wait) = REOPEN_WAITS_MS.get(self.tries) else {
            return Err(DeviceError::Disconnected {
                kind: self.kind,
                reason: self.reason.clone(),
            });
        };
        self.next = std::time::Instant::now() + Duration::from_millis(*wait);
        Ok(None)
    }
}

/// Whether a stream error means the device is gone. Over-runs and the I/O errors that ALSA's pulse
/// plugin reports while a stream settles pass; the stream keeps running.
fn is_fatal(e: &cpal::Error) -> bool {
    use cpal::ErrorKind::*;
    matches!(
        e.kind(),
        DeviceNotAvailable | HostUnavailable | PermissionDenied | StreamInvalidated
    )
}

/// The errors a stream reports and keeps running after ([`is_fatal`]). ALSA's pulse plugin reports
/// them by the hundred a millisecond both while a stream settles (for some 20 ms as a meeting's
/// speaker opens, its data coming on between) and when the sound server has gone — and then it
/// never plays again: a stream that did that had its thread spin, at real-time priority, and the
/// speaker was silent without a word. What tells them apart is that no data comes between: a
/// stream that only errs for [`Hiccups::BROKEN_AFTER`] is broken. (A count per second took a
/// settling speaker for broken as the window tests' meetings started.)
struct Hiccups {
    /// The stream's data callbacks so far, which they count.
    callbacks: Arc<AtomicU64>,
    /// Since when it has only erred, and its data callbacks then.
    erring: Option<(std::time::Instant, u64)>,
    /// Whether the last error began that.
    began: bool,
}

impl Hiccups {
    /// Only errors for this long: broken.
    const BROKEN_AFTER: Duration = Duration::from_millis(250);

    /// For a stream whose data callbacks count themselves in `callbacks`.
    fn new(callbacks: Arc<AtomicU64>) -> Hiccups {
        Hiccups {
            callbacks,
            erring: None,
            began: false,
        }
    }

    /// Counts an error at `now`; whether the stream is broken.
    fn broken(&mut self, now: std::time::Instant) -> bool {
        let done = self.callbacks.load(Ordering::Relaxed);
        match self.erring {
            Some((since, then)) if then == done => {
                self.began = false;
                now.duration_since(since) >= Self::BROKEN_AFTER
            }
            _ => {
                self.erring = Some((now, done));
                self.began = true;
                false
            }
        }
    }

    /// Once the stream is taken for broken: its thread waits a little before it errs again,
    /// rather than spin at real-time priority and starve the threads that would replace it
    /// (both cores were taken, for good, when the speaker was replaced on another thread).
    fn pause(&self) {
        std::thread::sleep(Duration::from_millis(10));
    }

    /// Whether the last error began a spell of errors (worth a line in the log).
    fn began(&self) -> bool {
        self.began
    }
}

/// A `kind` stream's error callback: `broken` is told why, once it is ([`is_fatal`], or
/// [`Hiccups`] says so); other errors are logged, the first of each spell.
fn on_error(
    kind: &'static str,
    callbacks: Arc<AtomicU64>,
    mut broken: impl FnMut(String) + Send + 'static,
) -> impl FnMut(cpal::Error) + Send + 'static {
    let mut hiccups = Hiccups::new(callbacks);
    move |e| {
        if is_fatal(&e) || hiccups.broken(std::time::Instant::now()) {
            broken(e.to_string());
            hiccups.pause();
        } else if hiccups.began() {
            tracing::warn!(error = %e, device = kind, "stream hiccup");
        }
    }
}

/// Real-time priority for a stream's own thread (the one that calls us back), asked for from its
/// callbacks once they have come at a device's pace: a busy machine made these threads late
/// (gaps under load, tests/pulseaudio_loopback.rs). Not for a device that never makes its thread
/// wait (ALSA's null device answers every poll at once): at real-time priority that thread would
/// spin and take a core from everything else, the window included. Not when the stream opens
/// either: the threads the sound-server plugin starts then would inherit it, and a meeting's
/// speaker then played nothing (tests/janus_echo.rs).
#[derive(Default)]
struct Promotion {
    calls: u32,
    first: Option<std::time::Instant>,
    decided: bool,
    /// The name of the thread that opened the stream, which the sound library's threads for it
    /// carry too (Linux truncates names to 15 bytes).
    opener: String,
}

impl Promotion {
    /// For a stream opened on the calling thread.
    fn here() -> Promotion {
        let name = std::thread::current().name().unwrap_or_default().to_owned();
        Promotion {
            opener: name.chars().take(15).collect(),
            ..Promotion::default()
        }
    }

    /// Callbacks counted before deciding, and the least time they may take: 50 callbacks of
    /// 10 ms come in 500 ms from a device; a spinning thread makes them in microseconds.
    const CALLS: u32 = 50;
    const AT_LEAST: Duration = Duration::from_millis(200);

    fn on_callback(&mut self) {
        if self.decided {
            return;
        }
        let first = *self.first.get_or_insert_with(std::time::Instant::now);
        self.calls += 1;
        if self.calls >= Self::CALLS {
            self.decided = true;
            if first.elapsed() >= Self::AT_LEAST {
                crate::realtime::promote_audio_thread();
                crate::realtime::promote_threads_named(&self.opener);
                // ALSA's PulseAudio plugin talks to the server from libpulse's own thread, and
                // the stream's thread waits for its lock.
                crate::realtime::promote_threads_named("threaded-ml");
                // And cpal's PulseAudio client, which the microphone's stream waits on.
                crate::realtime::promote_threads_named(PULSE_THREADS);
            }
        }
    }
}

fn open_error(kind: &'static str, e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Open {
        kind,
        reason: e.to_string(),
    }
}

/// What the device thread sends: samples, or the reason it stopped.
enum Captured {
    Samples(Vec<f32>),
    Failed(String),
}

/// A microphone, delivering 48 kHz mono in 20 ms frames whatever the device's own format.
pub struct Microphone {
    /// What it was opened as: a name, or the default.
    name: Option<String>,
    /// The sound system it was found in.
    host: Arc<cpal::Host>,
    /// When it was opened again after its stream broke.
    reopens: Reopens,
    /// Whether samples have come.
    flowing: bool,
    samples: Receiver<Captured>,
    resampler: Resampler,
    /// Ends the stream's thread, and with it the stream (so does dropping it).
    stop: SyncSender<()>,
}

impl std::fmt::Debug for Microphone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Microphone").finish_non_exhaustive()
    }
}

const KIND_MIC: &str = "microphone";
const KIND_SPEAKER: &str = "speaker";

impl Microphone {
    /// Opens the named microphone, or the default one.
    pub fn open(name: Option<&str>) -> Result<Self, DeviceError> {
        let name = name.map(str::to_owned);
        let (tx, samples) = mpsc::sync_channel::<Captured>(64);
        let (stop, stopped) = mpsc::sync_channel::<()>(1);
        let (ready_tx, ready) = mpsc::sync_channel(1);
        let wanted = name.clone();
        std::thread::Builder::new()
            .name("conclave-mic".into())
            .spawn(move || {
                let opened = open_input(wanted.as_deref(), tx);
                match opened {
                    Ok((stream, rate, host)) => {
                        let _ = ready_tx.send(Ok((rate, host)));
                        // Keep the stream alive until the Microphone is dropped.
                        let _ = stopped.recv();
                        drop(stream);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| open_error(KIND_MIC, e))?;
        let (rate, host) = ready
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| open_error(KIND_MIC, "the sound system did not answer"))??;
        Ok(Microphone {
            name,
            host,
            reopens: Reopens::default(),
            flowing: false,
            samples,
            resampler: Resampler::new(rate, SAMPLE_RATE)?,
            stop,
        })
    }
}

/// Opens and starts the named microphone's stream, delivering to `tx`; also its sample rate and
/// the sound system it is in.
fn open_input(
    name: Option<&str>,
    tx: SyncSender<Captured>,
) -> Result<(cpal::Stream, u32, Arc<cpal::Host>), DeviceError> {
    let (host, device) = find_device(KIND_MIC, name)?;
    let supported = device
        .default_input_config()
        .map_err(|e| open_error(KIND_MIC, e))?;
    let rate = supported.sample_rate();
    let channels = usize::from(supported.channels());
    let format = supported.sample_format();
    let config = StreamConfig {
        channels: supported.channels(),
        sample_rate: rate,
        // Small fixed buffers start fast and keep latency down (10 ms).
        buffer_size: BufferSize::Fixed(rate / 100),
    };
    let stream = match format {
        SampleFormat::F32 => input_stream::<f32>(&device, &config, channels, tx),
        SampleFormat::I16 => input_stream::<i16>(&device, &config, channels, tx),
        SampleFormat::I32 => input_stream::<i32>(&device, &config, channels, tx),
        SampleFormat::U16 => input_stream::<u16>(&device, &config, channels, tx),
        other => Err(DeviceError::UnsupportedFormat(format!(
            "microphone sample format {other}"
        ))),
    }?;
    stream.play().map_err(|e| open_error(KIND_MIC, e))?;
    Ok((stream, rate, host))
}

fn input_stream<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    channels: usize,
    tx: SyncSender<Captured>,
) -> Result<cpal::Stream, DeviceError>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let errors = tx.clone();
    let mut promotion = Promotion::here();
    let callbacks = Arc::new(AtomicU64::new(0));
    let counted = callbacks.clone();
    device
        .build_input_stream::<T, _, _>(
            *config,
            move |data: &[T], _| {
                promotion.on_callback();
                counted.fetch_add(1, Ordering::Relaxed);
                let mono = data
                    .chunks(channels.max(1))
                    .map(|frame| {
                        frame.iter().map(|&s| f32::from_sample(s)).sum::<f32>() / frame.len() as f32
                    })
                    .collect();
                // A full queue means nobody is reading: drop rather than block the audio thread.
                let _ = tx.try_send(Captured::Samples(mono));
            },
            on_error(KIND_MIC, callbacks, move |reason| {
                let _ = errors.try_send(Captured::Failed(reason));
            }),
            Some(Duration::from_secs(5)),
        )
        .map_err(|e| open_error(KIND_MIC, e))
}

impl AudioSource for Microphone {
    fn next_frame(&mut self) -> Result<AudioFrame, DeviceError> {
        loop {
            if let Some(samples) = self.resampler.pop(SAMPLES_PER_FRAME) {
                let held = self.resampler.available() + SAMPLES_PER_FRAME;
                let held_us = held as u64 * 1_000_000 / u64::from(SAMPLE_RATE);
                return Ok(AudioFrame {
                    samples,
                    captured_us: wall_clock_us().saturating_sub(held_us),
                });
            }
            // A device that delivered keeps delivering every 10 ms; a stream stops silently when
            // its connection to the sound server is lost (cpal's PulseAudio client then waits
            // for an answer that never comes). Before the first samples, ALSA can take 2 s.
            let wait = if self.flowing {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(2)
            };
            let reason = match self.samples.recv_timeout(wait) {
                Ok(Captured::Samples(s)) => {
                    self.flowing = true;
                    self.resampler.push(&s);
                    continue;
                }
                Ok(Captured::Failed(reason)) => reason,
                Err(RecvTimeoutError::Timeout) => format!("no audio for {} ms", wait.as_millis()),
                Err(RecvTimeoutError::Disconnected) => "the capture stream ended".into(),
            };
            self.reopen(reason)?;
        }
    }
}

impl Microphone {
    /// After its stream broke: the same microphone (or the default one) opened again, if it can
    /// be within a few seconds ([`REOPEN_WAITS_MS`]) and did not break just as recently. A
    /// stream breaks for good when its connection to the sound server does, which a server
    /// restart does, and a process stopped and continued did too (cpal's PulseAudio client
    /// gives the connection up when its wait is interrupted).
    /// `reason` is what is reported if it cannot be.
    fn reopen(&mut self, reason: String) -> Result<(), DeviceError> {
        let mut broken = Broken::new(KIND_MIC, reason);
        if !self.reopens.allowed() {
            return Err(DeviceError::Disconnected {
                kind: KIND_MIC,
                reason: broken.reason,
            });
        }
        forget_pulse(&self.host);
        // The broken stream goes now (its thread ends on this), not when replaced.
        let _ = self.stop.try_send(());
        let fresh = loop {
            std::thread::sleep(
                broken
                    .next
                    .saturating_duration_since(std::time::Instant::now()),
            );
            if let Some(fresh) = broken.try_open(|| Microphone::open(self.name.as_deref()))? {
                break fresh;
            }
        };
        tracing::warn!("the microphone's stream broke; opened it again");
        *self = Microphone {
            reopens: std::mem::take(&mut self.reopens).noted(),
            ..fresh
        };
        Ok(())
    }
}

/// When a device was opened again after its stream broke, in the last minute. A stream that
/// breaks over and over is reported, not opened again and again; but one that breaks again as
/// its sound server comes back gets another chance. (With one allowed in 10 s, a speaker opened
/// again as the server came up was taken for broken once more at once and reported, in 2 runs of
/// 3 of tests/pulseaudio_loopback.rs; that was before [`Hiccups`] told a settling stream from a
/// dead one, which may have been all it was.)
#[derive(Default)]
struct Reopens(Vec<std::time::Instant>);

impl Reopens {
    /// At most this many in a minute.
    const PER_MINUTE: usize = 3;

    /// Whether one more is allowed now.
    fn allowed(&mut self) -> bool {
        self.0.retain(|at| at.elapsed() < Duration::from_secs(60));
        self.0.len() < Self::PER_MINUTE
    }

    /// These, and one now.
    fn noted(mut self) -> Reopens {
        self.0.push(std::time::Instant::now());
        self
    }
}

/// What the speaker's callback and its feeder share besides the samples (which go through a
/// wait-free ring): the callback never takes a lock. It runs at real-time priority; the feeder
/// (the decoding side) does not, and one preempted while holding a lock the callback waited for
/// made the callback late — 13–26 ms of silence on a busy machine, though nothing ran dry.
#[derive(Default)]
struct PlaybackState {
    /// Playing; false while (re)filling to [`PREFILL_MS`] after a start or an underrun.
    primed: AtomicBool,
    /// Underruns: times the device asked for samples while playing and the queue ran dry.
    gaps: AtomicU64,
}

/// Audio held before playback starts, and again after running dry: the producer delivers in
/// 20 ms steps with scheduling jitter, and the device asks in 10 ms ones. 40 ms ran dry once or
/// twice a minute with both cores busy (the sound server's own main thread, which forwards the
/// microphone, is not real-time); 60 ms did not (tests/pulseaudio_loopback.rs).
const PREFILL_MS: usize = 60;

/// Most audio queued for a speaker (200 ms); what would not fit whole is dropped whole.
const MAX_QUEUED_MS: usize = 200;

/// How far above [`PREFILL_MS`] a speaker's queue may stand for a whole [`Backlog::WINDOW`].
const STANDING_EXCESS_MS: usize = 40;

/// Keeps what stands in a speaker's queue near [`PREFILL_MS`]. The queue fills beyond it when the
/// device starts late or stalls, and it does not empty again on its own: the producer and the
/// device then run at the same pace, and everything is heard that much later for the rest of the
/// meeting (a sound server's slow start left 200 ms standing, and every slight lead of the
/// producer then dropped samples — each drop moved the echo the echo canceller had locked onto).
/// So when the queue never fell below [`PREFILL_MS`] + [`STANDING_EXCESS_MS`] for a whole window,
/// the deliveries that bring it back to [`PREFILL_MS`] are skipped whole, in a row (one short cut
/// rather than many), and the echo canceller is not told of them.
#[derive(Debug)]
struct Backlog {
    /// The least queued at a delivery in this window, in device samples.
    floor: usize,
    /// Deliveries seen in this window.
    seen: u32,
    /// Device samples still to skip.
    owed: usize,
}

impl Backlog {
    /// Deliveries per judgement: half a second of 20 ms.
    const WINDOW: u32 = 25;

    fn new() -> Backlog {
        Backlog {
            floor: usize::MAX,
            seen: 0,
            owed: 0,
        }
    }

    /// Whether `incoming` device samples join the `queued` ones (of at most `capacity`), where
    /// `per_ms` device samples make a millisecond. Never a part of them: a part would shift what
    /// is heard against what the echo canceller was told.
    fn admit(&mut self, queued: usize, incoming: usize, capacity: usize, per_ms: usize) -> bool {
        if self.owed > 0 {
            self.owed = self.owed.saturating_sub(incoming);
            return false;
        }
        if queued + incoming > capacity {
            return false;
        }
        self.floor = self.floor.min(queued);
        self.seen += 1;
        if self.seen < Self::WINDOW {
            return true;
        }
        let standing = std::mem::replace(&mut self.floor, usize::MAX);
        self.seen = 0;
        if standing <= (PREFILL_MS + STANDING_EXCESS_MS) * per_ms {
            return true;
        }
        // This delivery is the first skipped; the rest follow.
        self.owed = (standing - PREFILL_MS * per_ms).saturating_sub(incoming);
        false
    }
}

/// A speaker, taking 48 kHz mono and playing it on whatever the device runs at.
pub struct Speaker {
    /// What it was opened as: a name, or the default.
    name: Option<String>,
    /// The sound system it was found in.
    host: Arc<cpal::Host>,
    /// When it was opened again after its stream broke.
    reopens: Reopens,
    /// Its stream broke, and it is being opened again.
    broken: Option<Broken>,
    queue: rtrb::Producer<f32>,
    backlog: Backlog,
    state: Arc<PlaybackState>,
    resampler: Resampler,
    /// Device samples per millisecond.
    per_ms: usize,
    failed: Receiver<String>,
    /// Ends the stream's thread, and with it the stream (so does dropping it).
    stop: SyncSender<()>,
}

impl std::fmt::Debug for Speaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Speaker").finish_non_exhaustive()
    }
}

impl Speaker {
    /// Opens the named speaker, or the default one.
    pub fn open(name: Option<&str>) -> Result<Self, DeviceError> {
        let (host, device) = find_device(KIND_SPEAKER, name)?;
        let supported = device
            .default_output_config()
            .map_err(|e| open_error(KIND_SPEAKER, e))?;
        let rate = supported.sample_rate();
        let format = supported.sample_format();
        let config = StreamConfig {
            channels: supported.channels(),
            sample_rate: rate,
            buffer_size: BufferSize::Fixed(rate / 100),
        };
        let per_ms = (rate / 1000) as usize;
        let (queue, consumer) = rtrb::RingBuffer::new(MAX_QUEUED_MS * per_ms);
        let state = Arc::new(PlaybackState::default());
        let shared = (consumer, state.clone());
        let (fail_tx, failed) = mpsc::sync_channel::<String>(4);
        let (stop, stopped) = mpsc::sync_channel::<()>(1);
        let (ready_tx, ready) = mpsc::sync_channel::<Result<(), DeviceError>>(1);
        std::thread::Builder::new()
            .name("conclave-speaker".into())
            .spawn(move || {
                // Real-time priority comes later, from the stream's callbacks (`Promotion`).
                let stream = match format {
                    SampleFormat::F32 => output_stream::<f32>(&device, &config, shared, fail_tx),
                    SampleFormat::I16 => output_stream::<i16>(&device, &config, shared, fail_tx),
                    SampleFormat::I32 => output_stream::<i32>(&device, &config, shared, fail_tx),
                    SampleFormat::U16 => output_stream::<u16>(&device, &config, shared, fail_tx),
                    other => Err(DeviceError::UnsupportedFormat(format!(
                        "speaker sample format {other}"
                    ))),
                }
                .and_then(|s| {
                    s.play()
                        .map(|()| s)
                        .map_err(|e| open_error(KIND_SPEAKER, e))
                });
                match stream {
                    Ok(stream) => {
                        let _ = ready_tx.send(Ok(()));
                        let _ = stopped.recv();
                        drop(stream);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| open_error(KIND_SPEAKER, e))?;
        ready
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| open_error(KIND_SPEAKER, "the sound system did not answer"))??;
        Ok(Speaker {
            name: name.map(str::to_owned),
            host,
            reopens: Reopens::default(),
            broken: None,
            queue,
            backlog: Backlog::new(),
            state,
            resampler: Resampler::new(SAMPLE_RATE, rate)?,
            per_ms,
            failed,
            stop,
        })
    }
}

fn output_stream<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    (mut queue, state): (rtrb::Consumer<f32>, Arc<PlaybackState>),
    failed: SyncSender<String>,
) -> Result<cpal::Stream, DeviceError>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels);
    let mut promotion = Promotion::here();
    let callbacks = Arc::new(AtomicU64::new(0));
    let counted = callbacks.clone();
    device
        .build_output_stream::<T, _, _>(
            *config,
            move |out: &mut [T], _| {
                promotion.on_callback();
                counted.fetch_add(1, Ordering::Relaxed);
                if !state.primed.load(Ordering::Acquire) {
                    return; // Silence (the buffer comes pre-filled with it) while filling.
                }
                for frame in out.chunks_mut(channels.max(1)) {
                    let Ok(s) = queue.pop() else {
                        state.primed.store(false, Ordering::Release);
                        state.gaps.fetch_add(1, Ordering::Relaxed);
                        break;
                    };
                    frame.fill(T::from_sample(s));
                }
            },
            on_error(KIND_SPEAKER, callbacks, move |reason| {
                let _ = failed.try_send(reason);
            }),
            Some(Duration::from_secs(5)),
        )
        .map_err(|e| open_error(KIND_SPEAKER, e))
}

impl Speaker {
    /// Opens the speaker again after its stream broke, as [`Microphone::reopen`] does, but one
    /// try per call ([`Broken::try_open`]): the caller plays from under a lock that others (a device switch, the
    /// stats) take too, and waits of seconds there held them up. What comes meanwhile is
    /// skipped. Whether it plays again; an error once it cannot.
    fn mend(&mut self) -> Result<bool, DeviceError> {
        if self.broken.is_none()
            && let Ok(reason) = self.failed.try_recv()
        {
            if !self.reopens.allowed() {
                return Err(DeviceError::Disconnected {
                    kind: KIND_SPEAKER,
                    reason,
                });
            }
            forget_pulse(&self.host);
            // The broken stream goes now (its thread ends on this), not when replaced.
            let _ = self.stop.try_send(());
            self.broken = Some(Broken::new(KIND_SPEAKER, reason));
        }
        let Some(broken) = self.broken.as_mut() else {
            return Ok(true);
        };
        let Some(fresh) = broken.try_open(|| Speaker::open(self.name.as_deref()))? else {
            return Ok(false);
        };
        tracing::warn!("the speaker's stream broke; opened it again");
        fresh.state.gaps.fetch_add(self.gaps(), Ordering::Relaxed);
        *self = Speaker {
            reopens: std::mem::take(&mut self.reopens).noted(),
            ..fresh
        };
        Ok(true)
    }
}

impl AudioSink for Speaker {
    fn gaps(&self) -> u64 {
        self.state.gaps.load(Ordering::Relaxed)
    }

    fn play(&mut self, samples: &[f32]) -> Result<Played, DeviceError> {
        if !self.mend()? {
            return Ok(Played::Skipped);
        }
        self.resampler.push(samples);
        let ready = self.resampler.available();
        let Some(converted) = self.resampler.pop(ready) else {
            return Ok(Played::Queued);
        };
        let capacity = self.queue.buffer().capacity();
        let queued = capacity - self.queue.slots();
        let incoming = converted.len();
        if !self.backlog.admit(queued, incoming, capacity, self.per_ms) {
            return Ok(Played::Skipped);
        }
        // Only the callback takes from the ring, so what `admit` saw room for stays free.
        if let Ok(chunk) = self.queue.write_chunk_uninit(incoming) {
            chunk.fill_from_iter(converted);
        }
        if queued + incoming >= PREFILL_MS * self.per_ms {
            self.state.primed.store(true, Ordering::Release);
        }
        Ok(Played::Queued)
    }
}

#[cfg(test)]
mod tests {
    use super::{
        Backlog, Hiccups, MAX_QUEUED_MS, PREFILL_MS, Reopens, offered_input, offered_output,
    };
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn a_stream_that_only_errs_is_broken_one_whose_data_comes_between_is_not() {
        let callbacks = Arc::new(AtomicU64::new(0));
        let mut hiccups = Hiccups::new(callbacks.clone());
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // Settling: errors, with data between them, for longer than a broken one's.
        for ms in (0..1000).step_by(5) {
            assert!(!hiccups.broken(at(ms)), "settling, at {ms} ms");
            callbacks.fetch_add(1, Ordering::Relaxed);
        }
        // Dead: errors only.
        assert!(!hiccups.broken(at(1000)));
        assert!(hiccups.began());
        assert!(!hiccups.broken(at(1200)));
        assert!(!hiccups.began());
        assert!(
            hiccups.broken(at(1250)),
            "a quarter of a second of errors alone"
        );
    }

    #[test]
    fn a_device_is_opened_again_three_times_a_minute_at_most() {
        let mut reopens = Reopens::default();
        for _ in 0..Reopens::PER_MINUTE {
            assert!(reopens.allowed());
            reopens = reopens.noted();
        }
        assert!(!reopens.allowed());
    }

    /// A device at 48 kHz taking 20 ms for every 20 ms delivered, its queue standing at `start_ms`
    /// (plus `jitter_ms` that comes and goes with every other delivery): the queue after
    /// `seconds`, in ms, and how many deliveries were skipped.
    fn standing(start_ms: usize, jitter_ms: usize, seconds: usize) -> (usize, usize) {
        let per_ms = 48;
        let chunk = 20 * per_ms;
        let capacity = MAX_QUEUED_MS * per_ms;
        let mut backlog = Backlog::new();
        let mut queued = start_ms * per_ms;
        let mut skipped = 0;
        for i in 0..seconds * 50 {
            let wobble = if i % 2 == 0 { jitter_ms * per_ms } else { 0 };
            if backlog.admit(queued + wobble, chunk, capacity, per_ms) {
                queued += chunk;
            } else {
                skipped += 1;
            }
            queued -= chunk.min(queued);
        }
        (queued / per_ms, skipped)
    }

    #[test]
    fn a_queue_left_standing_high_comes_down_near_the_prefill_and_then_stays() {
        let (left, skipped) = standing(MAX_QUEUED_MS - 20, 0, 1);
        assert!(
            left <= PREFILL_MS + 40,
            "{left} ms still standing after a second"
        );
        assert!(
            left >= PREFILL_MS - 20 && skipped <= 7,
            "{skipped} deliveries skipped to come down to {left} ms"
        );
        // Then nothing more is skipped.
        let (_, skipped) = standing(left, 0, 60);
        assert_eq!(skipped, 0);
    }

    #[test]
    fn a_queue_near_the_prefill_is_never_cut_even_with_jitter() {
        let (left, skipped) = standing(PREFILL_MS, 30, 60);
        assert_eq!((left, skipped), (PREFILL_MS, 0));
    }

    #[test]
    fn what_does_not_fit_whole_is_not_queued_at_all() {
        let mut backlog = Backlog::new();
        assert!(!backlog.admit(190 * 48, 20 * 48, 200 * 48, 48));
        assert!(backlog.admit(180 * 48, 20 * 48, 200 * 48, 48));
    }

    #[test]
    fn monitors_of_outputs_are_not_offered_as_microphones() {
        assert!(offered_input(
            "PulseAudio",
            "alsa_input.usb-Headset-00.mono-fallback"
        ));
        assert!(offered_input(
            "PulseAudio",
            "bluez_source.00_11_22_33_44_55"
        ));
        assert!(!offered_input(
            "PulseAudio",
            "alsa_output.pci-0000_00_1f.3.analog-stereo.monitor"
        ));
        assert!(offered_input("ALSA", "front:CARD=Headset,DEV=0"));
        assert!(!offered_input("ALSA", "dsnoop:CARD=PCH,DEV=0"));
        assert!(offered_input("WASAPI", "Microphone (Realtek)"));
    }

    #[test]
    fn cards_are_offered_and_alsas_plugins_and_null_are_not() {
        for pcm in [
            "front:CARD=PCH,DEV=0",
            "hdmi:CARD=HDMI,DEV=3",
            "front:CARD=Headset,DEV=0",
            "bluealsa",
        ] {
            assert!(offered_output(pcm), "{pcm}");
        }
        for pcm in [
            "null",
            "default",
            "sysdefault:CARD=PCH",
            "pulse",
            "pipewire",
            "dmix:CARD=PCH,DEV=0",
            "plughw:CARD=PCH,DEV=0",
            "hw:CARD=PCH,DEV=0",
            "surround51:CARD=PCH,DEV=0",
            "iec958:CARD=PCH,DEV=0",
            "lavrate",
            "upmix",
        ] {
            assert!(!offered_output(pcm), "{pcm}");
        }
    }
}
