//! An SFU in memory, for tests in virtual time: it takes the same [`SfuRequest`]s and gives the
//! same [`SfuEvent`]s as a real SFU's adapter, relays data and opaque media frames, and can
//! delay, lose and reorder what it relays, restart (dropping everyone), fail one client's media
//! connection, and reuse track slots the way Janus reuses subscriber mids.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::{Duration, Instant};

use super::{
    Dest, Link, LinkState, LocalTrack, LocalTrackId, MediaKind, PeerHandle, SfuEvent, SfuFailure,
    SfuRequest, TrackHandle,
};

/// One client of the SFU (a participant's adapter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub usize);

/// How the network between one client and the SFU behaves (both ways).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Network {
    /// One-way delay.
    pub delay: Duration,
    /// Extra random delay up to this much, per media frame (reorders them).
    pub jitter: Duration,
    /// Fraction of media frames lost (0–1). Signalling and data are reliable, as over TCP and
    /// SCTP, but delayed.
    pub loss: f64,
}

/// What a client receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A signalling event.
    Event(SfuEvent),
    /// A media frame on one of its received tracks.
    Media {
        /// The track.
        track: TrackHandle,
        /// The frame, as its sender sent it.
        frame: Vec<u8>,
    },
}

#[derive(Debug)]
struct Client {
    label: String,
    network: Network,
    /// In the room under this handle.
    handle: Option<PeerHandle>,
    /// Media connections up.
    published_link: bool,
    subscribed_link: bool,
    /// Tracks published.
    tracks: BTreeMap<LocalTrackId, MediaKind>,
    /// Whose media we receive.
    subscriptions: BTreeSet<PeerHandle>,
    /// Our received track slots: slot → (publisher, their track).
    slots: BTreeMap<u32, (PeerHandle, LocalTrackId)>,
}

/// The SFU. Time is passed in; deliveries come out when due.
#[derive(Debug)]
pub struct MemorySfu {
    clients: Vec<Client>,
    next_handle: u64,
    /// Refusing connections (as a server that is down).
    down: bool,
    queue: BinaryHeap<Reverse<(Instant, u64, usize, QueuedDelivery)>>,
    seq: u64,
    rng: u64,
    /// Frames relayed and lost, for tests to check what the network did.
    pub relayed: u64,
    /// Frames lost on purpose.
    pub lost: u64,
}

/// A delivery in the queue (ordered only by time and sequence).
#[derive(Debug)]
struct QueuedDelivery(Delivery);

impl PartialEq for QueuedDelivery {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for QueuedDelivery {}
impl PartialOrd for QueuedDelivery {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for QueuedDelivery {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl MemorySfu {
    /// An empty SFU whose random choices (loss, jitter) come from `seed`.
    pub fn new(seed: u64) -> MemorySfu {
        MemorySfu {
            clients: Vec::new(),
            // Handles start high, like Janus's random feed ids, and are never reused.
            next_handle: 1000,
            down: false,
            queue: BinaryHeap::new(),
            seq: 0,
            rng: seed | 1,
            relayed: 0,
            lost: 0,
        }
    }

    /// A new client that will call itself `label` at the SFU (any label: the SFU does not check).
    pub fn add_client(&mut self, label: &str) -> ClientId {
        self.clients.push(Client {
            label: label.to_owned(),
            network: Network::default(),
            handle: None,
            published_link: false,
            subscribed_link: false,
            tracks: BTreeMap::new(),
            subscriptions: BTreeSet::new(),
            slots: BTreeMap::new(),
        });
        ClientId(self.clients.len() - 1)
    }

    /// Down (connections are refused) or up again.
    pub fn set_down(&mut self, down: bool) {
        self.down = down;
    }

    /// Sets how `client`'s network behaves from now on.
    pub fn set_network(&mut self, client: ClientId, network: Network) {
        self.clients[client.0].network = network;
    }

    /// The handle `client` is in the room under.
    pub fn handle(&self, client: ClientId) -> Option<PeerHandle> {
        self.clients[client.0].handle
    }

    /// Whose track of theirs `client` receives on `track` (for passing on keyframe requests).
    pub fn source_of(
        &self,
        client: ClientId,
        track: &TrackHandle,
    ) -> Option<(ClientId, LocalTrackId)> {
        let slot: u32 = track.0.parse().ok()?;
        let (peer, id) = *self.clients[client.0].slots.get(&slot)?;
        let publisher = self.clients.iter().position(|c| c.handle == Some(peer))?;
        Some((ClientId(publisher), id))
    }

    /// When the next delivery is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((at, ..))| *at)
    }

    /// The next delivery due by `now`, and to whom.
    pub fn poll(&mut self, now: Instant) -> Option<(ClientId, Delivery)> {
        if self.next_due()? > now {
            return None;
        }
        let Reverse((_, _, client, QueuedDelivery(d))) = self.queue.pop()?;
        Some((ClientId(client), d))
    }

