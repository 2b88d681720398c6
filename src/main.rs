//! `conclave`: the headless Conclave client and its tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Conclave: end-to-end encrypted video meetings. The SFU only ever sees ciphertext.
#[derive(Parser)]
#[command(name = "conclave", version = conclave::VERSION, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Join a meeting as a headless participant: publish camera and microphone, receive the
    /// others, and report what arrived (frames, decryption, latency).
    Join(Box<JoinArgs>),
    /// Make or check join links.
    Link {
        #[command(subcommand)]
        action: LinkAction,
    },
    /// Test camera and microphone before a meeting: capture, encode, encrypt, decrypt, decode and
    /// play on this machine, no server needed. Prints per-stage and end-to-end latency, frames
    /// lost and picture quality. A missing camera or microphone is reported and skipped.
    Selftest(SelftestArgs),
    /// Check Conclave's implementations against published test vectors.
    Conformance {
        #[command(subcommand)]
        suite: ConformanceSuite,
    },
}

#[derive(Subcommand)]
enum LinkAction {
    /// Print a link to a new meeting, with a fresh random 256-bit room secret. Anyone holding the
    /// link can join: share it only with the participants.
    New {
        /// The SFU's signalling address, e.g. ws://127.0.0.1:8188 or wss://meet.example.org/janus
        /// (a dialect prefix such as janus+wss:// is accepted too).
        #[arg(long)]
        sfu: String,
        /// Room name (letters, digits, - and _); a random one if left out.
        #[arg(long)]
        room: Option<String>,
        /// The SFU's room PIN, if the room has one.
        #[arg(long)]
        pin: Option<String>,
        /// Also print the https:// form for a landing page at this address.
        #[arg(long, value_name = "BASE_URL")]
        https: Option<String>,
    },
    /// Check a link and say what is wrong with it, if anything.
    Check {
        /// The link: `-` reads it from standard input, `@FILE` from a file; left out, it comes
        /// from CONCLAVE_LINK. (Given here literally, it is visible to other users of this
        /// computer in the process list, secret and all.)
        link: Option<String>,
    },
}

