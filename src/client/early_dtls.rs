//! Repeats DTLS datagrams that arrived before ICE had connected, once it has.
//!
//! Where the SFU answers our offer it takes the DTLS client's part, and sends its ClientHello as
//! soon as its own ICE side is done: right after it answered our nominating connectivity check.
//! When packets are reordered on the way (Wi-Fi, mobile links), that ClientHello can overtake
//! the check's answer. The `rtc` crate drops every non-STUN datagram that comes before its ICE
//! agent has chosen a pair, so the handshake then waits for the SFU's first retransmission,
//! a second later (measured: the publishing connection came up 1.2 s after ICE, not 0.2 s).
//!
//! The PeerConnection's runtime is wrapped so that its UDP socket keeps a copy of such datagrams
//! (at most [`MAX_COPIES`]) while the [`Gate`] is shut, and delivers the copies again, in order and
//! before anything newer, once the connection's ICE state says connected. Nothing is held back:
//! the datagrams themselves pass at once, as everything else does. Holding them back instead made
//! a hello that came just after the ICE answer wait for the gate (the connection's event handler
//! opens it after the answer is taken), and the CI's narrow-uplink meeting then failed in 4 of 12
//! runs (0 of 11 for the build before, 0 of 8 with the gate open from the start), a sender's
//! estimate falling to the floor; why that followed was not found.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    Transmit,
};

/// How many early datagrams are copied: a handshake flight and its repeats, not a flood.
pub const MAX_COPIES: usize = 32;

/// Shut until the connection's ICE has connected; then open for good.
#[derive(Default)]
pub struct Gate {
    /// When it opened: when ICE first connected.
    opened: OnceLock<Instant>,
    /// The receive loop that waits for datagrams, to be woken when the gate opens.
    waiting: Mutex<Option<Waker>>,
}

impl Gate {
    /// ICE has connected: the copies may go in. Only the first opening counts.
    pub fn open(&self) {
        let _ = self.opened.set(Instant::now());
        let waker = self
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// When ICE first connected, if it has.
    pub fn opened(&self) -> Option<Instant> {
        self.opened.get().copied()
    }

    fn is_open(&self) -> bool {
        self.opened.get().is_some()
    }

    fn wait(&self, waker: &Waker) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        match waiting.as_ref() {
            Some(w) if w.will_wake(waker) => {}
            _ => *waiting = Some(waker.clone()),
        }
    }
}

/// Whether `datagram` is DTLS (RFC 7983: a first byte of 20 to 63).
fn is_dtls(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(20..=63))
}

/// Whether every datagram of a (possibly coalesced) message is DTLS.
fn all_dtls(message: &[u8], stride: usize) -> bool {
    !message.is_empty() && message.chunks(stride.max(1)).all(is_dtls)
}

/// The runtime the PeerConnection would have used, with its UDP sockets wrapped.
pub struct GatedRuntime {
    inner: Arc<dyn Runtime>,
    gate: Arc<Gate>,
}

impl GatedRuntime {
    pub fn new(inner: Arc<dyn Runtime>, gate: Arc<Gate>) -> GatedRuntime {
        GatedRuntime { inner, gate }
    }
}

impl fmt::Debug for GatedRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatedRuntime")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Runtime for GatedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        Ok(Arc::new(GatedSocket {
            inner: self.inner.wrap_udp_socket(socket)?,
            gate: Arc::clone(&self.gate),
            copies: Mutex::new(VecDeque::new()),
            pending: AtomicBool::new(false),
        }))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

/// A UDP socket that delivers early DTLS datagrams again once its gate opens.
struct GatedSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    gate: Arc<Gate>,
    copies: Mutex<VecDeque<(Vec<u8>, RecvMeta)>>,
    /// Whether `copies` holds any: read on every receive, so that an open gate's receive takes
    /// no lock once they are delivered.
    pending: AtomicBool,
}

