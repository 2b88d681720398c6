//! The key-agreement state machine of one participant in one meeting, sans-IO: participant ids,
//! received bytes and time go in; bytes to broadcast and [`GroupEvent`]s come out.
//!
//! - With every other participant it runs one handshake ([`crate::handshake`]); the one with the
//!   lower id initiates. Lost messages are resent until answered.
//! - Its own SFrame sender key is random. When participants join, it ratchets the key (RFC 9605
//!   §5.1) and gives the newcomers only the ratcheted one; when someone who held a key leaves,
//!   it draws a fresh key, hands it to everyone left and switches after a short grace period.
//!   Bursts of joins and leaves are debounced into one change. Each change asks for a keyframe.
//! - Keys are resent until acknowledged.
//! - The group code covers this participant and every peer whose handshake has been confirmed.
//!   Each change of that membership starts a commit-and-reveal round (docs/PROTOCOL.md §7):
//!   every member commits to a fresh nonce, reveals it only once every member's commitment has
//!   arrived, and the code is computed from all identities and nonces. Until the round completes
//!   the code is unsettled (`None`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use conclave_e2ee::{BaseKey, CipherSuite};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::{GroupError, SetupError};
use crate::handshake::{Initiating, Open, Psk, Responding};
use crate::identity::Identity;
use crate::verify::{GroupCode, commitment, safety_number, view_of};
use crate::wire::{Body, Inner, Message};

/// How often unanswered handshake and key messages are resent.
pub const RETRY: Duration = Duration::from_millis(300);
/// How long a handshake may take before the peer is shown as unverified (it takes three
/// one-way trips, each message resent every [`RETRY`]; someone without the room secret never
/// answers a message 1 at all).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(8);
/// How long the initiator waits, after its last handshake message, for the responder to prove
/// the channel; a responder without the room secret never does.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(4);
/// After a failed handshake, when to try again (the peer may have been slow, not hostile).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
/// Quiet time after a join or leave before the key changes, so a burst changes it once.
pub const DEBOUNCE: Duration = Duration::from_millis(150);
/// Longest a burst may postpone a key change.
pub const MAX_DEBOUNCE: Duration = Duration::from_secs(1);
/// After a leave, how long receivers get to learn the fresh key before it is used (unless all
/// acknowledge it sooner).
pub const GRACE: Duration = Duration::from_millis(500);
/// Length of a fresh sender base key.
pub const BASE_KEY_LEN: usize = 32;
/// Longest wait between resends of a group-code round's messages to a member that has not
/// answered (its view of the membership may differ from ours for a while, or for good).
pub const CODE_RETRY_MAX: Duration = Duration::from_secs(5);
/// Resends of a group-code round at the full rate ([`RETRY`]) before backing off.
const CODE_RETRIES_AT_FULL_RATE: u32 = 10;
/// A ratchet step count past which a fresh generation is drawn instead (the KID keeps 8 bits
/// of step; receivers tolerate a wrap of 2^8 − 2).
const MAX_STEP: u64 = 200;

/// What the caller must act on.
#[derive(Debug)]
pub enum GroupEvent {
    /// Encrypt from now on under this key (a new generation, or the next ratchet step of the
    /// current one), and send a keyframe.
    SendKey {
        /// Key generation.
        generation: u64,
        /// Ratchet step within the generation.
        step: u64,
        /// The base key.
        key: BaseKey,
    },
    /// Decrypt `peer`'s frames with this key as well.
    PeerKey {
        /// Whose key.
        peer: u64,
        /// Key generation.
        generation: u64,
        /// Ratchet step within the generation.
        step: u64,
        /// The base key.
        key: BaseKey,
        /// Their public key for signing frames (`conclave_e2ee::attest`), proven theirs by the
        /// channel it came on.
        signer: [u8; 32],
    },
    /// `peer` proved it holds the room secret and its identity key.
    PeerVerified {
        /// Who.
        peer: u64,
        /// Their identity key, proven by the handshake.
        identity: [u8; 32],
        /// What both can compare out of band.
        safety_number: String,
    },
    /// The handshake with `peer` failed: it stays unverified and gets no keys.
    PeerUnverified {
        /// Who.
        peer: u64,
        /// Why, for the user.
        reason: &'static str,
    },
    /// A private message from `peer`, authenticated by its channel: only it can have sent it,
    /// only we can read it.
    Private {
        /// From whom.
        peer: u64,
        /// Its bytes (to be checked as text by the caller).
        text: Vec<u8>,
    },
    /// The group code changed: `None` while the members agree on it after a change of
    /// membership (nothing to compare yet), then the settled code.
    GroupCode(Option<GroupCode>),
}

/// Counters for stats and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Messages handed to the caller to broadcast.
    pub messages_sent: u64,
    /// Messages addressed to us and accepted.
    pub messages_accepted: u64,
    /// Messages refused (malformed, unauthentic, spoofed, failed handshakes).
    pub messages_refused: u64,
    /// Changes of our own sending key.
    pub key_changes: u64,
}