#[derive(clap::Args)]
struct JoinArgs {
    /// The join link: `-` reads it from standard input, `@FILE` from a file; left out, it comes
    /// from CONCLAVE_LINK. (Given here literally, it is visible to other users of this computer
    /// in the process list and in shell history, secret and all.)
    link: Option<String>,
    /// Your name. The others receive it end-to-end encrypted; the SFU only sees a random
    /// pseudonym.
    #[arg(long)]
    name: String,
    /// Camera: synthetic, none, or a camera number.
    #[arg(long, default_value = "0", value_parser = conclave::cli_args::camera)]
    camera: conclave::selftest::CameraChoice,
    /// Microphone: synthetic or tone (a test tone), speech, chirps, none, default, or a device name.
    #[arg(long, default_value = "default", value_parser = |s: &str| Ok::<_, String>(conclave::cli_args::mic(s)))]
    mic: conclave::selftest::MicChoice,
    /// Speaker for the others' voices: none, default, or a device name.
    #[arg(long, default_value = "none", value_parser = |s: &str| Ok::<_, String>(conclave::cli_args::speaker(s)))]
    speaker: conclave::selftest::SpeakerChoice,
    #[command(flatten)]
    voice: VoiceArgs,
    /// How long to stay, e.g. 30s or 5m.
    #[arg(long, default_value = "60s", value_parser = conclave::cli_args::duration)]
    duration: std::time::Duration,
    /// Write what was received (per participant) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,
    /// Chat from standard input: each line goes to everyone (`/msg NAME text` privately,
    /// `/hand up`, `/hand down`, `/react 👍`); messages, hands and reactions are printed as JSON
    /// lines on standard output (the link then comes from CONCLAVE_LINK or @FILE).
    #[arg(long)]
    chat_stdin: bool,
    /// Picture size.
    #[arg(long, default_value = "640x360", value_parser = conclave::cli_args::resolution)]
    resolution: (usize, usize),
    /// Frames per second.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=60))]
    fps: u32,
    /// Video bitrate.
    #[arg(long, default_value = "800k", value_parser = conclave::cli_args::bitrate)]
    bitrate: u32,
    /// Local address for media (default: all interfaces).
    #[arg(long, value_name = "IP")]
    ice_address: Option<std::net::IpAddr>,
    /// A STUN or TURN server (repeatable), e.g. `turn:turn.example.org:3478?transport=udp`.
    /// None by default: only the SFU is contacted. A TURN server's password is read from the
    /// environment variable CONCLAVE_TURN_CREDENTIAL (a command line is visible to other users).
    #[arg(long = "ice-server", value_name = "URL")]
    ice_servers: Vec<String>,
    /// User name for the TURN servers.
    #[arg(long, value_name = "NAME", default_value = "")]
    turn_username: String,
    /// Send and receive media only through a TURN relay: the SFU sees the relay's address,
    /// never yours.
    #[arg(long)]
    relay_only: bool,
    /// Trust this certificate authority (a PEM file) for the SFU's wss:// besides the system's
    /// (which SSL_CERT_FILE and SSL_CERT_DIR can name).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<std::path::PathBuf>,
    /// Send a keyframe at least this often (receivers also ask for one when they need it).
    #[arg(long, default_value = "2s", value_parser = conclave::cli_args::duration)]
    keyframe_interval: std::time::Duration,
    /// Have the SFU record the room (Janus: into this folder, if we create the room; Galène: into
    /// its own recordings folder, which needs the `record` permission) — tests of what an SFU stores.
    #[arg(long, hide = true)]
    record_dir: Option<String>,
    /// Measure mouth-to-ear audio latency from the timing chirps of `--mic chirps` senders.
    #[arg(long)]
    measure_audio_latency: bool,
    /// Publish a second synthetic video track this long after joining, without rejoining (for
    /// tests of several tracks per participant).
    #[arg(long, hide = true, value_parser = conclave::cli_args::duration)]
    second_video_after: Option<std::time::Duration>,
    /// Share a screen (`screen`: the X display's whole screen), one window (`window:<title>`),
    /// what the system's dialog chooses (`portal`; in a Wayland session `screen` and `window:…`
    /// ask the dialog too) or a synthetic page of text and a chart (`synthetic`), end-to-end
    /// encrypted like the rest.
    #[arg(long, value_parser = conclave_media::ShareTarget::parse)]
    share: Option<conclave_media::ShareTarget>,
    /// Start sharing this long after joining.
    #[arg(long, value_parser = conclave::cli_args::duration, requires = "share")]
    share_after: Option<std::time::Duration>,
    /// Stop sharing after this long (else at the end of the meeting).
    #[arg(long, value_parser = conclave::cli_args::duration, requires = "share")]
    share_for: Option<std::time::Duration>,
    /// When the meeting ends, write the last picture of each share received into this folder,
    /// as `<share_feed>.pgm` (luma only): tests compare them with what was shared.
    #[arg(long, hide = true)]
    keep_share_pictures: Option<std::path::PathBuf>,
    /// Drop the connection to the SFU this long after joining, as a network failure would (no
    /// goodbye), and reconnect (for tests).
    #[arg(long, hide = true, value_parser = conclave::cli_args::duration)]
    drop_connection_after: Option<std::time::Duration>,
    /// Call yourself this at the SFU instead of a random pseudonym (for tests of impostors).
    #[arg(long, hide = true)]
    pseudonym: Option<String>,
    /// Start muted: audio, video, or both (comma-separated). The others are told so.
    #[arg(long, value_delimiter = ',', value_parser = ["audio", "video"])]
    mute: Vec<String>,
}

/// The microphone's clean-up, all on unless turned off (e.g. for a studio microphone).
#[derive(clap::Args)]
struct VoiceArgs {
    /// Do not remove what the microphone hears of the speaker (the others' voices).
    #[arg(long)]
    no_echo_cancellation: bool,
    /// Do not suppress background noise.
    #[arg(long)]
    no_noise_suppression: bool,
    /// Do not adjust the microphone's level.
    #[arg(long)]
    no_gain_control: bool,
}

impl VoiceArgs {
    fn settings(&self) -> conclave_media::VoiceSettings {
        conclave_media::VoiceSettings {
            echo_cancellation: !self.no_echo_cancellation,
            noise_suppression: !self.no_noise_suppression,
            gain_control: !self.no_gain_control,
        }
    }
}

