//! What the user chose to keep, and nothing else: settings in a small JSON file, and — only for
//! rooms the user asked to remember — each room's secret in the OS keyring. "Forget everything"
//! removes both. Meetings themselves leave no trace.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The keyring service name of Conclave's entries.
pub const SERVICE: &str = "eu.conclave.desktop";

/// What can go wrong with what the user keeps.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The settings file could not be read or written.
    #[error("settings file: {0}")]
    File(#[from] std::io::Error),
    /// The settings file is not ours, or damaged.
    #[error("settings file is damaged: {0}")]
    Damaged(#[from] serde_json::Error),
    /// The OS keyring refused.
    #[error("keyring: {0}")]
    Keyring(String),
    /// The link does not parse.
    #[error(transparent)]
    Link(#[from] conclave_room::LinkError),
    /// No room with that id is remembered.
    #[error("no such remembered room")]
    NoSuchRoom,
    /// Relay-only media needs a TURN server to relay it.
    #[error("media only through a TURN relay needs a TURN server")]
    RelayWithoutTurn,
    /// A STUN/TURN server that could never be used (malformed, or TURN without a login).
    #[error("{0}")]
    BadIceServer(String),
    /// The trusted certificate authority is not a PEM certificate.
    #[error(transparent)]
    BadCa(#[from] conclave::client::tls::TlsError),
    /// The invitation page is not an https:// address a join link can be made at.
    #[error("the invitation page must be an https:// address, such as https://meet.example.org")]
    BadInvitationPage,
}

impl From<conclave::client::UnusableIce> for SettingsError {
    fn from(unusable: conclave::client::UnusableIce) -> Self {
        match unusable {
            conclave::client::UnusableIce::BadServer(why) => SettingsError::BadIceServer(why),
            conclave::client::UnusableIce::NoTurnServer => SettingsError::RelayWithoutTurn,
        }
    }
}

/// A room the user asked to remember: everything but its secret (that is in the keyring).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedRoom {
    /// Random id, also the keyring entry's user name.
    pub id: String,
    /// The room's name, as the user sees it.
    pub room: String,
    /// The link without its fragment (the secret).
    pub link_without_secret: String,
}

/// The microphone's clean-up, all on unless the user turns it off (a studio microphone in a
/// quiet room).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Sound {
    /// Remove what the microphone hears of the speaker.
    pub echo_cancellation: bool,
    /// Suppress background noise.
    pub noise_suppression: bool,
    /// Adjust the microphone's level.
    pub gain_control: bool,
}

impl Default for Sound {
    fn default() -> Self {
        Sound::from(conclave_media::VoiceSettings::ON)
    }
}

impl From<conclave_media::VoiceSettings> for Sound {
    fn from(v: conclave_media::VoiceSettings) -> Self {
        Sound {
            echo_cancellation: v.echo_cancellation,
            noise_suppression: v.noise_suppression,
            gain_control: v.gain_control,
        }
    }
}

impl From<Sound> for conclave_media::VoiceSettings {
    fn from(s: Sound) -> Self {
        conclave_media::VoiceSettings {
            echo_cancellation: s.echo_cancellation,
            noise_suppression: s.noise_suppression,
            gain_control: s.gain_control,
        }
    }
}

/// The settings file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Settings {
    /// Default display name.
    pub name: String,
    /// "de" or "en"; `None` follows the OS.
    pub language: Option<String>,
    /// Preferred devices (picker ids).
    pub camera: Option<String>,
    /// Preferred microphone.
    pub microphone: Option<String>,
    /// Preferred speaker.
    pub speaker: Option<String>,
    /// STUN/TURN servers; none by default, so that no third party is contacted. A TURN
    /// server's password is kept in the keyring, never in the file.
    pub ice_servers: Vec<conclave::client::IceServer>,
    /// Media only through a TURN relay among `ice_servers`, so that the meeting server never
    /// learns this computer's addresses. Off by default.
    pub relay_only: bool,
    /// A certificate authority (PEM) to trust for meeting servers besides the system's: for
    /// organisations that run their own. None by default.
    pub trusted_ca: Option<String>,
    /// The meeting server (SFU address) that "New meeting" creates rooms at. None by default.
    pub meeting_server: Option<String>,
    /// Where the organisation hosts Conclave's join page (`assets/landing/join.html` at
    /// `<page>/join`): invitations then carry an https:// link any mail program opens, beside the
    /// conclave:// one. None by default.
    pub invitation_page: Option<String>,
    /// The microphone's clean-up.
    pub sound: Sound,
    /// Rooms the user asked to remember.
    pub rooms: Vec<SavedRoom>,
    /// Keep one identity key across meetings (its secret in the keyring), so that safety numbers
    /// stay the same from one meeting to the next. Off by default: a fresh key per meeting.
    pub keep_identity: bool,
    /// A short chime when someone joins or leaves the meeting. Off by default.
    pub join_sound: bool,
}