impl fmt::Debug for GatedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatedSocket")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl GatedSocket {
    fn copies(&self) -> std::sync::MutexGuard<'_, VecDeque<(Vec<u8>, RecvMeta)>> {
        self.copies.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves as many copies as fit into `bufs` and `meta`; how many.
    fn deliver_copies(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> usize {
        let mut copies = self.copies();
        let mut n = 0;
        while n < bufs.len().min(meta.len()) {
            let Some((datagram, m)) = copies.pop_front() else {
                break;
            };
            // The driver's buffers are all of one size, the one they were received into.
            let Some(buf) = bufs[n].get_mut(..datagram.len()) else {
                continue;
            };
            buf.copy_from_slice(&datagram);
            meta[n] = m;
            n += 1;
        }
        if copies.is_empty() {
            self.pending.store(false, Ordering::Release);
        }
        n
    }
}

impl AsyncUdpSocket for GatedSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        self.inner.poll_send(cx, transmit)
    }

    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        if !self.gate.is_open() {
            // Registered before looking again, so that an opening in between still wakes us.
            self.gate.wait(cx.waker());
        }
        if self.gate.is_open() {
            if self.pending.load(Ordering::Acquire) {
                let n = self.deliver_copies(bufs, meta);
                if n > 0 {
                    tracing::debug!(
                        datagrams = n,
                        "DTLS that came before ICE had connected delivered again"
                    );
                    return Poll::Ready(Ok(n));
                }
            }
            return self.inner.poll_recv(cx, bufs, meta);
        }
        let n = match self.inner.poll_recv(cx, bufs, meta) {
            Poll::Ready(Ok(n)) => n,
            other => return other,
        };
        // Passed on at once (if ICE has in fact connected, `rtc` takes it now; a gate opened a
        // moment after ICE must not hold anything up), and a copy kept for when it opens: a
        // repeat of a datagram `rtc` did take is dropped by DTLS's replay window.
        let mut copies = self.copies();
        for i in 0..n {
            let len = meta[i].len;
            if copies.len() < MAX_COPIES && all_dtls(&bufs[i][..len], meta[i].stride) {
                copies.push_back((bufs[i][..len].to_vec(), meta[i]));
                self.pending.store(true, Ordering::Release);
            }
        }
        Poll::Ready(Ok(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    /// A socket whose datagrams are given by the test, from one peer.
    #[derive(Debug, Default)]
    struct Fake {
        queue: Mutex<VecDeque<Vec<u8>>>,
    }

    impl AsyncUdpSocket for Fake {
        fn local_addr(&self) -> io::Result<SocketAddr> {
            Ok(SocketAddr::from(([127, 0, 0, 1], 1)))
        }
        fn poll_send(&self, _: &mut Context<'_>, t: &Transmit<'_>) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(t.contents.len()))
        }
        fn poll_recv(
            &self,
            _: &mut Context<'_>,
            bufs: &mut [IoSliceMut<'_>],
            meta: &mut [RecvMeta],
        ) -> Poll<io::Result<usize>> {
            let mut queue = self.queue.lock().unwrap();
            let mut n = 0;
            while n < bufs.len() {
                let Some(d) = queue.pop_front() else { break };
                bufs[n][..d.len()].copy_from_slice(&d);
                meta[n] = RecvMeta::default();
                meta[n].len = d.len();
                meta[n].stride = d.len();
                meta[n].addr = SocketAddr::from(([127, 0, 0, 2], 2));
                n += 1;
            }
            if n == 0 {
                Poll::Pending
            } else {
                Poll::Ready(Ok(n))
            }
        }
    }

    #[derive(Default)]
    struct Woken(AtomicBool);
    impl Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Reads what the socket gives now, three buffers at a time.
    fn read(socket: &GatedSocket, cx: &mut Context<'_>) -> Vec<Vec<u8>> {
        let mut store = [[0u8; 64]; 3];
        let mut meta = [RecvMeta::default(); 3];
        let [a, b, c] = &mut store;
        let mut bufs = [IoSliceMut::new(a), IoSliceMut::new(b), IoSliceMut::new(c)];
        match socket.poll_recv(cx, &mut bufs, &mut meta) {
            Poll::Ready(Ok(n)) => (0..n).map(|i| bufs[i][..meta[i].len].to_vec()).collect(),
            Poll::Ready(Err(e)) => panic!("{e}"),
            Poll::Pending => Vec::new(),
        }
    }

    const STUN: &[u8] = &[0x01, 0x01, 0, 0];
    const HELLO: &[u8] = &[22, 0xfe, 0xfd, 0, 1];
    const HELLO_AGAIN: &[u8] = &[22, 0xfe, 0xfd, 0, 2];
    const RTP: &[u8] = &[0x80, 96, 0, 1];

    #[test]
    fn dtls_before_ice_passes_and_comes_again_first_and_in_order_when_the_gate_opens() {
        let fake = Arc::new(Fake::default());
        let gate = Arc::new(Gate::default());
        let socket = GatedSocket {
            inner: Arc::clone(&fake) as Arc<dyn AsyncUdpSocket>,
            gate: Arc::clone(&gate),
            copies: Mutex::new(VecDeque::new()),
            pending: AtomicBool::new(false),
        };
        let woken = Arc::new(Woken::default());
        let waker = Waker::from(Arc::clone(&woken));
        let mut cx = Context::from_waker(&waker);

        // The ClientHello overtook the check's answer: everything passes (rtc drops the hellos
        // before its ICE has connected), and copies of the hellos are kept.
        let early = vec![HELLO.to_vec(), STUN.to_vec(), HELLO_AGAIN.to_vec()];
        fake.queue.lock().unwrap().extend(early.clone());
        assert_eq!(read(&socket, &mut cx), early);
        assert_eq!(read(&socket, &mut cx), Vec::<Vec<u8>>::new());
        assert!(!woken.0.load(Ordering::SeqCst));

        // ICE connected: the receive loop is woken, and the copies come before a newer datagram.
        fake.queue.lock().unwrap().push_back(RTP.to_vec());
        gate.open();
        assert!(woken.0.load(Ordering::SeqCst));
        assert_eq!(
            read(&socket, &mut cx),
            vec![HELLO.to_vec(), HELLO_AGAIN.to_vec()]
        );
        assert_eq!(read(&socket, &mut cx), vec![RTP.to_vec()]);
        // Open for good: DTLS now passes at once.
        fake.queue.lock().unwrap().push_back(HELLO.to_vec());
        assert_eq!(read(&socket, &mut cx), vec![HELLO.to_vec()]);
    }

    #[test]
    fn no_more_than_a_flight_is_kept() {
        let fake = Arc::new(Fake::default());
        let socket = GatedSocket {
            inner: Arc::clone(&fake) as Arc<dyn AsyncUdpSocket>,
            gate: Arc::new(Gate::default()),
            copies: Mutex::new(VecDeque::new()),
            pending: AtomicBool::new(false),
        };
        let waker = Waker::from(Arc::new(Woken::default()));
        let mut cx = Context::from_waker(&waker);
        fake.queue
            .lock()
            .unwrap()
            .extend(std::iter::repeat_n(HELLO.to_vec(), MAX_COPIES + 2));
        let mut passed = 0;
        for _ in 0..MAX_COPIES {
            passed += read(&socket, &mut cx).len();
        }
        assert_eq!(passed, MAX_COPIES + 2);
        assert_eq!(socket.copies().len(), MAX_COPIES);
    }

    #[test]
    fn a_coalesced_message_is_copied_only_if_all_of_it_is_dtls() {
        assert!(all_dtls(&[HELLO, HELLO].concat(), HELLO.len()));
        assert!(!all_dtls(&[HELLO, &[0, 1, 0, 0, 0]].concat(), HELLO.len()));
        assert!(!all_dtls(&[], 1));
        assert!(!is_dtls(STUN) && !is_dtls(RTP) && is_dtls(HELLO));
    }
}