#[derive(clap::Args)]
struct SelftestArgs {
    /// Use the synthetic camera (test pattern) and microphone (speech), no speaker: runs on
    /// machines without devices.
    #[arg(long)]
    synthetic: bool,
    /// How long to run, e.g. 5s, 500ms, 1m.
    #[arg(long, default_value = "5s", value_parser = conclave::cli_args::duration)]
    duration: std::time::Duration,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Camera: synthetic, none, or a camera number [default: 0, or synthetic with --synthetic].
    #[arg(long, value_parser = conclave::cli_args::camera)]
    camera: Option<conclave::selftest::CameraChoice>,
    /// Microphone: synthetic or tone (a test tone), speech, chirps, none, default, or a device name
    /// [default: default, or synthetic with --synthetic].
    #[arg(long, value_parser = |s: &str| Ok::<_, String>(conclave::cli_args::mic(s)))]
    mic: Option<conclave::selftest::MicChoice>,
    /// Speaker: null, default, or a device name [default: default, or null with --synthetic].
    #[arg(long, value_parser = |s: &str| Ok::<_, String>(conclave::cli_args::speaker(s)))]
    speaker: Option<conclave::selftest::SpeakerChoice>,
    /// Picture size asked of the camera.
    #[arg(long, default_value = "1280x720", value_parser = conclave::cli_args::resolution)]
    resolution: (usize, usize),
    /// Frames per second asked of the camera.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=60))]
    fps: u32,
    /// Video bitrate, e.g. 1500k.
    #[arg(long, default_value = "1500k", value_parser = conclave::cli_args::bitrate)]
    bitrate: u32,
    /// Test sharing instead of the camera: screen, window:<title>, portal or synthetic (captured,
    /// encoded for text, sealed, opened and decoded as a meeting's share is).
    #[arg(long, value_parser = conclave_media::ShareTarget::parse)]
    share: Option<conclave_media::ShareTarget>,
    #[command(flatten)]
    voice: VoiceArgs,
}