/// Whether `page` is an https:// address at which a join link's https form can be made (and read
/// back as the same link).
pub fn check_invitation_page(page: &str) -> Result<(), SettingsError> {
    let sample = conclave_room::JoinLink::generate("wss://meet.example.org/janus", None, None)?;
    let https = sample.to_https_url(page);
    match conclave_room::JoinLink::parse(&https) {
        Ok(back) if page.starts_with("https://") && back == sample => Ok(()),
        _ => Err(SettingsError::BadInvitationPage),
    }
}

/// The keyring entry of the kept identity key.
const IDENTITY: &str = "identity";

/// Where secrets are kept: the OS keyring in the app, something else in tests.
pub trait SecretStore: Send + Sync {
    /// Keeps `secret` under `id`.
    fn set(&self, id: &str, secret: &str) -> Result<(), SettingsError>;
    /// The secret under `id`.
    fn get(&self, id: &str) -> Result<String, SettingsError>;
    /// Removes `id`; removing what is not there is fine.
    fn delete(&self, id: &str) -> Result<(), SettingsError>;
}

/// The OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows).
pub struct Keyring;

fn keyring_error(e: keyring::Error) -> SettingsError {
    SettingsError::Keyring(e.to_string())
}

impl SecretStore for Keyring {
    fn set(&self, id: &str, secret: &str) -> Result<(), SettingsError> {
        keyring::Entry::new(SERVICE, id)
            .and_then(|e| e.set_password(secret))
            .map_err(keyring_error)
    }

    fn get(&self, id: &str) -> Result<String, SettingsError> {
        keyring::Entry::new(SERVICE, id)
            .and_then(|e| e.get_password())
            .map_err(keyring_error)
    }

    fn delete(&self, id: &str) -> Result<(), SettingsError> {
        match keyring::Entry::new(SERVICE, id).and_then(|e| e.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(e)),
        }
    }
}

/// The settings file and the secret store together, under the organisation's policy if any.
pub struct Store {
    path: PathBuf,
    secrets: Box<dyn SecretStore>,
    policy: Option<crate::policy::Policy>,
    /// Why the policy file could not be used.
    policy_problem: Option<String>,
}

/// The keyring entry of a STUN/TURN server's password: named by a digest of its URL and user
/// name, so that the entry's name tells nothing about the server.
fn credential_id(server: &conclave::client::IceServer) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{}\n{}", server.url, server.username).as_bytes(),
    );
    format!("turn-{}", hex::encode(&digest.as_ref()[..8]))
}

fn random_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    format!("room-{}", hex::encode(bytes))
}

impl Store {
    /// Settings in `dir/settings.json`; nothing is written until something is saved.
    pub fn new(dir: &Path, secrets: Box<dyn SecretStore>) -> Store {
        Store {
            path: dir.join("settings.json"),
            secrets,
            policy: None,
            policy_problem: None,
        }
    }

    /// Under the organisation's policy as loaded (`crate::policy`): one that could not be
    /// used is not applied, and its problem is kept for the settings dialog.
    pub fn with_policy(
        mut self,
        policy: Result<Option<crate::policy::Policy>, crate::policy::PolicyError>,
    ) -> Store {
        match policy {
            Ok(policy) => self.policy = policy,
            Err(e) => self.policy_problem = Some(e.to_string()),
        }
        self
    }