/// Where the channel with one peer stands.
enum Channel {
    /// We wait for their message 1 (they initiate), since `since`.
    Waiting,
    Initiating(Initiating),
    Responding(Responding),
    /// Open; `confirmed` once they have proven the channel (a sealed message, or message 3).
    Open {
        open: Box<Open>,
        /// The initiator keeps message 3 to answer a repeated message 2.
        message3: Option<Vec<u8>>,
        confirmed: bool,
    },
    /// Failed; retried at `retry_at`.
    Failed {
        retry_at: Instant,
    },
}

/// A sender key on its way to one peer.
struct Outgoing {
    generation: u64,
    step: u64,
    key: Zeroizing<Vec<u8>>,
    next_send: Instant,
}

struct Peer {
    channel: Channel,
    /// When the current handshake began (for the timeout).
    since: Instant,
    /// When to resend the pending handshake message.
    next_retry: Instant,
    /// Our key waiting for their acknowledgement.
    outgoing: Option<Outgoing>,
    /// Whether they ever received a key of ours (then their leaving calls for a fresh key).
    keyed: bool,
    /// The initiator started over while our channel with them is open (its side gave up on
    /// us, e.g. when the SFU held our messages back): the new handshake, answered alongside the
    /// open channel, which it replaces only once it completes — so a stranger's message 1 can
    /// never tear the channel down. With when it began.
    again: Option<(Box<Responding>, Instant)>,
    /// When we last answered a new message 1 of theirs: answering costs three X25519
    /// operations, so a flood of distinct ones is answered at most once per [`RETRY`].
    answered: Option<Instant>,
}

/// Our sending key at one (generation, step).
struct SendState {
    generation: u64,
    step: u64,
    key: BaseKey,
}

/// A fresh key handed out but not used yet.
struct Pending {
    state: SendState,
    switch_at: Instant,
    awaiting: BTreeSet<u64>,
}

/// A debounced key change.
struct Plan {
    due: Instant,
    latest: Instant,
    fresh: bool,
    newcomers: BTreeSet<u64>,
}

/// The commit-and-reveal round of the group code for one membership.
struct Round {
    /// Hash of the membership (every member's identity key, ours included).
    view: [u8; 32],
    /// The other members and their identity keys.
    members: BTreeMap<u64, [u8; 32]>,
    nonce: Zeroizing<[u8; 32]>,
    commitment: [u8; 32],
    commits: BTreeMap<u64, [u8; 32]>,
    reveals: BTreeMap<u64, [u8; 32]>,
    /// Whether we have revealed our nonce (only after every member's commitment arrived).
    revealed: bool,
    /// Members who repeated their commitment: they miss something of ours.
    asked: BTreeSet<u64>,
    next_send: Instant,
    backoff: Duration,
    resends: u32,
}

impl Round {
    fn complete(&self) -> bool {
        self.reveals.len() == self.members.len()
    }
}

/// A member's round message for a view other than ours (theirs may be ahead), kept until ours
/// catches up: the latest per member.
struct Early {
    view: [u8; 32],
    commitment: [u8; 32],
    nonce: Option<[u8; 32]>,
}

/// One participant's key agreement in one meeting.
pub struct Group {
    me: u64,
    identity: Identity,
    psk: Psk,
    suite: CipherSuite,
    peers: BTreeMap<u64, Peer>,
    current: SendState,
    pending: Option<Pending>,
    plan: Option<Plan>,
    code: Option<GroupCode>,
    /// Our public key for signing frames, handed over with our sender key.
    signer: [u8; 32],
    round: Option<Round>,
    early: BTreeMap<u64, Early>,
    /// A verification changed while its peer was out of `peers`: recompute the code.
    code_stale: bool,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<GroupEvent>,
    stats: GroupStats,
    rng: SystemRandom,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("me", &self.me)
            .field("peers", &self.peers.keys().collect::<Vec<_>>())
            .field("generation", &self.current.generation)
            .field("step", &self.current.step)
            .finish_non_exhaustive()
    }
}

impl Group {
    /// Starts key agreement as participant `me`; the first event is our first [`GroupEvent::SendKey`].
    pub fn new(
        me: u64,
        identity: Identity,
        psk: Psk,
        suite: CipherSuite,
    ) -> Result<Group, SetupError> {
        let rng = SystemRandom::new();
        let key = random_key(&rng)?;
        let mut group = Group {
            me,
            identity,
            psk,
            suite,
            peers: BTreeMap::new(),
            current: SendState {
                generation: 1,
                step: 0,
                key,
            },
            pending: None,
            plan: None,
            code: None,
            signer: [0; 32],
            round: None,
            early: BTreeMap::new(),
            code_stale: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: GroupStats::default(),
            rng,
        };
        group.emit_send_key();
        group.update_code(Instant::now());
        Ok(group)
    }

