//! The roster's side of the meeting: participants appearing, going away, departing, proving who
//! they are (and so coming back into their own row), announcing their names and mute state, and
//! who speaks.

use std::time::Instant;

use super::{
    Event, MAX_DEPARTED, MediaAction, Meeting, Notice, Participant, ParticipantId, Presence,
    SPEAKING_LEVEL, Verification,
};
use crate::control::Control;
use crate::sfu::{MediaKind, PeerHandle, TrackHandle};

impl Meeting {
    // ---- participants ----------------------------------------------------------------------

    /// The participant at `peer`, created (as a new, unverified appearance) on first sight.
    /// `None` once [`super::MAX_CONNECTIONS`] are here: an SFU inventing connections must not
    /// grow the roster (and the handshakes) without bound.
    pub(super) fn appear(
        &mut self,
        peer: PeerHandle,
        label: Option<String>,
        was_there: bool,
        now: Instant,
    ) -> Option<ParticipantId> {
        if let Some(&id) = self.handles.get(&peer) {
            if let (Some(label), Some(p)) = (label, self.roster.get_mut(&id)) {
                p.label = Some(label);
            }
            return Some(id);
        }
        if self.handles.len() >= super::MAX_CONNECTIONS {
            self.dropped_data += 1;
            return None;
        }
        let id = ParticipantId(self.next_id);
        self.next_id += 1;
        self.roster
            .insert(id, Participant::new(id, peer, label, was_there, now));
        self.handles.insert(peer, id);
        if let Some(j) = self.joined() {
            j.group.peer_joined(peer.0, now);
        }
        Some(id)
    }

    /// `peer`'s connection went away.
    pub(super) fn gone(&mut self, peer: PeerHandle, now: Instant) {
        let Some(id) = self.handles.remove(&peer) else {
            return;
        };
        if let Some(j) = self.joined() {
            j.group.peer_left(peer.0, now);
        }
        self.unbind_tracks_of(id);
        self.away(id, now);
    }

    pub(super) fn away(&mut self, id: ParticipantId, now: Instant) {
        let Some(p) = self.roster.get_mut(&id) else {
            return;
        };
        p.handle = None;
        if p.presence == Presence::Present {
            p.presence = Presence::Away { since: now };
            p.level = 0.0;
            self.changed(id);
            if let Some(change) = self.speaker.forget(id) {
                self.events.push_back(Event::ActiveSpeaker(change));
            }
        }
    }

    /// `id`, verified and present, has not been heard from for [`super::SILENT_LIMIT`]: their
    /// connection hangs, or the SFU hides their departure. Their connection counts as gone (our
    /// key changes without them); whatever else comes from it is ignored. Someone alive comes
    /// back on a new connection, as after any loss.
    pub(super) fn silent(&mut self, id: ParticipantId, now: Instant) {
        let Some(handle) = self.roster.get_mut(&id).and_then(|p| {
            p.heard = None;
            p.handle
        }) else {
            return;
        };
        self.silenced.insert(handle);
        self.gone(handle, now);
    }

    /// `id` is gone for good.
    pub(super) fn depart(&mut self, id: ParticipantId, now: Instant) {
        if let Some(handle) = self.roster.get(&id).and_then(|p| p.handle) {
            self.handles.remove(&handle);
            if let Some(j) = self.joined() {
                // Their key must not read what follows: the group rekeys.
                j.group.peer_left(handle.0, now);
            }
        }
        self.unbind_tracks_of(id);
        let Some(p) = self.roster.get_mut(&id) else {
            return;
        };
        if p.presence == Presence::Left {
            return;
        }
        p.presence = Presence::Left;
        p.handle = None;
        p.level = 0.0;
        let notice = p.name.clone().filter(|_| p.announced && p.shown);
        self.actions.push_back(MediaAction::Forget(id));
        self.changed(id);
        if let Some(name) = notice {
            self.events.push_back(Event::Notice(Notice::Left(name)));
        }
        if let Some(change) = self.speaker.forget(id) {
            self.events.push_back(Event::ActiveSpeaker(change));
        }
        self.prune_departed();
    }

    pub(super) fn prune_departed(&mut self) {
        let departed: Vec<ParticipantId> = self
            .roster
            .values()
            .filter(|p| p.presence == Presence::Left)
            .map(|p| p.id)
            .collect();
        for id in departed
            .iter()
            .take(departed.len().saturating_sub(MAX_DEPARTED))
        {
            self.roster.remove(id);
        }
    }

    pub(super) fn unbind_tracks_of(&mut self, id: ParticipantId) {
        let theirs: Vec<TrackHandle> = self
            .tracks
            .iter()
            .filter(|(_, (owner, _))| *owner == id)
            .map(|(t, _)| t.clone())
            .collect();
        for track in theirs {
            self.tracks.remove(&track);
            self.actions.push_back(MediaAction::Unbind(track));
        }
    }

