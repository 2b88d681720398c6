//! The organisation's managed configuration: a JSON file an administrator puts where the system
//! keeps such files — `/etc/conclave/policy.json` on Linux, `%ProgramData%\Conclave\policy.json`
//! on Windows, `/Library/Application Support/Conclave/policy.json` on macOS (`CONCLAVE_POLICY`
//! names another, for tests and trials). It presets the meeting server, the STUN/TURN servers,
//! relay-only media, a certificate authority to trust and the page invitations link to, and can
//! lock each of them:
//!
//! ```json
//! {
//!   "meetingServer": "wss://meet.example.org/janus",
//!   "iceServers": [{ "url": "turns:turn.example.org:5349", "username": "u", "credential": "p" }],
//!   "relayOnly": true,
//!   "trustedCa": "-----BEGIN CERTIFICATE-----\n…",
//!   "invitationPage": "https://meet.example.org",
//!   "locked": ["meetingServer", "iceServers", "relayOnly", "trustedCa", "invitationPage"]
//! }
//! ```
//!
//! A preset fills in what the user has not set; a locked setting is the organisation's whatever
//! the user's file says, and the app does not let it be changed (nor writes it into the user's
//! file: when the policy goes, the user's own choice is back). A policy that cannot be read is
//! not half applied: the app says why and runs on the user's settings.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::settings::Settings;

/// A setting the policy can lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Field {
    /// Where "New meeting" creates rooms.
    MeetingServer,
    /// STUN/TURN servers.
    IceServers,
    /// Media only through a TURN relay.
    RelayOnly,
    /// The extra certificate authority.
    TrustedCa,
    /// Where the organisation hosts the join page for invitations.
    InvitationPage,
}

/// What an administrator's policy file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    /// The meeting server (SFU address).
    pub meeting_server: Option<String>,
    /// STUN/TURN servers.
    pub ice_servers: Option<Vec<conclave::client::IceServer>>,
    /// Media only through a TURN relay.
    pub relay_only: Option<bool>,
    /// A certificate authority (PEM) to trust for meeting servers.
    pub trusted_ca: Option<String>,
    /// Where the organisation hosts the join page (`https://…`, the page at `<it>/join`).
    pub invitation_page: Option<String>,
    /// The settings users cannot change.
    #[serde(default)]
    pub locked: Vec<Field>,
}

/// Why a policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// It exists but cannot be read.
    #[error("cannot read it: {0}")]
    Read(#[from] std::io::Error),
    /// It is not a policy (bad JSON, a misspelt key).
    #[error("it is not a Conclave policy: {0}")]
    Shape(#[from] serde_json::Error),
    /// A value in it could never work.
    #[error("{0}")]
    Value(String),
    /// It locks a setting without giving it a value.
    #[error("it locks {0:?} without setting it")]
    LockedWithoutValue(Field),
}

impl PolicyError {
    /// What kind of problem, for the log (the message itself may quote the file, credentials
    /// and addresses included).
    pub fn kind(&self) -> &'static str {
        match self {
            PolicyError::Read(_) => "unreadable",
            PolicyError::Shape(_) => "not a policy",
            PolicyError::Value(_) => "a value that cannot work",
            PolicyError::LockedWithoutValue(_) => "locked without a value",
        }
    }
}

/// Where this system keeps the policy (`CONCLAVE_POLICY` overrides).
pub fn path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CONCLAVE_POLICY") {
        return Some(PathBuf::from(path));
    }
    if cfg!(target_os = "windows") {
        let data = std::env::var_os("ProgramData")?;
        Some(Path::new(&data).join("Conclave").join("policy.json"))
    } else if cfg!(target_os = "macos") {
        Some(PathBuf::from(
            "/Library/Application Support/Conclave/policy.json",
        ))
    } else {
        Some(PathBuf::from("/etc/conclave/policy.json"))
    }
}