    /// The public key we sign our frames with (`conclave_e2ee::attest`), handed to every peer
    /// with our sender key.
    pub fn set_signer(&mut self, public: [u8; 32]) {
        self.signer = public;
    }

    /// Seals `text` (at most [`crate::wire::MAX_PRIVATE_LEN`] bytes) to `peer` alone, on our
    /// channel with them; `false` if they are not verified (no channel to seal it on) or it is
    /// too long. Like every message it may be lost on the way: it is not resent.
    pub fn send_private(&mut self, peer: u64, text: &[u8]) -> bool {
        if text.is_empty() || text.len() > crate::wire::MAX_PRIVATE_LEN || !self.is_verified(peer) {
            return false;
        }
        let inner = Inner::Private(text.to_vec());
        self.with_peer(peer, |this, p| this.seal_to(peer, p, &inner))
            .is_some()
    }

    /// Our participant id.
    pub fn id(&self) -> u64 {
        self.me
    }

    /// Our identity key.
    pub fn identity(&self) -> &[u8; 32] {
        self.identity.public()
    }

    /// The current group code; `None` while the members agree on a new one.
    pub fn group_code(&self) -> Option<GroupCode> {
        self.code.clone()
    }

    /// Whether `peer`'s handshake is confirmed.
    pub fn is_verified(&self, peer: u64) -> bool {
        self.peers.get(&peer).is_some_and(|p| {
            matches!(
                p.channel,
                Channel::Open {
                    confirmed: true,
                    ..
                }
            )
        })
    }

    /// Counters.
    pub fn stats(&self) -> GroupStats {
        self.stats
    }

    /// The next message to broadcast on our data channel.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event to act on.
    pub fn poll_event(&mut self) -> Option<GroupEvent> {
        self.events.pop_front()
    }

