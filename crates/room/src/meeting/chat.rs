//! Chat, raised hands and reactions (docs/PROTOCOL.md §3.3): messages to everyone are control
//! messages (SFrame under the sender's key, bound to the sender by its frame statements), private
//! ones are sealed on the pairwise channel of the two participants. Nothing is kept: every
//! message is an event for the display, which holds it in memory for as long as it likes.

use std::time::{Duration, Instant};

use super::{ChatMessage, Event, Meeting, ParticipantId, PeerHandle, Transmit, Verification};
use crate::control::{Control, REACTIONS, valid_chat};
use crate::sfu::Dest;

/// Chat messages a participant may send in a burst, and how fast the allowance refills.
pub const CHAT_BURST: f32 = 10.0;
/// Chat messages per second, sustained.
pub const CHAT_RATE: f32 = 1.0;
/// Reactions a participant may send in a burst.
pub const REACTION_BURST: f32 = 5.0;
/// Reactions per second, sustained.
pub const REACTION_RATE: f32 = 1.0;

/// A token bucket: `take` succeeds while the allowance lasts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    tokens: f32,
    at: Instant,
}

impl Bucket {
    pub(super) fn full(burst: f32, now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    fn take(&mut self, burst: f32, rate: f32, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f32();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Why a chat message of ours did not go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotSent {
    /// Blank, too long, or with control characters.
    Unusable,
    /// Not connected to the meeting right now.
    NotConnected,
    /// The addressee is not (or no longer) a verified participant.
    NoChannel,
}

impl Meeting {
    /// Sends `text` to everyone (`to` = `None`) or to one participant alone.
    pub(super) fn chat(&mut self, to: Option<ParticipantId>, text: String, now: Instant) {
        let fail = |m: &mut Meeting, reason| {
            m.events.push_back(Event::ChatNotSent {
                to,
                text: text.clone(),
                reason,
            });
        };
        if !valid_chat(&text) {
            return fail(self, NotSent::Unusable);
        }
        if !self.live() {
            return fail(self, NotSent::NotConnected);
        }
        match to {
            None => self.transmits.push_back(Transmit::Control {
                to: Dest::All,
                plaintext: Control::Chat {
                    v: 1,
                    text: text.clone(),
                }
                .encode(),
            }),
            Some(id) => {
                let handle = self
                    .roster
                    .get(&id)
                    .filter(|p| p.is_present() && p.is_verified())
                    .and_then(|p| p.handle);
                let sent = match (handle, self.joined()) {
                    (Some(h), Some(j)) => j.group.send_private(h.0, text.as_bytes()),
                    _ => false,
                };
                if !sent {
                    return fail(self, NotSent::NoChannel);
                }
                self.drive_group(now);
            }
        }
        self.events.push_back(Event::Chat(ChatMessage {
            from: None,
            name: None,
            verified: true,
            private: to.is_some(),
            to,
            text,
        }));
    }

    /// Raises or lowers our hand: the others learn it from our hellos.
    pub(super) fn hand(&mut self, up: bool, now: Instant) {
        if self.raised != up {
            self.raised = up;
            self.local_changed(now);
        }
    }

    /// Sends a reaction to everyone (and shows it ourselves).
    pub(super) fn react(&mut self, emoji: String, now: Instant) {
        if !REACTIONS.contains(&emoji.as_str()) || !self.live() {
            return;
        }
        if !self.own_reactions.take(REACTION_BURST, REACTION_RATE, now) {
            return;
        }
        self.transmits.push_back(Transmit::Control {
            to: Dest::All,
            plaintext: Control::React {
                v: 1,
                emoji: emoji.clone(),
            }
            .encode(),
        });
        self.events.push_back(Event::Reaction { from: None, emoji });
    }

    /// A chat message to everyone from `id` (already decoded and checked).
    pub(super) fn chat_from(
        &mut self,
        id: ParticipantId,
        text: String,
        private: bool,
        now: Instant,
    ) {
        let Some(p) = self.roster.get_mut(&id) else {
            return;
        };
        let bucket = p
            .chat_allowance
            .get_or_insert(Bucket::full(CHAT_BURST, now));
        if !bucket.take(CHAT_BURST, CHAT_RATE, now) {
            p.chat_dropped += 1;
            return;
        }
        let verified = matches!(p.verification, Verification::Verified { .. });
        let name = p.name.clone();
        self.events.push_back(Event::Chat(ChatMessage {
            from: Some(id),
            name,
            verified,
            private,
            to: None,
            text,
        }));
    }

    /// A reaction from `id`.
    pub(super) fn reaction_from(&mut self, id: ParticipantId, emoji: String, now: Instant) {
        let Some(p) = self.roster.get_mut(&id) else {
            return;
        };
        let bucket = p
            .reaction_allowance
            .get_or_insert(Bucket::full(REACTION_BURST, now));
        if !bucket.take(REACTION_BURST, REACTION_RATE, now) {
            p.chat_dropped += 1;
            return;
        }
        self.events.push_back(Event::Reaction {
            from: Some(id),
            emoji,
        });
    }

    /// A private message sealed to us by the participant at `peer`.
    pub(super) fn private_from(&mut self, peer: PeerHandle, text: Vec<u8>, now: Instant) {
        let Some(&id) = self.handles.get(&peer) else {
            return;
        };
        match String::from_utf8(text) {
            Ok(text) if valid_chat(&text) => self.chat_from(id, text, true, now),
            _ => {
                if let Some(p) = self.roster.get_mut(&id) {
                    p.chat_dropped += 1;
                }
            }
        }
    }

    /// Their hand as their hello says: raised ones are numbered in the order we saw them go up.
    pub(super) fn hand_from(&mut self, id: ParticipantId, up: bool) -> bool {
        let Some(p) = self.roster.get_mut(&id) else {
            return false;
        };
        match (p.hand, up) {
            (None, true) => {
                self.hands_raised += 1;
                p.hand = Some(self.hands_raised);
                true
            }
            (Some(_), false) => {
                p.hand = None;
                true
            }
            _ => false,
        }
    }
}

/// How long a display shows a reaction (a suggestion; it decides).
pub const REACTION_SHOWN: Duration = Duration::from_secs(4);