    /// `id` changed: a display hears of it once it shows them.
    pub(super) fn changed(&mut self, id: ParticipantId) {
        if let Some(p) = self.roster.get(&id).filter(|p| p.shown) {
            self.events
                .push_back(Event::Participant(Box::new(p.clone())));
        }
    }

    pub(super) fn show(&mut self, id: ParticipantId) {
        if let Some(p) = self.roster.get_mut(&id)
            && !p.shown
        {
            p.shown = true;
            self.changed(id);
        }
    }

    /// The handshake on `peer` proved `identity`.
    pub(super) fn verified(
        &mut self,
        peer: PeerHandle,
        identity: [u8; 32],
        safety_number: String,
        now: Instant,
    ) {
        let Some(&id) = self.handles.get(&peer) else {
            return;
        };
        // Someone holds our key now: our video need not wait any longer.
        self.send_rate.release();
        self.rerate(now);
        let known = self
            .roster
            .values()
            .find(|p| p.id != id && p.identity == Some(identity))
            .map(|p| p.id);
        let verification = Verification::Verified { safety_number };
        let Some(known) = known else {
            if let Some(p) = self.roster.get_mut(&id) {
                p.identity = Some(identity);
                p.verification = verification;
                p.shown = true;
                p.heard = Some(now);
            }
            self.changed(id);
            return;
        };
        // Someone known, on a new connection: the same participant again.
        if let Some(old) = self.roster.get(&known).and_then(|p| p.handle) {
            self.handles.remove(&old);
            if let Some(j) = self.joined() {
                j.group.peer_left(old.0, now);
            }
        }
        self.unbind_tracks_of(known);
        let Some(fresh) = self.roster.remove(&id) else {
            return;
        };
        self.handles.insert(peer, known);
        let moved: Vec<(TrackHandle, MediaKind)> = self
            .tracks
            .iter()
            .filter(|(_, (owner, _))| *owner == id)
            .map(|(t, (_, kind))| (t.clone(), *kind))
            .collect();
        for (track, kind) in moved {
            self.tracks.insert(track.clone(), (known, kind));
            self.actions.push_back(MediaAction::Bind {
                track,
                participant: known,
                kind,
            });
        }
        self.actions.push_back(MediaAction::ResetKeys(known));
        self.actions.push_back(MediaAction::Forget(id));
        if fresh.shown {
            self.events.push_back(Event::Merged {
                from: id,
                into: known,
            });
        }
        if let Some(p) = self.roster.get_mut(&known) {
            if p.presence == Presence::Left {
                // Gone long enough to have been announced as gone: announce them again.
                p.announced = false;
            }
            p.handle = Some(peer);
            p.handles.push(peer);
            p.label = fresh.label;
            p.presence = Presence::Present;
            p.verification = verification;
            p.since = now;
            p.shown = true;
            p.heard = Some(now);
            // Their keys start afresh on the new connection.
            p.generation = None;
        }
        self.changed(known);
    }

    pub(super) fn on_control(&mut self, id: ParticipantId, control: Option<Control>, now: Instant) {
        let Some(p) = self.roster.get_mut(&id) else {
            return;
        };
        let Some(control) = control else {
            p.control_dropped += 1;
            return;
        };
        p.control_messages += 1;
        p.heard = Some(now);
        match control {
            Control::Hello {
                name,
                audio,
                video,
                hand,
                ..
            } => {
                let same = p.name.as_ref() == Some(&name)
                    && p.audio == Some(audio)
                    && p.video == Some(video)
                    && p.hand.is_some() == hand;
                let announce = (!p.announced && p.shown).then(|| {
                    if p.was_there {
                        Notice::Present(name.clone())
                    } else {
                        Notice::Joined(name.clone())
                    }
                });
                if p.shown {
                    p.announced = true;
                }
                p.name = Some(name);
                p.audio = Some(audio);
                p.video = Some(video);
                self.hand_from(id, hand);
                if !same {
                    self.changed(id);
                }
                if let Some(notice) = announce {
                    self.events.push_back(Event::Notice(notice));
                }
            }
            Control::Bye { .. } => self.depart(id, now),
            Control::Chat { text, .. } => self.chat_from(id, text, false, now),
            Control::React { emoji, .. } => self.reaction_from(id, emoji, now),
        }
    }

    pub(super) fn hear(&mut self, levels: Vec<(ParticipantId, f32)>, now: Instant) {
        let mut loudest: Option<(ParticipantId, f32)> = None;
        for (id, level) in levels {
            let Some(p) = self.roster.get_mut(&id) else {
                continue;
            };
            p.level = level;
            if p.audible() && level >= SPEAKING_LEVEL && loudest.is_none_or(|(_, l)| level > l) {
                loudest = Some((id, level));
            }
        }
        if let Some(change) = self.speaker.hear(loudest.map(|(id, _)| id), now) {
            self.events.push_back(Event::ActiveSpeaker(change));
        }
    }
}