    /// When [`Group::handle_timeout`] wants to be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let peers = self.peers.values().flat_map(|p| {
            let handshake = match &p.channel {
                Channel::Initiating(_) | Channel::Responding(_) => {
                    Some(p.next_retry.min(p.since + HANDSHAKE_TIMEOUT))
                }
                Channel::Waiting => Some(p.since + HANDSHAKE_TIMEOUT),
                Channel::Open {
                    confirmed: false, ..
                } => Some(p.since + CONFIRM_TIMEOUT),
                Channel::Failed { retry_at } => Some(*retry_at),
                Channel::Open { .. } => None,
            };
            [handshake, p.outgoing.as_ref().map(|o| o.next_send)]
        });
        peers
            .chain([
                self.plan.as_ref().map(|p| p.due),
                self.pending.as_ref().map(|p| p.switch_at),
                self.round
                    .as_ref()
                    .filter(|r| !r.complete() || !r.asked.is_empty())
                    .map(|r| r.next_send),
            ])
            .flatten()
            .min()
    }

    /// A participant appeared at the SFU.
    pub fn peer_joined(&mut self, peer: u64, now: Instant) {
        if peer == self.me || self.peers.contains_key(&peer) {
            return;
        }
        let mut p = Peer {
            channel: Channel::Waiting,
            since: now,
            next_retry: now,
            outgoing: None,
            keyed: false,
            again: None,
            answered: None,
        };
        if self.me < peer {
            self.initiate(peer, &mut p, now);
        }
        self.peers.insert(peer, p);
    }

    /// Draws a fresh sending key for everyone verified now (after the usual debounce): what was
    /// sent under the old key stays readable only by those who had it, and nobody who left
    /// unnoticed can read what follows.
    pub fn rekey(&mut self, now: Instant) {
        self.schedule(now, true, None);
    }

    /// A participant left the SFU (or was dropped).
    pub fn peer_left(&mut self, peer: u64, now: Instant) {
        let Some(p) = self.peers.remove(&peer) else {
            return;
        };
        if let Some(plan) = &mut self.plan {
            plan.newcomers.remove(&peer);
        }
        if let Some(pending) = &mut self.pending {
            pending.awaiting.remove(&peer);
        }
        if p.keyed {
            self.schedule(now, true, None);
        }
        self.early.remove(&peer);
        self.update_code(now);
    }

    /// Bytes that arrived on `from`'s data channel. Messages for others are ignored (`Ok`).
    pub fn receive(&mut self, from: u64, bytes: &[u8], now: Instant) -> Result<(), GroupError> {
        let result = self.receive_inner(from, bytes, now);
        if self.code_stale {
            self.update_code(now);
        }
        // A commitment or nonce may have completed the round (with every peer back in `peers`,
        // so that our nonce reaches the one whose message completed it too).
        self.advance_round();
        if self.pending.as_ref().is_some_and(|p| p.awaiting.is_empty()) {
            // Everyone has the fresh key: no need to wait out the grace period.
            self.switch_to_pending();
        }
        match &result {
            Ok(true) => self.stats.messages_accepted += 1,
            Ok(false) => {}
            Err(_) => self.stats.messages_refused += 1,
        }
        result.map(|_| ())
    }

    fn receive_inner(&mut self, from: u64, bytes: &[u8], now: Instant) -> Result<bool, GroupError> {
        let message = Message::decode(bytes)?;
        if message.from != from {
            return Err(GroupError::Spoofed);
        }
        if message.to != self.me || from == self.me {
            return Ok(false);
        }
        if !self.peers.contains_key(&from) {
            // Their message may overtake the SFU's news of them.
            self.peer_joined(from, now);
        }
        match message.body {
            Body::Handshake { step, noise } => self.on_handshake(from, step, &noise, now)?,
            Body::Sealed { nonce, ciphertext } => self.on_sealed(from, nonce, &ciphertext, now)?,
        }
        Ok(true)
    }

    /// Resends, times out, switches keys: whatever is due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<u64> = self.peers.keys().copied().collect();
        for id in ids {
            self.with_peer(id, |this, p| this.peer_timers(id, p, now));
        }
        if self.plan.as_ref().is_some_and(|p| p.due <= now) {
            let plan = self.plan.take().expect("checked");
            self.execute(plan, now);
        }
        if let Some(pending) = &self.pending
            && (pending.switch_at <= now || pending.awaiting.is_empty())
        {
            self.switch_to_pending();
        }
        if self.code_stale {
            self.update_code(now);
        }
        self.resend_round(now);
    }

    fn peer_timers(&mut self, id: u64, p: &mut Peer, now: Instant) {
        if p.again
            .as_ref()
            .is_some_and(|(_, since)| now >= *since + HANDSHAKE_TIMEOUT)
        {
            p.again = None;
        }
        let limit = match p.channel {
            Channel::Open { .. } => CONFIRM_TIMEOUT,
            _ => HANDSHAKE_TIMEOUT,
        };
        let timed_out = now >= p.since + limit;
        match &p.channel {
            Channel::Failed { retry_at } if *retry_at <= now => {
                p.channel = Channel::Waiting;
                p.since = now;
                if self.me < id {
                    self.initiate(id, p, now);
                }
            }
            Channel::Waiting
            | Channel::Initiating(_)
            | Channel::Responding(_)
            | Channel::Open {
                confirmed: false, ..
            } if timed_out => {
                self.fail(id, p, now, "no answer to the handshake in time");
            }
            Channel::Initiating(i) if p.next_retry <= now => {
                let m = i.message1.clone();
                self.send(id, Body::Handshake { step: 1, noise: m });
                p.next_retry = now + RETRY;
            }
            Channel::Responding(r) if p.next_retry <= now => {
                let m = r.message2.clone();
                self.send(id, Body::Handshake { step: 2, noise: m });
                p.next_retry = now + RETRY;
            }
            _ => {}
        }
        if p.outgoing.as_ref().is_some_and(|o| o.next_send <= now) {
            self.send_outgoing(id, p, now);
        }
    }

    fn initiate(&mut self, peer: u64, p: &mut Peer, now: Instant) {
        match Initiating::start(&self.identity, &self.psk, self.me, peer, None) {
            Ok(i) => {
                self.send(
                    peer,
                    Body::Handshake {
                        step: 1,
                        noise: i.message1.clone(),
                    },
                );
                p.channel = Channel::Initiating(i);
                p.next_retry = now + RETRY;
            }
            Err(_) => self.fail(peer, p, now, "the handshake could not start"),
        }
    }

    fn fail(&mut self, peer: u64, p: &mut Peer, now: Instant, reason: &'static str) {
        let was_confirmed = matches!(
            p.channel,
            Channel::Open {
                confirmed: true,
                ..
            }
        );
        p.channel = Channel::Failed {
            retry_at: now + RETRY_AFTER_FAILURE,
        };
        p.outgoing = None;
        self.events
            .push_back(GroupEvent::PeerUnverified { peer, reason });
        if was_confirmed {
            self.code_stale = true;
        }
    }

    /// Runs `f` on peer `id` taken out of the map, so that `f` may also use `self`.
    fn with_peer<T>(&mut self, id: u64, f: impl FnOnce(&mut Self, &mut Peer) -> T) -> Option<T> {
        let mut p = self.peers.remove(&id)?;
        let result = f(self, &mut p);
        self.peers.insert(id, p);
        Some(result)
    }

    fn on_handshake(
        &mut self,
        from: u64,
        step: u8,
        noise: &[u8],
        now: Instant,
    ) -> Result<(), GroupError> {
        self.with_peer(from, |this, p| {
            this.on_handshake_for(from, p, step, noise, now)
        })
        .unwrap_or(Err(GroupError::Unexpected(from)))
    }

    fn on_handshake_for(
        &mut self,
        from: u64,
        p: &mut Peer,
        step: u8,
        noise: &[u8],
        now: Instant,
    ) -> Result<(), GroupError> {
        let initiator = from < self.me;
        // A new message 1 (not a repeat of the one answered) so soon after the last: not worth
        // three X25519 operations — the honest initiator repeats its message, it does not vary it.
        let repeat = match (&p.channel, &p.again) {
            (Channel::Responding(r), _) => r.message1 == noise,
            (Channel::Open { .. }, Some((r, _))) => r.message1 == noise,
            _ => false,
        };
        if step == 1 && initiator && !repeat && p.answered.is_some_and(|t| now < t + RETRY) {
            return Err(GroupError::Unexpected(from));
        }
        match (step, std::mem::replace(&mut p.channel, Channel::Waiting)) {
            // Message 1 from the lower id: answer it (again, if it is a retransmission).
            (1, channel) if initiator => match channel {
                Channel::Responding(r) if r.message1 == noise => {
                    self.send(
                        from,
                        Body::Handshake {
                            step: 2,
                            noise: r.message2.clone(),
                        },
                    );
                    p.channel = Channel::Responding(r);
                }
                // An established channel is never torn down by a message 1: the new handshake is
                // answered beside it, and replaces it only once it proves itself (message 3).
                open @ Channel::Open { .. } => {
                    p.channel = open;
                    let repeat = p.again.as_ref().filter(|(r, _)| r.message1 == noise);
                    let message2 = match repeat {
                        Some((r, _)) => r.message2.clone(),
                        None => {
                            let r = Responding::answer(
                                &self.identity,
                                &self.psk,
                                self.me,
                                from,
                                noise,
                                None,
                            )?;
                            let message2 = r.message2.clone();
                            p.again = Some((Box::new(r), now));
                            p.answered = Some(now);
                            message2
                        }
                    };
                    self.send(
                        from,
                        Body::Handshake {
                            step: 2,
                            noise: message2,
                        },
                    );
                }
                previous => {
                    match Responding::answer(&self.identity, &self.psk, self.me, from, noise, None)
                    {
                        Ok(r) => {
                            p.answered = Some(now);
                            if !matches!(previous, Channel::Responding(_)) {
                                p.since = now;
                            }
                            self.send(
                                from,
                                Body::Handshake {
                                    step: 2,
                                    noise: r.message2.clone(),
                                },
                            );
                            p.channel = Channel::Responding(r);
                            p.next_retry = now + RETRY;
                        }
                        // A message 1 that does not verify under the room's key: they hold
                        // another secret (or the message was altered). Said at once, rather
                        // than after a timeout; their real message 1, should one follow, is
                        // still answered.
                        Err(e) => {
                            p.channel = previous;
                            if !matches!(p.channel, Channel::Failed { .. }) {
                                self.fail(
                                    from,
                                    p,
                                    now,
                                    "they do not hold this room's secret, or someone altered the handshake",
                                );
                            }
                            return Err(e);
                        }
                    }
                }
            },
            (2, Channel::Initiating(i)) if !initiator => match i.finish(from, noise) {
                Ok((open, message3)) => {
                    self.send(
                        from,
                        Body::Handshake {
                            step: 3,
                            noise: message3.clone(),
                        },
                    );
                    p.channel = Channel::Open {
                        open: Box::new(open),
                        message3: Some(message3),
                        confirmed: false,
                    };
                    p.since = now;
                    // Not a member yet: only their first sealed message proves they hold the
                    // room secret (the PSK enters with message 3). A stranger's message 2 must
                    // not change keys or ask for keyframes.
                }
                Err(e) => {
                    self.fail(from, p, now, "the handshake did not verify");
                    return Err(e);
                }
            },
            // Our message 3 was lost: they repeat message 2.
            (
                2,
                Channel::Open {
                    open,
                    message3: Some(m3),
                    confirmed,
                },
            ) => {
                self.send(
                    from,
                    Body::Handshake {
                        step: 3,
                        noise: m3.clone(),
                    },
                );
                p.channel = Channel::Open {
                    open,
                    message3: Some(m3),
                    confirmed,
                };
            }
            // Message 3 of a handshake started again beside an open channel: it replaces it.
            (3, open @ Channel::Open { .. }) if initiator && p.again.is_some() => {
                let Some((r, _)) = p.again.take() else {
                    p.channel = open;
                    return Err(GroupError::Unexpected(from));
                };
                match r.finish(from, noise) {
                    Ok(fresh) => {
                        p.channel = Channel::Open {
                            open: Box::new(fresh),
                            message3: None,
                            confirmed: false,
                        };
                        p.outgoing = None;
                        p.since = now;
                        self.confirm(from, p, now);
                    }
                    Err(e) => {
                        p.channel = open;
                        return Err(e);
                    }
                }
            }
            (3, Channel::Responding(r)) if initiator => match r.finish(from, noise) {
                Ok(open) => {
                    p.channel = Channel::Open {
                        open: Box::new(open),
                        message3: None,
                        confirmed: false,
                    };
                    self.confirm(from, p, now);
                }
                Err(e) => {
                    self.fail(
                        from,
                        p,
                        now,
                        "they do not hold this room's secret, or someone altered the handshake",
                    );
                    return Err(e);
                }
            },
            (_, channel) => {
                p.channel = channel;
                return Err(GroupError::Unexpected(from));
            }
        }
        Ok(())
    }

    /// They proved the channel: verified, and a member (they get our key at the next change).
    fn confirm(&mut self, peer: u64, p: &mut Peer, now: Instant) {
        if let Channel::Open {
            open, confirmed, ..
        } = &mut p.channel
            && !*confirmed
        {
            *confirmed = true;
            let safety = safety_number(self.identity.public(), open.remote_identity());
            self.events.push_back(GroupEvent::PeerVerified {
                peer,
                identity: *open.remote_identity(),
                safety_number: safety,
            });
            self.code_stale = true;
            self.joined(peer, now);
        }
    }

    fn on_sealed(
        &mut self,
        from: u64,
        nonce: u64,
        ciphertext: &[u8],
        now: Instant,
    ) -> Result<(), GroupError> {
        self.with_peer(from, |this, p| {
            this.on_sealed_for(from, p, nonce, ciphertext, now)
        })
        .unwrap_or(Err(GroupError::NoChannel(from)))
    }

    fn on_sealed_for(
        &mut self,
        from: u64,
        p: &mut Peer,
        nonce: u64,
        ciphertext: &[u8],
        now: Instant,
    ) -> Result<(), GroupError> {
        let Channel::Open { open, .. } = &mut p.channel else {
            return Err(GroupError::NoChannel(from));
        };
        let plain = open.open(from, nonce, ciphertext)?;
        let inner = Inner::decode(&plain)?;
        self.confirm(from, p, now);
        match inner {
            Inner::SenderKey {
                generation,
                step,
                key,
                signer,
            } => {
                let key = BaseKey::new(key.to_vec()).map_err(|_| GroupError::StaleKey(from))?;
                self.events.push_back(GroupEvent::PeerKey {
                    peer: from,
                    generation,
                    step,
                    key,
                    signer,
                });
                self.seal_to(from, p, &Inner::KeyAck { generation, step });
            }
            Inner::CodeCommit { view, commitment } => self.on_commit(from, view, commitment)?,
            Inner::Private(text) => self
                .events
                .push_back(GroupEvent::Private { peer: from, text }),
            Inner::CodeReveal { view, nonce } => self.on_reveal(from, view, nonce)?,
            Inner::KeyAck { generation, step } => {
                if p.outgoing
                    .as_ref()
                    .is_some_and(|o| o.generation == generation && o.step == step)
                {
                    p.outgoing = None;
                    p.keyed = true;
                    if let Some(pending) = &mut self.pending
                        && pending.state.generation == generation
                    {
                        pending.awaiting.remove(&from);
                    }
                }
            }
        }
        Ok(())
    }

    /// A channel opened: the peer gets our key at the next debounced change.
    fn joined(&mut self, peer: u64, now: Instant) {
        self.schedule(now, false, Some(peer));
    }

    fn schedule(&mut self, now: Instant, fresh: bool, newcomer: Option<u64>) {
        let plan = self.plan.get_or_insert_with(|| Plan {
            due: now + DEBOUNCE,
            latest: now + MAX_DEBOUNCE,
            fresh: false,
            newcomers: BTreeSet::new(),
        });
        plan.due = (now + DEBOUNCE).min(plan.latest);
        plan.fresh |= fresh;
        plan.newcomers.extend(newcomer);
    }

    fn execute(&mut self, plan: Plan, now: Instant) {
        // Members are those who proved the room secret; keys go to nobody else.
        let members: Vec<u64> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                matches!(
                    p.channel,
                    Channel::Open {
                        confirmed: true,
                        ..
                    }
                )
            })
            .map(|(id, _)| *id)
            .collect();
        let newcomers: Vec<u64> = plan
            .newcomers
            .iter()
            .copied()
            .filter(|id| members.contains(id))
            .collect();
        let basis = self.pending.as_ref().map_or(&self.current, |p| &p.state);
        let fresh = plan.fresh || basis.step >= MAX_STEP;
        if fresh {
            let Ok(key) = random_key(&self.rng) else {
                return;
            };
            let state = SendState {
                generation: basis.generation + 1,
                step: 0,
                key,
            };
            for id in &members {
                self.give_key(*id, &state, now);
            }
            self.pending = Some(Pending {
                state,
                switch_at: now + GRACE,
                awaiting: members.iter().copied().collect(),
            });
            if members.is_empty() {
                self.switch_to_pending();
            }
        } else if !newcomers.is_empty() {
            // Everyone holding the key can follow the ratchet; newcomers get only the new step.
            let next = |s: &SendState, suite| SendState {
                generation: s.generation,
                step: s.step + 1,
                key: s.key.ratchet(suite),
            };
            if let Some(pending) = &mut self.pending {
                pending.state = next(&pending.state, self.suite);
                pending.awaiting.extend(newcomers.iter().copied());
                let state = SendState {
                    generation: pending.state.generation,
                    step: pending.state.step,
                    key: pending.state.key.clone(),
                };
                for id in &newcomers {
                    self.give_key(*id, &state, now);
                }
            } else {
                self.current = next(&self.current, self.suite);
                let state = SendState {
                    generation: self.current.generation,
                    step: self.current.step,
                    key: self.current.key.clone(),
                };
                for id in &newcomers {
                    self.give_key(*id, &state, now);
                }
                self.emit_send_key();
            }
        }
    }

    fn switch_to_pending(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.current = pending.state;
            self.emit_send_key();
        }
    }

    fn emit_send_key(&mut self) {
        self.stats.key_changes += 1;
        self.events.push_back(GroupEvent::SendKey {
            generation: self.current.generation,
            step: self.current.step,
            key: self.current.key.clone(),
        });
    }

    fn give_key(&mut self, peer: u64, state: &SendState, now: Instant) {
        self.with_peer(peer, |this, p| {
            p.outgoing = Some(Outgoing {
                generation: state.generation,
                step: state.step,
                key: Zeroizing::new(state.key.expose_secret().to_vec()),
                next_send: now,
            });
            this.send_outgoing(peer, p, now);
        });
    }

    fn send_outgoing(&mut self, peer: u64, p: &mut Peer, now: Instant) {
        let Some(o) = &mut p.outgoing else {
            return;
        };
        o.next_send = now + RETRY;
        let inner = Inner::SenderKey {
            generation: o.generation,
            step: o.step,
            key: o.key.clone(),
            signer: self.signer,
        };
        // Handing a key over counts as keyed at once: should they leave before acknowledging,
        // they may still have read it.
        p.keyed = true;
        self.seal_to(peer, p, &inner);
    }

    fn seal_to(&mut self, peer: u64, p: &mut Peer, inner: &Inner) {
        let Channel::Open { open, .. } = &mut p.channel else {
            return;
        };
        let (nonce, ciphertext) = open.seal(&inner.encode());
        self.send(peer, Body::Sealed { nonce, ciphertext });
    }

    fn send(&mut self, to: u64, body: Body) {
        self.stats.messages_sent += 1;
        self.transmits.push_back(
            Message {
                from: self.me,
                to,
                body,
            }
            .encode(),
        );
    }

    /// The membership may have changed: if so, a new group-code round begins.
    fn update_code(&mut self, now: Instant) {
        self.code_stale = false;
        let members: BTreeMap<u64, [u8; 32]> = self
            .peers
            .iter()
            .filter_map(|(id, p)| match &p.channel {
                Channel::Open {
                    open,
                    confirmed: true,
                    ..
                } => Some((*id, *open.remote_identity())),
                _ => None,
            })
            .collect();
        let mut keys: Vec<[u8; 32]> = members.values().copied().collect();
        keys.push(*self.identity.public());
        let view = view_of(&keys);
        if self.round.as_ref().is_some_and(|r| r.view == view) {
            return;
        }
        let mut nonce = Zeroizing::new([0u8; 32]);
        if self.rng.fill(nonce.as_mut()).is_err() {
            // No randomness, no code: it stays unsettled rather than guessable.
            self.round = None;
            self.set_code(None);
            return;
        }
        let mine = commitment(&view, self.identity.public(), &nonce);
        let mut round = Round {
            view,
            members,
            nonce,
            commitment: mine,
            commits: BTreeMap::new(),
            reveals: BTreeMap::new(),
            revealed: false,
            asked: BTreeSet::new(),
            next_send: now + RETRY,
            backoff: RETRY,
            resends: 0,
        };
        // Members whose view got there before ours.
        for (id, early) in &self.early {
            if early.view != view || !round.members.contains_key(id) {
                continue;
            }
            round.commits.insert(*id, early.commitment);
            if let Some(n) = early.nonce
                && commitment(&view, &round.members[id], &n) == early.commitment
            {
                round.reveals.insert(*id, n);
            }
        }
        self.early.retain(|_, e| e.view != view);
        let targets: Vec<u64> = round.members.keys().copied().collect();
        self.round = Some(round);
        self.set_code(None);
        for id in targets {
            self.send_round(id, true);
        }
        self.advance_round();
    }

    /// Reveals once every commitment is in; settles the code once every nonce is.
    fn advance_round(&mut self) {
        let Some(round) = &mut self.round else {
            return;
        };
        if !round.revealed && round.commits.len() == round.members.len() {
            round.revealed = true;
            let targets: Vec<u64> = round.members.keys().copied().collect();
            for id in targets {
                self.send_round(id, false);
            }
        }
        let Some(round) = &self.round else {
            return;
        };
        if round.revealed && round.complete() {
            let mut all: Vec<([u8; 32], [u8; 32])> = round
                .members
                .iter()
                .filter_map(|(id, key)| round.reveals.get(id).map(|n| (*key, *n)))
                .collect();
            all.push((*self.identity.public(), *round.nonce));
            let code = GroupCode::of(&all);
            self.set_code(Some(code));
        }
    }

    fn set_code(&mut self, code: Option<GroupCode>) {
        if self.code != code {
            self.code = code.clone();
            self.events.push_back(GroupEvent::GroupCode(code));
        }
    }

    /// Sends our commitment (if `commit`), and our nonce once revealed, to `peer`.
    fn send_round(&mut self, peer: u64, commit: bool) {
        self.with_peer(peer, |this, p| this.send_round_to(peer, p, commit));
    }

    fn send_round_to(&mut self, peer: u64, p: &mut Peer, send_commit: bool) {
        let Some(round) = &self.round else {
            return;
        };
        let view = round.view;
        let commit = Inner::CodeCommit {
            view,
            commitment: round.commitment,
        };
        let nonce = round.revealed.then(|| Inner::CodeReveal {
            view,
            nonce: *round.nonce,
        });
        if send_commit {
            self.seal_to(peer, p, &commit);
        }
        if let Some(n) = &nonce {
            self.seal_to(peer, p, n);
        }
    }

    fn on_commit(
        &mut self,
        from: u64,
        view: [u8; 32],
        commitment: [u8; 32],
    ) -> Result<(), GroupError> {
        let Some(round) = self.round.as_mut().filter(|r| r.view == view) else {
            self.early.insert(
                from,
                Early {
                    view,
                    commitment,
                    nonce: None,
                },
            );
            return Ok(());
        };
        if !round.members.contains_key(&from) {
            return Err(GroupError::Unexpected(from));
        }
        match round.commits.get(&from) {
            // A repeat: they still miss something of ours, sent with our next resend (never
            // answered at once, so two members cannot keep each other busy).
            Some(c) if *c == commitment => {
                round.asked.insert(from);
                Ok(())
            }
            // A member may not change its commitment within a round.
            Some(_) => Err(GroupError::Unexpected(from)),
            // Revealing, once this was the last one missing, follows in `receive`.
            None => {
                round.commits.insert(from, commitment);
                Ok(())
            }
        }
    }

    fn on_reveal(&mut self, from: u64, view: [u8; 32], nonce: [u8; 32]) -> Result<(), GroupError> {
        let Some(round) = self.round.as_mut().filter(|r| r.view == view) else {
            // For a view we have not reached yet: kept beside their commitment, checked later.
            if let Some(e) = self.early.get_mut(&from).filter(|e| e.view == view) {
                e.nonce = Some(nonce);
            }
            return Ok(());
        };
        let (Some(identity), Some(c)) = (round.members.get(&from), round.commits.get(&from)) else {
            // Their commitment was lost on the way; both are resent.
            return Ok(());
        };
        if commitment(&view, identity, &nonce) != *c {
            return Err(GroupError::Unauthentic(from));
        }
        round.reveals.insert(from, nonce);
        Ok(())
    }

    /// Resends our round messages to members we have not heard everything from (backing off)
    /// and to those who repeated their commitment.
    fn resend_round(&mut self, now: Instant) {
        let Some(round) = &mut self.round else {
            return;
        };
        if round.next_send > now || (round.complete() && round.asked.is_empty()) {
            return;
        }
        let mut targets: BTreeSet<u64> = std::mem::take(&mut round.asked);
        if !round.complete() {
            targets.extend(
                round
                    .members
                    .keys()
                    .filter(|id| !round.reveals.contains_key(id)),
            );
            // Every RETRY at first, like keys (a data channel may open late or lose some), then
            // backing off: a member whose view differs may stay so for good.
            round.resends += 1;
            if round.resends > CODE_RETRIES_AT_FULL_RATE {
                round.backoff = (round.backoff * 2).min(CODE_RETRY_MAX);
            }
        }
        round.next_send = now + round.backoff;
        for id in targets {
            self.send_round(id, true);
        }
    }
}

fn random_key(rng: &SystemRandom) -> Result<BaseKey, SetupError> {
    let mut bytes = Zeroizing::new(vec![0u8; BASE_KEY_LEN]);
    rng.fill(&mut bytes).map_err(|_| SetupError::Random)?;
    BaseKey::new(bytes.to_vec()).map_err(|_| SetupError::Random)
}