    /// What `client`'s adapter asks.
    pub fn request(&mut self, client: ClientId, request: SfuRequest, now: Instant) {
        match request {
            SfuRequest::Connect => self.connect(client, now),
            SfuRequest::Disconnect => self.drop_client(client, now),
            SfuRequest::Publish(tracks) => self.publish(client, tracks, now),
            SfuRequest::Unpublish(id) => self.unpublish(client, id, now),
            SfuRequest::Subscribe(peer) => self.subscribe(client, peer, now),
            SfuRequest::Unsubscribe(peer) => {
                let c = &mut self.clients[client.0];
                c.subscriptions.remove(&peer);
                let gone: Vec<u32> = c
                    .slots
                    .iter()
                    .filter(|(_, (p, _))| *p == peer)
                    .map(|(s, _)| *s)
                    .collect();
                for slot in gone {
                    self.clients[client.0].slots.remove(&slot);
                    self.send(client, SfuEvent::TrackGone(slot_handle(slot)), now);
                }
            }
            SfuRequest::SendData { to, bytes } => self.data(client, to, bytes, now),
        }
    }

    /// `client` sends a media frame on its track `track`: every subscriber gets it (maybe).
    pub fn send_media(
        &mut self,
        client: ClientId,
        track: LocalTrackId,
        frame: &[u8],
        now: Instant,
    ) {
        let Some(from) = self.clients[client.0].handle else {
            return;
        };
        if !self.clients[client.0].published_link
            || !self.clients[client.0].tracks.contains_key(&track)
        {
            return;
        }
        let up = self.clients[client.0].network;
        for to in 0..self.clients.len() {
            let c = &self.clients[to];
            if to == client.0 || c.handle.is_none() || !c.subscribed_link {
                continue;
            }
            let Some((&slot, _)) = c.slots.iter().find(|(_, v)| **v == (from, track)) else {
                continue;
            };
            let down = c.network;
            if self.chance(up.loss) || self.chance(down.loss) {
                self.lost += 1;
                continue;
            }
            self.relayed += 1;
            let jitter = self.jitter(up.jitter) + self.jitter(down.jitter);
            let at = now + up.delay + down.delay + jitter;
            self.push(
                at,
                to,
                Delivery::Media {
                    track: slot_handle(slot),
                    frame: frame.to_vec(),
                },
            );
        }
    }

    /// The SFU crashes and comes back: every client loses its connection.
    pub fn restart(&mut self, now: Instant) {
        for i in 0..self.clients.len() {
            if self.clients[i].handle.is_some() {
                self.reset(i);
                self.send(
                    ClientId(i),
                    SfuEvent::Failed(SfuFailure::Lost("the SFU restarted".into())),
                    now,
                );
            }
        }
    }

    /// `client`'s `link` media connection fails (its signalling stays up).
    pub fn fail_link(&mut self, client: ClientId, link: Link, now: Instant) {
        let c = &mut self.clients[client.0];
        match link {
            Link::Publish => c.published_link = false,
            Link::Subscribe => c.subscribed_link = false,
        }
        self.send(
            client,
            SfuEvent::Link {
                link,
                state: LinkState::Failed,
            },
            now,
        );
    }

    fn connect(&mut self, client: ClientId, now: Instant) {
        if self.clients[client.0].handle.is_some() {
            self.drop_client(client, now);
        }
        if self.down {
            let refused = SfuFailure::Lost("connection refused".into());
            self.send(client, SfuEvent::Failed(refused), now);
            return;
        }
        let me = PeerHandle(self.next_handle);
        self.next_handle += 1;
        let present: Vec<(PeerHandle, Option<String>)> = self
            .clients
            .iter()
            .filter_map(|c| Some((c.handle?, Some(c.label.clone()))))
            .collect();
        let label = self.clients[client.0].label.clone();
        self.clients[client.0].handle = Some(me);
        self.send(client, SfuEvent::Joined { me, present }, now);
        for other in self.others(client) {
            self.send(
                other,
                SfuEvent::PeerAppeared {
                    peer: me,
                    label: Some(label.clone()),
                },
                now,
            );
        }
    }

    fn drop_client(&mut self, client: ClientId, now: Instant) {
        let Some(me) = self.clients[client.0].handle else {
            return;
        };
        self.reset(client.0);
        for other in self.others(client) {
            let gone: Vec<u32> = self.clients[other.0]
                .slots
                .iter()
                .filter(|(_, (p, _))| *p == me)
                .map(|(s, _)| *s)
                .collect();
            for slot in gone {
                self.clients[other.0].slots.remove(&slot);
                self.send(other, SfuEvent::TrackGone(slot_handle(slot)), now);
            }
            self.clients[other.0].subscriptions.remove(&me);
            self.send(other, SfuEvent::PeerGone(me), now);
        }
    }