impl Policy {
    /// The policy at `path`: none if there is no file, or why it cannot be used.
    pub fn load(path: &Path) -> Result<Option<Policy>, PolicyError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let policy: Policy = serde_json::from_slice(&bytes)?;
        policy.check()?;
        Ok(Some(policy))
    }

    fn check(&self) -> Result<(), PolicyError> {
        let bad = |e: &dyn std::fmt::Display| PolicyError::Value(e.to_string());
        if let Some(server) = &self.meeting_server {
            conclave_room::SfuAddress::parse(server).map_err(|e| bad(&e))?;
        }
        let servers = self.ice_servers.as_deref().unwrap_or_default();
        conclave::client::IceServer::check_all(self.relay_only.unwrap_or(false), servers).map_err(
            |e| match e {
                conclave::client::UnusableIce::BadServer(why) => PolicyError::Value(why),
                conclave::client::UnusableIce::NoTurnServer => {
                    PolicyError::Value("relay-only media needs a TURN server".into())
                }
            },
        )?;
        if let Some(pem) = &self.trusted_ca {
            conclave::client::tls::parse_ca(pem.as_bytes()).map_err(|e| bad(&e))?;
        }
        if let Some(page) = &self.invitation_page {
            crate::settings::check_invitation_page(page).map_err(|e| bad(&e))?;
        }
        for &field in &self.locked {
            let set = match field {
                Field::MeetingServer => self.meeting_server.is_some(),
                Field::IceServers => self.ice_servers.is_some(),
                Field::RelayOnly => self.relay_only.is_some(),
                Field::TrustedCa => self.trusted_ca.is_some(),
                Field::InvitationPage => self.invitation_page.is_some(),
            };
            if !set {
                return Err(PolicyError::LockedWithoutValue(field));
            }
        }
        Ok(())
    }

    /// Whether users cannot change `field`.
    pub fn locks(&self, field: Field) -> bool {
        self.locked.contains(&field)
    }

    /// `settings` as the organisation wants them: its locked values, and its presets where the
    /// user has set nothing.
    pub fn apply(&self, settings: &mut Settings) {
        if let Some(server) = &self.meeting_server
            && (self.locks(Field::MeetingServer) || settings.meeting_server.is_none())
        {
            settings.meeting_server = Some(server.clone());
        }
        if let Some(servers) = &self.ice_servers
            && (self.locks(Field::IceServers) || settings.ice_servers.is_empty())
        {
            settings.ice_servers = servers.clone();
        }
        if let Some(relay_only) = self.relay_only
            && (self.locks(Field::RelayOnly) || !settings.relay_only)
        {
            settings.relay_only = relay_only;
        }
        if let Some(pem) = &self.trusted_ca
            && (self.locks(Field::TrustedCa) || settings.trusted_ca.is_none())
        {
            settings.trusted_ca = Some(pem.clone());
        }
        if let Some(page) = &self.invitation_page
            && (self.locks(Field::InvitationPage) || settings.invitation_page.is_none())
        {
            settings.invitation_page = Some(page.clone());
        }
    }

    /// What to write to the user's file when they save `new`: their values, but for each locked
    /// setting what the file held before (`old`), never the organisation's value nor a change.
    pub fn keep_locked(&self, new: &mut Settings, old: &Settings) {
        if self.locks(Field::MeetingServer) {
            new.meeting_server.clone_from(&old.meeting_server);
        }
        if self.locks(Field::IceServers) {
            new.ice_servers.clone_from(&old.ice_servers);
        }
        if self.locks(Field::RelayOnly) {
            new.relay_only = old.relay_only;
        }
        if self.locks(Field::TrustedCa) {
            new.trusted_ca.clone_from(&old.trusted_ca);
        }
        if self.locks(Field::InvitationPage) {
            new.invitation_page.clone_from(&old.invitation_page);
        }
    }
}

