//! Real cameras through `nokhwa`: list them, open one at the nearest mode to what was asked,
//! convert its frames to I420, and report a camera that stops delivering as disconnected.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::time::Duration;

use nokhwa::Camera as NokhwaCamera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    Resolution,
};

use crate::convert::{self, PixelFormat};
use crate::error::DeviceError;
use crate::frame::{VideoFrame, wall_clock_us};
use crate::source::{VideoFormat, VideoSource};

const KIND: &str = "camera";

/// A camera as the user picks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CameraInfo {
    /// Display name.
    pub name: String,
    /// What [`Camera::open`] takes.
    pub index: u32,
}

/// Cameras present now (an empty list, not an error, when there are none).
pub fn cameras() -> Vec<CameraInfo> {
    nokhwa::query(ApiBackend::Auto)
        .map(|list| {
            list.into_iter()
                .filter_map(|c| {
                    let index = c.index().as_index().ok()?;
                    Some(CameraInfo {
                        name: c.human_name(),
                        index,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An open camera. `nokhwa` cameras must stay on the thread that opened them, so a capture thread
/// owns it and hands frames over; when the consumer lags, frames are dropped, not queued.
pub struct Camera {
    frames: Receiver<Result<VideoFrame, DeviceError>>,
    format: VideoFormat,
    _stop: SyncSender<()>,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Camera {
    /// Opens camera `index` at the supported mode closest to `wanted`.
    pub fn open(index: u32, wanted: VideoFormat) -> Result<Self, DeviceError> {
        let present = cameras();
        if !present.iter().any(|c| c.index == index) {
            return Err(DeviceError::NotFound {
                kind: KIND,
                // With no camera at all, which one was asked for does not matter.
                name: (!present.is_empty()).then(|| format!("#{index}")),
            });
        }
        let (ready_tx, ready) = mpsc::sync_channel(1);
        let (frames_tx, frames) = mpsc::sync_channel(2);
        let (stop, stopped) = mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("conclave-camera".into())
            .spawn(move || {
                let (mut inner, format, pixel_format) = match open_nokhwa(index, wanted) {
                    Ok(opened) => opened,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(format));
                while let Err(TryRecvError::Empty) = stopped.try_recv() {
                    let frame = inner
                        .frame()
                        .map_err(|e| DeviceError::Disconnected {
                            kind: KIND,
                            reason: e.to_string(),
                        })
                        .and_then(|buffer| {
                            let captured_us = wall_clock_us();
                            let res = buffer.resolution();
                            let mut frame = convert::to_i420(
                                pixel_format,
                                res.width() as usize,
                                res.height() as usize,
                                buffer.buffer(),
                            )?;
                            frame.captured_us = captured_us;
                            Ok(frame)
                        });
                    let failed = frame.is_err();
                    match frames_tx.try_send(frame) {
                        Err(TrySendError::Disconnected(_)) => break,
                        Ok(()) | Err(TrySendError::Full(_)) => {}
                    }
                    if failed {
                        break;
                    }
                }
                let _ = inner.stop_stream();
            })
            .map_err(|e| DeviceError::Open {
                kind: KIND,
                reason: e.to_string(),
            })?;
        let format =
            ready
                .recv_timeout(Duration::from_secs(10))
                .map_err(|_| DeviceError::Open {
                    kind: KIND,
                    reason: "the camera did not start within 10 seconds".into(),
                })??;
        Ok(Camera {
            frames,
            format,
            _stop: stop,
        })
    }
}

fn open_nokhwa(
    index: u32,
    wanted: VideoFormat,
) -> Result<(NokhwaCamera, VideoFormat, PixelFormat), DeviceError> {
    let request =
        RequestedFormat::new::<RgbFormat>(RequestedFormatType::Closest(CameraFormat::new(
            Resolution::new(wanted.width as u32, wanted.height as u32),
            FrameFormat::MJPEG,
            wanted.fps,
        )));
    let open = |e: nokhwa::NokhwaError| DeviceError::Open {
        kind: KIND,
        reason: e.to_string(),
    };
    let mut inner = NokhwaCamera::new(CameraIndex::Index(index), request).map_err(open)?;
    inner.open_stream().map_err(open)?;
    let got = inner.camera_format();
    let pixel_format = match got.format() {
        FrameFormat::MJPEG => PixelFormat::Mjpeg,
        FrameFormat::YUYV => PixelFormat::Yuyv,
        FrameFormat::NV12 => PixelFormat::Nv12,
        FrameFormat::GRAY => PixelFormat::Gray,
        FrameFormat::RAWRGB => PixelFormat::Rgb,
        FrameFormat::RAWBGR => PixelFormat::Bgr,
    };
    let format = VideoFormat {
        width: got.width() as usize & !1,
        height: got.height() as usize & !1,
        fps: got.frame_rate(),
    };
    Ok((inner, format, pixel_format))
}

impl VideoSource for Camera {
    fn format(&self) -> VideoFormat {
        self.format
    }

    fn next_frame(&mut self) -> Result<VideoFrame, DeviceError> {
        match self.frames.recv_timeout(Duration::from_secs(3)) {
            Ok(frame) => frame,
            Err(RecvTimeoutError::Timeout) => Err(DeviceError::Disconnected {
                kind: KIND,
                reason: "no picture for 3 seconds".into(),
            }),
            Err(RecvTimeoutError::Disconnected) => Err(DeviceError::Disconnected {
                kind: KIND,
                reason: "the capture thread ended".into(),
            }),
        }
    }
}