#[derive(Subcommand)]
enum ConformanceSuite {
    /// SFrame (RFC 9605): header, AES-CTR-HMAC and full-frame vectors from a JSON file in the
    /// RFC / working-group shape. Prints each failing vector and `N passed, M failed`; exits 1 if
    /// any vector fails, 2 if the file cannot be read as vectors.
    Sframe {
        /// The vector file, e.g. tests/data/sframe-rfc9605.json.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    conclave::logging::init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("conclave: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Selftest(args) => selftest(args),
        Command::Link { action } => link(action),
        Command::Join(args) => join(*args),
        Command::Conformance {
            suite: ConformanceSuite::Sframe { file },
        } => {
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let report = conclave::conformance::check_sframe_vectors(&json)
                .with_context(|| format!("{} is not an SFrame vector file", file.display()))?;
            println!("{report}");
            Ok(if report.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn selftest(args: SelftestArgs) -> anyhow::Result<ExitCode> {
    use conclave::selftest::{self, CameraChoice, MicChoice, Options, SpeakerChoice};
    let mut options = Options::synthetic(args.duration);
    if !args.synthetic {
        options.camera = CameraChoice::Device(0);
        options.mic = MicChoice::Device(None);
        options.speaker = SpeakerChoice::Device(None);
    }
    options.camera = args.camera.unwrap_or(options.camera);
    options.mic = args.mic.unwrap_or(options.mic);
    options.speaker = args.speaker.unwrap_or(options.speaker);
    options.video.width = args.resolution.0;
    options.video.height = args.resolution.1;
    options.video.fps = args.fps;
    options.video_bitrate_bps = args.bitrate;
    options.voice = args.voice.settings();
    options.share = args.share;

    let report = selftest::run(&options);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", conclave::selftest::render(&report));
    }
    let nothing_ran = report.video.is_none() && report.audio.is_none();
    Ok(if nothing_ran {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn link(action: LinkAction) -> anyhow::Result<ExitCode> {
    use conclave_room::JoinLink;
    match action {
        LinkAction::New {
            sfu,
            room,
            pin,
            https,
        } => {
            let link = JoinLink::generate(&sfu, room, pin)?;
            println!("{}", link.to_conclave_url().as_str());
            if let Some(base) = https {
                println!("{}", link.to_https_url(&base).as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
        LinkAction::Check { link } => match JoinLink::parse(&read_link(link.as_deref())?) {
            Ok(l) => {
                println!(
                    "valid link: {:?} SFU at {}, room {}",
                    l.sfu.dialect, l.sfu.url, l.room
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                println!("invalid link: {e}");
                Ok(ExitCode::FAILURE)
            }
        },
    }
}

/// The join link from where `arg` says: standard input (`-`), a file (`@FILE`), the environment
/// (`CONCLAVE_LINK`, when left out) or the argument itself (with a warning: other users can read
/// a command line).
fn read_link(arg: Option<&str>) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let text = match arg {
        None => std::env::var("CONCLAVE_LINK").map_err(|_| {
            anyhow::anyhow!(
                "no link: give one (- reads it from standard input, @FILE from a file) or set \
                 CONCLAVE_LINK"
            )
        })?,
        Some("-") => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the link from standard input")?;
            line
        }
        Some(path) if path.starts_with('@') => std::fs::read_to_string(&path[1..])
            .with_context(|| format!("cannot read the link from {}", &path[1..]))?,
        Some(link) => {
            eprintln!(
                "conclave: a link on the command line is visible to other users of this computer; \
                 pass - to read it from standard input, or set CONCLAVE_LINK"
            );
            link.to_owned()
        }
    };
    Ok(zeroize::Zeroizing::new(text.trim().to_owned()))
}

/// The servers given on the command line, TURN ones with the user name and the password from
/// the environment.
fn ice_servers(urls: &[String], username: &str) -> Vec<conclave::client::IceServer> {
    let credential = std::env::var("CONCLAVE_TURN_CREDENTIAL").unwrap_or_default();
    urls.iter()
        .map(|url| {
            let mut server = conclave::client::IceServer {
                url: url.clone(),
                ..Default::default()
            };
            if server.is_turn() {
                server.username = username.to_owned();
                server.credential = credential.clone();
            }
            server
        })
        .collect()
}

fn join(args: JoinArgs) -> anyhow::Result<ExitCode> {
    let link = conclave_room::JoinLink::parse(&read_link(args.link.as_deref())?)
        .context("the join link is unusable")?;
    let extra_ca = match &args.ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read the CA file {}", path.display()))?,
        ),
        None => None,
    };
    if conclave::client::tls::insecure_remote(&link.sfu.url) {
        eprintln!(
            "conclave: this link talks to its server unencrypted (ws://): the room PIN and \
             connection details cross the network in clear (media stays end-to-end encrypted)"
        );
    }
    let options = conclave::client::JoinOptions {
        link,
        name: args.name,
        send_audio: !args.mute.iter().any(|m| m == "audio"),
        send_video: !args.mute.iter().any(|m| m == "video"),
        camera: args.camera,
        mic: args.mic,
        speaker: args.speaker,
        voice: args.voice.settings(),
        video: conclave_media::VideoFormat {
            width: args.resolution.0,
            height: args.resolution.1,
            fps: args.fps,
        },
        video_bitrate_bps: args.bitrate,
        keyframe_interval: args.keyframe_interval,
        duration: args.duration,
        ice_ip: args.ice_address,
        ice_servers: ice_servers(&args.ice_servers, &args.turn_username),
        relay_only: args.relay_only,
        record_dir: args.record_dir,
        measure_audio_latency: args.measure_audio_latency,
        second_video_after: args.second_video_after,
        share: args.share,
        share_after: args.share_after.unwrap_or_default(),
        share_for: args.share_for,
        keep_share_pictures: args.keep_share_pictures,
        drop_after: args.drop_connection_after,
        pseudonym: args.pseudonym,
        extra_ca,
        // No join screen to wait on: in at once, strangers or not (its report says who is who).
        wait_outside: false,
        video_out: None,
        encoded_out: None,
        self_view: None,
        // A fresh identity per meeting: nothing is stored (the app offers a kept one).
        identity: conclave_group::Identity::generate().context("no randomness for an identity")?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let chat = args.chat_stdin;
    let stats = runtime.block_on(async move {
        if chat {
            conclave::client::chat_lines::run(conclave::client::Meeting::start(options)).await
        } else {
            conclave::client::join(options).await
        }
    });
    for w in &stats.warnings {
        eprintln!("conclave: {w}");
    }
    if let Some(e) = &stats.error {
        eprintln!("conclave: {e}");
    }
    let json = serde_json::to_string_pretty(&stats)?;
    match &args.stats_json {
        Some(path) => std::fs::write(path, json)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => println!("{json}"),
    }
    Ok(if stats.error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