/// What the settings dialog needs to know of the policy.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PolicyView {
    /// Settings the organisation has locked.
    pub locked: Vec<Field>,
    /// Why the policy file could not be used, if it could not.
    pub problem: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> Result<Option<Policy>, PolicyError> {
        let dir = std::env::temp_dir().join(format!("conclave-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{:x}.json", ring_hash(json)));
        std::fs::write(&path, json).unwrap();
        let result = Policy::load(&path);
        let _ = std::fs::remove_file(&path);
        result
    }

    fn ring_hash(s: &str) -> u64 {
        let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
        u64::from_le_bytes(d.as_ref()[..8].try_into().unwrap())
    }

    #[test]
    fn no_file_is_no_policy() {
        let missing = std::env::temp_dir().join("conclave-no-such-policy.json");
        assert_eq!(Policy::load(&missing).unwrap(), None);
    }

    #[test]
    fn presets_fill_in_and_locks_win() {
        let preset = policy(
            r#"{ "meetingServer": "wss://meet.example.org/janus",
                 "iceServers": [{ "url": "stun:stun.example.org:3478" }] }"#,
        )
        .unwrap()
        .unwrap();
        // Nothing set: the organisation's values.
        let mut fresh = Settings::default();
        preset.apply(&mut fresh);
        assert_eq!(
            fresh.meeting_server.as_deref(),
            Some("wss://meet.example.org/janus")
        );
        assert_eq!(fresh.ice_servers.len(), 1);
        // The user's own choice stays where nothing is locked.
        let mut own = Settings {
            meeting_server: Some("wss://other.example.net/janus".into()),
            ..Settings::default()
        };
        preset.apply(&mut own);
        assert_eq!(
            own.meeting_server.as_deref(),
            Some("wss://other.example.net/janus")
        );

        let locked = policy(
            r#"{ "meetingServer": "wss://meet.example.org/janus", "locked": ["meetingServer"] }"#,
        )
        .unwrap()
        .unwrap();
        let mut own = Settings {
            meeting_server: Some("wss://other.example.net/janus".into()),
            ..Settings::default()
        };
        locked.apply(&mut own);
        assert_eq!(
            own.meeting_server.as_deref(),
            Some("wss://meet.example.org/janus")
        );
        // Saving keeps the user's file as it was for what is locked.
        let old = Settings {
            meeting_server: Some("wss://mine.example.net/janus".into()),
            ..Settings::default()
        };
        let mut new = own.clone();
        new.name = "Ada".into();
        locked.keep_locked(&mut new, &old);
        assert_eq!(new.meeting_server, old.meeting_server);
        assert_eq!(new.name, "Ada");
    }

    #[test]
    fn the_invitation_page_is_preset_and_locked_like_the_rest() {
        let locked = policy(
            r#"{ "invitationPage": "https://meet.example.org", "locked": ["invitationPage"] }"#,
        )
        .unwrap()
        .unwrap();
        let mut own = Settings {
            invitation_page: Some("https://mine.example.net".into()),
            ..Settings::default()
        };
        locked.apply(&mut own);
        assert_eq!(
            own.invitation_page.as_deref(),
            Some("https://meet.example.org")
        );
        let old = Settings::default();
        let mut new = own.clone();
        locked.keep_locked(&mut new, &old);
        assert_eq!(new.invitation_page, None, "the user's file keeps its own");
        let preset = policy(r#"{ "invitationPage": "https://meet.example.org" }"#)
            .unwrap()
            .unwrap();
        let mut fresh = Settings::default();
        preset.apply(&mut fresh);
        assert_eq!(
            fresh.invitation_page.as_deref(),
            Some("https://meet.example.org")
        );
    }

    #[test]
    fn a_policy_that_cannot_work_is_refused_whole() {
        for (json, why) in [
            ("{ not json", "not a Conclave policy"),
            (r#"{ "meetingServr": "wss://x" }"#, "unknown field"),
            (r#"{ "meetingServer": "ftp://nowhere" }"#, ""),
            (r#"{ "iceServers": [{ "url": "turn:t.example.org" }] }"#, ""),
            (r#"{ "relayOnly": true }"#, ""),
            (r#"{ "trustedCa": "not a certificate" }"#, ""),
            (r#"{ "locked": ["trustedCa"] }"#, "without setting it"),
            (
                r#"{ "invitationPage": "http://meet.example.org" }"#,
                "https://",
            ),
            (r#"{ "locked": ["invitationPage"] }"#, "without setting it"),
            (r#"{ "locked": ["everything"] }"#, "unknown variant"),
        ] {
            let e = policy(json).expect_err(json);
            assert!(e.to_string().contains(why), "{json}: {e}");
        }
    }
}