    fn reset(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.handle = None;
        c.published_link = false;
        c.subscribed_link = false;
        c.tracks.clear();
        c.subscriptions.clear();
        c.slots.clear();
    }

    fn publish(&mut self, client: ClientId, tracks: Vec<LocalTrack>, now: Instant) {
        let Some(me) = self.clients[client.0].handle else {
            return;
        };
        if !self.clients[client.0].published_link {
            self.clients[client.0].published_link = true;
            self.link_up(client, Link::Publish, now);
        }
        for t in tracks {
            self.clients[client.0].tracks.insert(t.id, t.kind);
            for other in self.others(client) {
                if self.clients[other.0].subscriptions.contains(&me) {
                    self.add_slot(other, me, t.id, t.kind, now);
                }
            }
        }
    }

    fn unpublish(&mut self, client: ClientId, id: LocalTrackId, now: Instant) {
        let Some(me) = self.clients[client.0].handle else {
            return;
        };
        self.clients[client.0].tracks.remove(&id);
        for other in self.others(client) {
            let slot = self.clients[other.0]
                .slots
                .iter()
                .find(|(_, v)| **v == (me, id))
                .map(|(s, _)| *s);
            if let Some(slot) = slot {
                self.clients[other.0].slots.remove(&slot);
                self.send(other, SfuEvent::TrackGone(slot_handle(slot)), now);
            }
        }
    }

    fn subscribe(&mut self, client: ClientId, peer: PeerHandle, now: Instant) {
        let Some(publisher) = self.clients.iter().position(|c| c.handle == Some(peer)) else {
            return;
        };
        if !self.clients[client.0].subscriptions.insert(peer) {
            return;
        }
        let tracks: Vec<(LocalTrackId, MediaKind)> = self.clients[publisher]
            .tracks
            .iter()
            .map(|(&id, &kind)| (id, kind))
            .collect();
        for (id, kind) in tracks {
            self.add_slot(client, peer, id, kind, now);
        }
    }

    /// Gives `client` a track slot for `peer`'s track, reusing the lowest free one as Janus
    /// reuses mids.
    fn add_slot(
        &mut self,
        client: ClientId,
        peer: PeerHandle,
        id: LocalTrackId,
        kind: MediaKind,
        now: Instant,
    ) {
        let c = &mut self.clients[client.0];
        let slot = (0..).find(|s| !c.slots.contains_key(s)).unwrap_or(0);
        c.slots.insert(slot, (peer, id));
        self.send(
            client,
            SfuEvent::TrackAppeared {
                track: slot_handle(slot),
                peer,
                kind,
            },
            now,
        );
        if !self.clients[client.0].subscribed_link {
            self.clients[client.0].subscribed_link = true;
            self.link_up(client, Link::Subscribe, now);
        }
    }

    fn data(&mut self, client: ClientId, to: Dest, bytes: Vec<u8>, now: Instant) {
        let Some(from) = self.clients[client.0].handle else {
            return;
        };
        for other in self.others(client) {
            let wanted = match to {
                Dest::All => true,
                Dest::One(h) => self.clients[other.0].handle == Some(h),
            };
            if wanted {
                let event = SfuEvent::Data {
                    from,
                    bytes: bytes.clone(),
                };
                let at = now
                    + self.clients[client.0].network.delay
                    + self.clients[other.0].network.delay;
                self.push(at, other.0, Delivery::Event(event));
            }
        }
    }

    /// Everyone else in the room.
    fn others(&self, client: ClientId) -> Vec<ClientId> {
        (0..self.clients.len())
            .filter(|&i| i != client.0 && self.clients[i].handle.is_some())
            .map(ClientId)
            .collect()
    }

    /// `client`'s `link` comes up, as a real connection does: connecting first, then connected.
    fn link_up(&mut self, client: ClientId, link: Link, now: Instant) {
        for state in [LinkState::Connecting, LinkState::Connected] {
            self.send(client, SfuEvent::Link { link, state }, now);
        }
    }

    /// A signalling event to `client`, after its network's delay.
    fn send(&mut self, client: ClientId, event: SfuEvent, now: Instant) {
        let at = now + self.clients[client.0].network.delay;
        self.push(at, client.0, Delivery::Event(event));
    }

    fn push(&mut self, at: Instant, client: usize, d: Delivery) {
        self.seq += 1;
        self.queue
            .push(Reverse((at, self.seq, client, QueuedDelivery(d))));
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.random() % 1_000_000) as f64 / 1_000_000.0 < p
    }

    fn jitter(&mut self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        let us = max.as_micros() as u64;
        Duration::from_micros(self.random() % (us + 1))
    }
}

fn slot_handle(slot: u32) -> TrackHandle {
    TrackHandle(slot.to_string())
}