    /// What the settings dialog shows of the policy.
    pub fn policy_view(&self) -> crate::policy::PolicyView {
        crate::policy::PolicyView {
            locked: self
                .policy
                .as_ref()
                .map(|p| p.locked.clone())
                .unwrap_or_default(),
            problem: self.policy_problem.clone(),
        }
    }

    /// The settings in effect: the user's, under the organisation's policy.
    pub fn load(&self) -> Result<Settings, SettingsError> {
        let mut settings = self.load_own()?;
        if let Some(policy) = &self.policy {
            policy.apply(&mut settings);
        }
        Ok(settings)
    }

    /// The user's own settings (defaults if none were saved), TURN passwords from the keyring.
    fn load_own(&self) -> Result<Settings, SettingsError> {
        let mut settings = self.load_file()?;
        for server in &mut settings.ice_servers {
            // A password still in the file (written by an older version) stays until the next
            // save moves it; a keyring that cannot be read leaves it empty.
            if server.credential.is_empty()
                && let Ok(credential) = self.secrets.get(&credential_id(server))
            {
                server.credential = credential;
            }
        }
        Ok(settings)
    }

    fn load_file(&self) -> Result<Settings, SettingsError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Saves `settings` (atomically: a crash leaves the old file or the new one).
    pub fn save(&self, settings: &Settings) -> Result<(), SettingsError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = settings.clone();
        for server in &mut file.ice_servers {
            server.credential.clear();
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&file)?)?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }

    /// Saves everything but the rooms from `new`, keeping the remembered rooms as they are.
    pub fn save_preferences(&self, new: &Settings) -> Result<Settings, SettingsError> {
        conclave::client::IceServer::check_all(new.relay_only, &new.ice_servers)?;
        if let Some(pem) = new.trusted_ca.as_deref().filter(|p| !p.trim().is_empty()) {
            conclave::client::tls::parse_ca(pem.as_bytes())?;
        }
        if let Some(server) = new.meeting_server.as_deref() {
            conclave_room::SfuAddress::parse(server)?;
        }
        if let Some(page) = new.invitation_page.as_deref() {
            check_invitation_page(page)?;
        }
        let old = self.load_file()?;
        // What the organisation locks stays as the user's file had it.
        let mut new = new.clone();
        if let Some(policy) = &self.policy {
            policy.keep_locked(&mut new, &self.load_own()?);
        }
        // Passwords into the keyring first: should it refuse, nothing changes.
        let mut kept = Vec::new();
        for server in new.ice_servers.iter().filter(|s| !s.credential.is_empty()) {
            let id = credential_id(server);
            self.secrets.set(&id, &server.credential)?;
            kept.push(id);
        }
        // Then those of servers that are gone or have no password any more.
        for id in old.ice_servers.iter().map(credential_id) {
            if !kept.contains(&id) {
                self.secrets.delete(&id)?;
            }
        }
        let mut settings = new;
        settings.rooms = old.rooms;
        self.save(&settings)?;
        if let Some(policy) = &self.policy {
            policy.apply(&mut settings);
        }
        Ok(settings)
    }

    /// Remembers the room of `link`: the secret into the keyring, the rest into the file.
    pub fn remember(&self, link: &str) -> Result<SavedRoom, SettingsError> {
        let parsed = conclave_room::JoinLink::parse(link)?;
        let full = parsed.to_conclave_url();
        let (without, secret) =
            full.split_once('#')
                .ok_or(SettingsError::Link(conclave_room::LinkError::Shape(
                    "no secret".into(),
                )))?;
        let mut settings = self.load_file()?;
        // The same room again replaces the old entry.
        if let Some(old) = settings
            .rooms
            .iter()
            .position(|r| r.link_without_secret == without)
        {
            let old = settings.rooms.remove(old);
            self.secrets.delete(&old.id)?;
        }
        let room = SavedRoom {
            id: random_id(),
            room: parsed.room.clone(),
            link_without_secret: without.to_owned(),
        };
        self.secrets.set(&room.id, secret)?;
        settings.rooms.push(room.clone());
        self.save(&settings)?;
        Ok(room)
    }

    /// The full link of a remembered room.
    pub fn link(&self, id: &str) -> Result<String, SettingsError> {
        let settings = self.load_file()?;
        let room = settings
            .rooms
            .iter()
            .find(|r| r.id == id)
            .ok_or(SettingsError::NoSuchRoom)?;
        let secret = self.secrets.get(id)?;
        Ok(format!("{}#{secret}", room.link_without_secret))
    }

    /// The identity to meet with under `settings`: the kept one if the user asked to keep one
    /// (created on first use), else `None` (the caller draws a fresh one).
    pub fn identity(
        &self,
        settings: &Settings,
    ) -> Result<Option<conclave_group::Identity>, SettingsError> {
        if !settings.keep_identity {
            return Ok(None);
        }
        let bad = |e: conclave_group::SetupError| SettingsError::Keyring(e.to_string());
        if let Ok(kept) = self.secrets.get(IDENTITY)
            && let Ok(bytes) = hex::decode(kept.trim())
        {
            return conclave_group::Identity::from_secret(&bytes)
                .map(Some)
                .map_err(bad);
        }
        let fresh = conclave_group::Identity::generate().map_err(bad)?;
        self.secrets
            .set(IDENTITY, &hex::encode(fresh.secret_bytes().as_ref()))?;
        Ok(Some(fresh))
    }

    /// Forgets one room: its secret and its entry.
    pub fn forget(&self, id: &str) -> Result<(), SettingsError> {
        let mut settings = self.load_file()?;
        settings.rooms.retain(|r| r.id != id);
        self.secrets.delete(id)?;
        self.save(&settings)
    }

    /// Forgets everything: every remembered room's secret, then the settings file.
    pub fn forget_everything(&self) -> Result<(), SettingsError> {
        self.secrets.delete(IDENTITY)?;
        // A damaged file still names no secrets we could find: remove it regardless.
        if let Ok(settings) = self.load_file() {
            for room in &settings.rooms {
                self.secrets.delete(&room.id)?;
            }
            for server in &settings.ice_servers {
                self.secrets.delete(&credential_id(server))?;
            }
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    /// An in-memory secret store that lets the test look inside.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<HashMap<String, String>>>);

    impl SecretStore for Memory {
        fn set(&self, id: &str, secret: &str) -> Result<(), SettingsError> {
            self.0.lock().unwrap().insert(id.into(), secret.into());
            Ok(())
        }
        fn get(&self, id: &str) -> Result<String, SettingsError> {
            self.0
                .lock()
                .unwrap()
                .get(id)
                .cloned()
                .ok_or(SettingsError::Keyring("no entry".into()))
        }
        fn delete(&self, id: &str) -> Result<(), SettingsError> {
            self.0.lock().unwrap().remove(id);
            Ok(())
        }
    }

    const LINK: &str = "conclave://join?sfu=ws%3A%2F%2F127.0.0.1%3A8188&room=weekly\
                        #k=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn a_remembered_room_keeps_its_secret_only_in_the_secret_store() {
        let dir = std::env::temp_dir().join(format!("conclave-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let memory = Memory::default();
        let store = Store::new(&dir, Box::new(memory.clone()));
        assert_eq!(store.load().unwrap(), Settings::default());
        assert!(
            !dir.exists(),
            "nothing is written before the user keeps something"
        );

        let room = store.remember(LINK).unwrap();
        assert_eq!(room.room, "weekly");
        let file = std::fs::read_to_string(dir.join("settings.json")).unwrap();
        assert!(file.contains("weekly"));
        assert!(!file.contains("AAAAAAAA"), "no secret in the file: {file}");
        assert_eq!(memory.0.lock().unwrap().len(), 1);
        let link = store.link(&room.id).unwrap();
        assert_eq!(
            *conclave_room::JoinLink::parse(&link)
                .unwrap()
                .to_conclave_url(),
            *conclave_room::JoinLink::parse(LINK)
                .unwrap()
                .to_conclave_url()
        );

        // Remembering the same room again replaces it.
        store.remember(LINK).unwrap();
        assert_eq!(store.load().unwrap().rooms.len(), 1);
        assert_eq!(memory.0.lock().unwrap().len(), 1);

        // Preferences keep the rooms.
        let mut prefs = Settings {
            name: "Alice".into(),
            ..Settings::default()
        };
        prefs.rooms.clear();
        let saved = store.save_preferences(&prefs).unwrap();
        assert_eq!(saved.rooms.len(), 1);
        assert_eq!(store.load().unwrap().name, "Alice");

        store.forget_everything().unwrap();
        assert!(memory.0.lock().unwrap().is_empty(), "the secrets are gone");
        assert!(!dir.join("settings.json").exists(), "the file is gone");
        assert_eq!(store.load().unwrap(), Settings::default());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_kept_identity_is_the_same_in_every_meeting_until_forgotten() {
        let dir = std::env::temp_dir().join(format!("conclave-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let memory = Memory::default();
        let store = Store::new(&dir, Box::new(memory.clone()));
        assert!(
            store.identity(&store.load().unwrap()).unwrap().is_none(),
            "off by default"
        );
        assert!(memory.0.lock().unwrap().is_empty());
        let keep = store
            .save_preferences(&Settings {
                keep_identity: true,
                ..Settings::default()
            })
            .unwrap();
        let first = store.identity(&keep).unwrap().unwrap();
        let again = store.identity(&store.load().unwrap()).unwrap().unwrap();
        assert_eq!(first.public(), again.public());
        assert!(
            !std::fs::read_to_string(dir.join("settings.json"))
                .unwrap()
                .contains(&hex::encode(first.secret_bytes().as_ref()))
        );
        store.forget_everything().unwrap();
        assert!(memory.0.lock().unwrap().is_empty(), "the key is gone");
        let keep = store
            .save_preferences(&Settings {
                keep_identity: true,
                ..Settings::default()
            })
            .unwrap();
        let after = store.identity(&keep).unwrap().unwrap();
        assert_ne!(
            after.public(),
            first.public(),
            "a new identity after forgetting"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_trusted_ca_that_is_no_certificate_is_refused_and_nothing_saved() {
        let dir = std::env::temp_dir().join(format!("conclave-ca-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::new(&dir, Box::new(Memory::default()));
        let wish = Settings {
            trusted_ca: Some("not a certificate".into()),
            ..Settings::default()
        };
        assert!(matches!(
            store.save_preferences(&wish),
            Err(SettingsError::BadCa(_))
        ));
        assert!(!dir.exists(), "nothing saved");
    }

    #[test]
    fn an_invitation_page_must_be_an_https_address_a_link_reads_back_from() {
        for bad in [
            "meet.example.org",
            "http://meet.example.org",
            "https://meet.example.org/?x=1",
            "https://meet.example.org/#a",
        ] {
            assert!(
                matches!(
                    check_invitation_page(bad),
                    Err(SettingsError::BadInvitationPage)
                ),
                "{bad}"
            );
        }
        for good in [
            "https://meet.example.org",
            "https://meet.example.org/",
            "https://example.org/conclave",
        ] {
            check_invitation_page(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    #[test]
    fn a_meeting_server_that_is_no_address_is_refused_and_a_good_one_kept() {
        let dir = std::env::temp_dir().join(format!("conclave-server-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::new(&dir, Box::new(Memory::default()));
        let wish = |server: &str| Settings {
            meeting_server: Some(server.into()),
            ..Settings::default()
        };
        assert!(matches!(
            store.save_preferences(&wish("meet.example.org")),
            Err(SettingsError::Link(_))
        ));
        assert!(!dir.exists(), "nothing saved");
        let saved = store
            .save_preferences(&wish("wss://meet.example.org/janus"))
            .unwrap();
        assert_eq!(store.load().unwrap().meeting_server, saved.meeting_server);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn relay_only_is_refused_without_a_turn_server_and_kept_with_one() {
        let dir = std::env::temp_dir().join(format!("conclave-relay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::new(&dir, Box::new(Memory::default()));
        let server = |url: &str| conclave::client::IceServer {
            url: url.into(),
            ..Default::default()
        };
        let mut wish = Settings {
            relay_only: true,
            ice_servers: vec![server("stun:stun.example.org:3478")],
            ..Settings::default()
        };
        assert!(matches!(
            store.save_preferences(&wish),
            Err(SettingsError::RelayWithoutTurn)
        ));
        assert!(!dir.exists(), "nothing saved");
        // A TURN server without its login could never relay: refused too.
        wish.ice_servers
            .push(server("turn:turn.example.org:3478?transport=udp"));
        assert!(matches!(
            store.save_preferences(&wish),
            Err(SettingsError::BadIceServer(why)) if why.contains("user name and password")
        ));
        assert!(!dir.exists(), "nothing saved");
        wish.ice_servers[1].username = "alice".into();
        wish.ice_servers[1].credential = "pa55".into();
        store.save_preferences(&wish).unwrap();
        assert!(store.load().unwrap().relay_only);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_turn_password_lives_in_the_secret_store_and_goes_with_its_server() {
        let dir = std::env::temp_dir().join(format!("conclave-turn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let memory = Memory::default();
        let store = Store::new(&dir, Box::new(memory.clone()));
        let turn = conclave::client::IceServer {
            url: "turn:turn.example.org:3478?transport=udp".into(),
            username: "alice".into(),
            credential: "pa55word".into(),
        };
        let stun = conclave::client::IceServer {
            url: "stun:stun.example.org:3478".into(),
            ..Default::default()
        };
        let saved = store
            .save_preferences(&Settings {
                ice_servers: vec![turn.clone(), stun.clone()],
                ..Settings::default()
            })
            .unwrap();
        assert_eq!(saved.ice_servers, vec![turn.clone(), stun.clone()]);
        let file = std::fs::read_to_string(dir.join("settings.json")).unwrap();
        assert!(
            file.contains("turn.example.org") && file.contains("alice"),
            "{file}"
        );
        assert!(
            !file.contains("pa55word"),
            "no password in the file: {file}"
        );
        assert_eq!(memory.0.lock().unwrap().len(), 1);
        // Loading (for the page and for joining) brings it back; a remembered room keeps it.
        assert_eq!(store.load().unwrap().ice_servers[0].credential, "pa55word");
        store.remember(LINK).unwrap();
        assert_eq!(store.load().unwrap().ice_servers[0].credential, "pa55word");
        assert!(
            !std::fs::read_to_string(dir.join("settings.json"))
                .unwrap()
                .contains("pa55word")
        );

        // Removing the server removes its password.
        store
            .save_preferences(&Settings {
                ice_servers: vec![stun.clone()],
                ..Settings::default()
            })
            .unwrap();
        assert_eq!(
            memory.0.lock().unwrap().len(),
            1,
            "only the room's secret is left"
        );

        // Forget everything takes a kept password too.
        store
            .save_preferences(&Settings {
                ice_servers: vec![turn.clone()],
                ..Settings::default()
            })
            .unwrap();
        assert_eq!(memory.0.lock().unwrap().len(), 2);
        store.forget_everything().unwrap();
        assert!(memory.0.lock().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_password_left_in_an_older_file_still_works_and_moves_to_the_secret_store() {
        let dir = std::env::temp_dir().join(format!("conclave-oldturn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("settings.json"),
            r#"{"iceServers":[{"url":"turn:t.example.org","username":"u","credential":"0ld-pa55"}]}"#,
        )
        .unwrap();
        let memory = Memory::default();
        let store = Store::new(&dir, Box::new(memory.clone()));
        let settings = store.load().unwrap();
        assert_eq!(settings.ice_servers[0].credential, "0ld-pa55");
        store.save_preferences(&settings).unwrap();
        assert!(
            !std::fs::read_to_string(dir.join("settings.json"))
                .unwrap()
                .contains("0ld-pa55")
        );
        assert_eq!(store.load().unwrap().ice_servers[0].credential, "0ld-pa55");
        assert_eq!(memory.0.lock().unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_settings_file_is_an_error_and_can_still_be_forgotten() {
        let dir = std::env::temp_dir().join(format!("conclave-damaged-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("settings.json"), b"{not json").unwrap();
        let store = Store::new(&dir, Box::new(Memory::default()));
        assert!(matches!(store.load(), Err(SettingsError::Damaged(_))));
        store.forget_everything().unwrap();
        assert!(!dir.join("settings.json").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
