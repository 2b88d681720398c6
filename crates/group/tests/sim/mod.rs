//! A meeting in virtual time: participants running [`Group`], an SFU that broadcasts every
//! data-channel message to everyone else present (optionally losing some), and SFrame senders and
//! receivers driven by the groups' events exactly as the client drives them.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use conclave_e2ee::{CipherSuite, KidScheme, Receiver, Sender};
use conclave_group::{Group, GroupCode, GroupEvent, Identity, Psk, sender_key};

pub const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

pub struct Participant {
    pub group: Group,
    pub sender: Option<Sender>,
    pub receivers: HashMap<u64, Receiver>,
    pub verified: BTreeMap<u64, String>,
    pub unverified: BTreeMap<u64, &'static str>,
    pub code: Option<GroupCode>,
    pub send_key_changes: u32,
    /// Private messages received: (from, text).
    pub private: Vec<(u64, Vec<u8>)>,
}

impl Participant {
    fn apply(&mut self, event: GroupEvent) {
        match event {
            GroupEvent::SendKey {
                generation,
                step,
                key,
            } => {
                sender_key::apply(
                    &mut self.sender,
                    SUITE,
                    KidScheme::default(),
                    generation,
                    step,
                    key,
                )
                .unwrap();
                self.send_key_changes += 1;
            }
            GroupEvent::PeerKey {
                peer,
                generation,
                step,
                key,
                ..
            } => {
                let r = self
                    .receivers
                    .entry(peer)
                    .or_insert_with(|| Receiver::new(SUITE, KidScheme::default()));
                let _ = r.add_key(generation, step, key);
            }
            GroupEvent::PeerVerified {
                peer,
                safety_number,
                ..
            } => {
                self.unverified.remove(&peer);
                self.verified.insert(peer, safety_number);
            }
            GroupEvent::PeerUnverified { peer, reason } => {
                self.verified.remove(&peer);
                self.unverified.insert(peer, reason);
            }
            GroupEvent::GroupCode(code) => self.code = code,
            GroupEvent::Private { peer, text } => self.private.push((peer, text)),
        }
    }

    /// Encrypts one media frame under the current key.
    pub fn frame(&mut self, payload: &[u8]) -> Vec<u8> {
        self.sender
            .as_mut()
            .expect("a sending key")
            .encrypt(&[], payload)
            .unwrap()
    }

    /// Tries `frame` from `from` with every key this participant holds for `from`.
    pub fn can_decrypt(&mut self, from: u64, frame: &[u8]) -> bool {
        self.receivers
            .get_mut(&from)
            .is_some_and(|r| r.decrypt(&[], frame).is_ok())
    }
}

pub struct Meeting {
    pub now: Instant,
    pub people: BTreeMap<u64, Participant>,
    /// Drops every n-th message if set (deterministic loss).
    pub lose_every: Option<u64>,
    /// Drops the sealed messages (keys, acknowledgements) of these participants: an SFU
    /// holding back everything but handshakes.
    pub drop_sealed_from: std::collections::BTreeSet<u64>,
    /// Keeps a copy of every message relayed (with its sender) in `tapped`.
    pub tap: bool,
    pub tapped: Vec<(u64, Vec<u8>)>,
    pub delivered: u64,
    pub broadcast: u64,
    pub counter: u64,
}

impl Default for Meeting {
    fn default() -> Self {
        Meeting {
            now: Instant::now(),
            people: BTreeMap::new(),
            lose_every: None,
            drop_sealed_from: Default::default(),
            tap: false,
            tapped: Vec::new(),
            delivered: 0,
            broadcast: 0,
            counter: 0,
        }
    }
}

pub fn psk(secret: u8) -> Psk {
    Psk::derive(&[secret; 32], "room")
}

impl Meeting {
    /// `id` joins holding `psk` (the link's secret) and `identity`.
    pub fn join_as(&mut self, id: u64, psk: Psk, identity: Identity) {
        let mut group = Group::new(id, identity, psk, SUITE).unwrap();
        for other in self.people.keys() {
            group.peer_joined(*other, self.now);
        }
        let now = self.now;
        for p in self.people.values_mut() {
            p.group.peer_joined(id, now);
        }
        self.people.insert(
            id,
            Participant {
                group,
                sender: None,
                receivers: HashMap::new(),
                verified: BTreeMap::new(),
                unverified: BTreeMap::new(),
                code: None,
                send_key_changes: 0,
                private: Vec::new(),
            },
        );
        self.pump();
    }

    pub fn join(&mut self, id: u64, secret: u8) {
        self.join_as(id, psk(secret), Identity::generate().unwrap());
    }

    /// `id` leaves; returns it (with every key it held) for the test to try.
    pub fn leave(&mut self, id: u64) -> Participant {
        let gone = self.people.remove(&id).expect("present");
        let now = self.now;
        for p in self.people.values_mut() {
            p.group.peer_left(id, now);
        }
        self.pump();
        gone
    }

    /// Delivers everything queued, applying events, until quiet.
    pub fn pump(&mut self) {
        loop {
            let mut outgoing = Vec::new();
            for (id, p) in &mut self.people {
                while let Some(bytes) = p.group.poll_transmit() {
                    outgoing.push((*id, bytes));
                }
                while let Some(event) = p.group.poll_event() {
                    p.apply(event);
                }
            }
            if outgoing.is_empty() {
                return;
            }
            let now = self.now;
            for (from, bytes) in outgoing {
                self.broadcast += 1;
                self.counter += 1;
                if self
                    .lose_every
                    .is_some_and(|n| self.counter.is_multiple_of(n))
                {
                    continue;
                }
                let sealed = matches!(
                    conclave_group::wire::Message::decode(&bytes).map(|m| m.body),
                    Ok(conclave_group::wire::Body::Sealed { .. })
                );
                if sealed && self.drop_sealed_from.contains(&from) {
                    continue;
                }
                if self.tap {
                    self.tapped.push((from, bytes.clone()));
                }
                for (id, p) in &mut self.people {
                    if *id != from {
                        self.delivered += 1;
                        let _ = p.group.receive(from, &bytes, now);
                    }
                }
            }
        }
    }

    /// Advances virtual time by `d` in steps of at most 10 ms, firing timers.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            let next_timer = self
                .people
                .values()
                .filter_map(|p| p.group.poll_timeout())
                .min()
                .unwrap_or(end);
            self.now = next_timer.clamp(self.now + Duration::from_millis(1), end);
            let now = self.now;
            for p in self.people.values_mut() {
                if p.group.poll_timeout().is_some_and(|t| t <= now) {
                    p.group.handle_timeout(now);
                }
            }
            self.pump();
        }
    }

    /// Whether everyone has verified everyone and holds a key for everyone.
    pub fn settled(&self) -> bool {
        let ids: Vec<u64> = self.people.keys().copied().collect();
        self.people.iter().all(|(me, p)| {
            ids.iter()
                .filter(|id| *id != me)
                .all(|id| p.verified.contains_key(id) && p.receivers.contains_key(id))
        })
    }

    pub fn p(&mut self, id: u64) -> &mut Participant {
        self.people.get_mut(&id).expect("present")
    }
}
