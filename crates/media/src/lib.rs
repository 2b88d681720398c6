//! Conclave's media: capture (cameras via `nokhwa`, microphones and speakers via `cpal`, and
//! synthetic stand-ins behind the same traits), pixel and sample-rate conversion, the H.264
//! (OpenH264) and Opus codecs, the microphone's clean-up (echo, noise, gain), and the audio jitter
//! buffer. FFI lives here and nowhere else.

mod audio_codec;
mod audio_device;
mod camera;
pub mod convert;
mod error;
mod frame;
pub mod jitter;
pub mod pattern;
pub mod realtime;
pub mod resample;
pub mod screen;
mod source;
pub mod speech;
pub mod synthetic;
mod video_codec;
mod voice;

pub use audio_codec::{AudioEncoderSettings, OpusDecoder, OpusEncoder};
pub use audio_device::{AudioDeviceInfo, Microphone, Speaker, microphones, speakers};
pub use camera::{Camera, CameraInfo, cameras};
pub use error::{CodecError, DeviceError};
pub use frame::{AudioFrame, SAMPLE_RATE, SAMPLES_PER_FRAME, VideoFrame, psnr, wall_clock_us};
pub use screen::{SHARE_FPS, ShareSource, ShareTarget, SyntheticScreen, share_sources};
pub use source::{AudioSink, AudioSource, Played, VideoFormat, VideoSource};
pub use video_codec::{EncodedVideo, H264Decoder, H264Encoder, ScreenMode, VideoEncoderSettings};
pub use voice::{VoiceProcessor, VoiceSettings};
