//! Real-time scheduling for the threads that carry sound, so that a busy machine (a build, a
//! browser) does not starve them into gaps: first the way desktops grant it to a user's program
//! (`audio_thread_priority`: RealtimeKit over D-Bus on Linux, MMCSS on Windows, a time-constraint
//! policy on macOS), then, on Linux, directly (`thread-priority`: SCHED_FIFO, for a user allowed
//! real-time priority by RLIMIT_RTPRIO, or root). Where neither is allowed the thread runs as
//! before, and the meeting goes on.

use crate::frame::{SAMPLE_RATE, SAMPLES_PER_FRAME};

/// How the calling thread now runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduling {
    /// Real-time, granted by the desktop (RealtimeKit, MMCSS, Mach).
    Granted,
    /// Real-time, set directly (SCHED_FIFO).
    Direct,
    /// As before: real-time was not allowed.
    Normal,
}

/// The real-time priority asked for directly: what `audio_thread_priority` asks of RealtimeKit.
#[cfg(target_os = "linux")]
const DIRECT_PRIORITY: u8 = 10;

/// Asks for real-time scheduling for the calling thread, which handles 20 ms of audio at a time.
/// Keeps it for the thread's life.
pub fn promote_audio_thread() -> Scheduling {
    let frames = u32::try_from(SAMPLES_PER_FRAME).unwrap_or(960);
    match audio_thread_priority::promote_current_thread_to_real_time(frames, SAMPLE_RATE) {
        // The handle would only serve to demote it again: the thread keeps it until it ends.
        Ok(_) => return Scheduling::Granted,
        Err(e) => tracing::debug!(error = %e, "no real-time priority from the desktop"),
    }
    direct()
}

#[cfg(target_os = "linux")]
fn direct() -> Scheduling {
    use thread_priority::{
        RealtimeThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
    };
    let Ok(value) = ThreadPriorityValue::try_from(DIRECT_PRIORITY) else {
        return Scheduling::Normal;
    };
    match thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Crossplatform(value),
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    ) {
        Ok(()) => Scheduling::Direct,
        Err(e) => {
            tracing::debug!(error = ?e, "no real-time priority; audio runs at normal priority");
            Scheduling::Normal
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn direct() -> Scheduling {
    Scheduling::Normal
}

/// Real-time priority, set directly, for every other thread of this process named `name`: the
/// threads a sound library starts for a stream (cpal's PulseAudio host drives each stream and
/// polls its latency from threads of its own, which carry the name of the thread that opened
/// it). Our stream callback waits on a lock such a thread holds; left at normal priority, a busy
/// machine made it wait 10–20 ms for it now and then, long enough for the sound server to run
/// out (tests/pulseaudio_loopback.rs). How many were promoted; none where the system refuses.
#[cfg(target_os = "linux")]
pub fn promote_threads_named(name: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let param = libc::sched_param {
        sched_priority: i32::from(DIRECT_PRIORITY),
    };
    let mut promoted = 0;
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        // SAFETY: a plain system call on a thread of this process, with a parameter that lives
        // through it; a thread that has ended meanwhile makes it fail, nothing more.
        #[allow(unsafe_code)]
        let set = unsafe { libc::sched_setscheduler(tid, libc::SCHED_FIFO, &param) };
        if set == 0 {
            promoted += 1;
        }
    }
    promoted
}

/// Nothing to do elsewhere: the sound systems there run their own threads at real-time priority.
#[cfg(not(target_os = "linux"))]
pub fn promote_threads_named(_name: &str) -> usize {
    0
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use thread_priority::{RealtimeThreadSchedulePolicy, ThreadSchedulePolicy};

    #[test]
    fn a_thread_runs_as_it_was_told() {
        // Root (the tests' machine) may set it directly; a user without RealtimeKit or
        // RLIMIT_RTPRIO gets normal priority. Either way the thread goes on, and says which.
        let (got, policy) = std::thread::spawn(|| {
            let got = promote_audio_thread();
            (got, thread_priority::thread_schedule_policy().unwrap())
        })
        .join()
        .unwrap();
        let fifo = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo);
        match got {
            Scheduling::Direct => assert_eq!(policy, fifo),
            Scheduling::Normal => assert!(matches!(policy, ThreadSchedulePolicy::Normal(_))),
            // RealtimeKit sets SCHED_RR.
            Scheduling::Granted => assert!(matches!(policy, ThreadSchedulePolicy::Realtime(_))),
        }
        // The test's own thread was left alone.
        assert!(matches!(
            thread_priority::thread_schedule_policy().unwrap(),
            ThreadSchedulePolicy::Normal(_)
        ));
    }
}
