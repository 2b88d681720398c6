//! What people compare to know that nobody sits in the middle: a safety number per pair of
//! participants and one group code for everyone in the meeting (docs/PROTOCOL.md,
//! "Verification").
//!
//! The safety number is SHA-256 over the two identity keys. The group code is SHA-256 over every
//! member's identity key and a random nonce each member contributes in a commit-and-reveal round
//! (docs/PROTOCOL.md §7): everyone computes the same value from the same membership, any
//! substituted key changes it, and since nobody reveals a nonce before every member's commitment
//! has arrived, nobody can choose keys or nonces to make two different groups show the same code.

use ring::digest::{SHA256, digest};

const SAFETY_LABEL: &[u8] = b"conclave/1 safety number";
const GROUP_LABEL: &[u8] = b"conclave/2 group code";
const VIEW_LABEL: &[u8] = b"conclave/2 group view";
const COMMIT_LABEL: &[u8] = b"conclave/2 code commitment";

/// The hash naming one membership: SHA-256 over the sorted, deduplicated identity keys.
pub fn view_of(keys: &[[u8; 32]]) -> [u8; 32] {
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut input = VIEW_LABEL.to_vec();
    input.extend_from_slice(&count(sorted.len()));
    for k in &sorted {
        input.extend_from_slice(k);
    }
    sha256(&input)
}

/// A member's commitment to its nonce for the round of `view`.
pub fn commitment(view: &[u8; 32], identity: &[u8; 32], nonce: &[u8; 32]) -> [u8; 32] {
    let mut input = COMMIT_LABEL.to_vec();
    input.extend_from_slice(view);
    input.extend_from_slice(identity);
    input.extend_from_slice(nonce);
    sha256(&input)
}

fn sha256(input: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, input).as_ref());
    out
}

fn count(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes()
}

/// 64 pictures for the spoken form of the group code: (emoji, English name, German name).
pub const EMOJI: [(&str, &str, &str); 64] = [
    ("🐶", "dog", "Hund"),
    ("🐱", "cat", "Katze"),
    ("🦁", "lion", "Löwe"),
    ("🐴", "horse", "Pferd"),
    ("🦄", "unicorn", "Einhorn"),
    ("🐷", "pig", "Schwein"),
    ("🐘", "elephant", "Elefant"),
    ("🐰", "rabbit", "Hase"),
    ("🐼", "panda", "Panda"),
    ("🐓", "rooster", "Hahn"),
    ("🐧", "penguin", "Pinguin"),
    ("🐢", "turtle", "Schildkröte"),
    ("🐟", "fish", "Fisch"),
    ("🐙", "octopus", "Oktopus"),
    ("🦋", "butterfly", "Schmetterling"),
    ("🌷", "tulip", "Tulpe"),
    ("🌳", "tree", "Baum"),
    ("🌵", "cactus", "Kaktus"),
    ("🍄", "mushroom", "Pilz"),
    ("🌏", "globe", "Globus"),
    ("🌙", "moon", "Mond"),
    ("☁️", "cloud", "Wolke"),
    ("🔥", "fire", "Feuer"),
    ("🍌", "banana", "Banane"),
    ("🍎", "apple", "Apfel"),
    ("🍓", "strawberry", "Erdbeere"),
    ("🌽", "corn", "Mais"),
    ("🍕", "pizza", "Pizza"),
    ("🎂", "cake", "Kuchen"),
    ("❤️", "heart", "Herz"),
    ("😀", "smiley", "Smiley"),
    ("🤖", "robot", "Roboter"),
    ("🎩", "hat", "Hut"),
    ("👓", "glasses", "Brille"),
    ("🔧", "spanner", "Schraubenschlüssel"),
    ("🎅", "santa", "Weihnachtsmann"),
    ("👍", "thumbs up", "Daumen hoch"),
    ("☂️", "umbrella", "Regenschirm"),
    ("⌛", "hourglass", "Sanduhr"),
    ("⏰", "clock", "Wecker"),
    ("🎁", "gift", "Geschenk"),
    ("💡", "light bulb", "Glühbirne"),
    ("📕", "book", "Buch"),
    ("✏️", "pencil", "Bleistift"),
    ("📎", "paperclip", "Büroklammer"),
    ("✂️", "scissors", "Schere"),
    ("🔒", "lock", "Schloss"),
    ("🔑", "key", "Schlüssel"),
    ("🔨", "hammer", "Hammer"),
    ("☎️", "telephone", "Telefon"),
    ("🏁", "flag", "Flagge"),
    ("🚂", "train", "Zug"),
    ("🚲", "bicycle", "Fahrrad"),
    ("✈️", "aeroplane", "Flugzeug"),
    ("🚀", "rocket", "Rakete"),
    ("🏆", "trophy", "Pokal"),
    ("⚽", "ball", "Ball"),
    ("🎸", "guitar", "Gitarre"),
    ("🎺", "trumpet", "Trompete"),
    ("🔔", "bell", "Glocke"),
    ("⚓", "anchor", "Anker"),
    ("🎧", "headphones", "Kopfhörer"),
    ("📁", "folder", "Ordner"),
    ("📌", "pin", "Stecknadel"),
];

/// The safety number of two participants: 30 digits in six groups, the same on both sides.
pub fn safety_number(a: &[u8; 32], b: &[u8; 32]) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut input = SAFETY_LABEL.to_vec();
    input.extend_from_slice(low);
    input.extend_from_slice(high);
    digit_groups(digest(&SHA256, &input).as_ref(), 6, 5)
}

/// The group code of a meeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupCode {
    /// 20 digits in five groups of four, e.g. `"0412 7730 5121 0098 3346"`.
    pub digits: String,
    /// Seven indices into [`EMOJI`] (42 bits), the form that is easiest to read out.
    pub emoji: [u8; 7],
}

impl GroupCode {
    /// The code over every member's (identity key, revealed nonce); order does not matter,
    /// duplicates count once.
    pub fn of(members: &[([u8; 32], [u8; 32])]) -> GroupCode {
        let mut sorted = members.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut input = GROUP_LABEL.to_vec();
        input.extend_from_slice(&count(sorted.len()));
        for (key, nonce) in &sorted {
            input.extend_from_slice(key);
            input.extend_from_slice(nonce);
        }
        let hash = sha256(&input);
        let mut emoji = [0u8; 7];
        for (e, b) in emoji.iter_mut().zip(&hash[20..27]) {
            *e = b & 63;
        }
        GroupCode {
            digits: digit_groups(&hash[..20], 5, 4),
            emoji,
        }
    }

    /// The emoji as a string, e.g. for a badge.
    pub fn emoji_string(&self) -> String {
        self.emoji
            .iter()
            .map(|&i| EMOJI[usize::from(i)].0)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The emoji's names in English or German (`"de"`), for reading aloud and screen readers.
    pub fn emoji_names(&self, language: &str) -> Vec<&'static str> {
        self.emoji
            .iter()
            .map(|&i| {
                let (_, en, de) = EMOJI[usize::from(i)];
                if language == "de" { de } else { en }
            })
            .collect()
    }
}

/// `groups` groups of `digits` decimal digits, each from 4 bytes of `hash` (bias < 2^-18).
fn digit_groups(hash: &[u8], groups: usize, digits: u32) -> String {
    hash.chunks_exact(4)
        .take(groups)
        .map(|c| {
            let n = u32::from_be_bytes([c[0], c[1], c[2], c[3]]) % 10u32.pow(digits);
            format!("{n:0width$}", width = digits as usize)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_symmetric_and_change_with_any_key() {
        let (a, b, c) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        assert_eq!(safety_number(&a, &b), safety_number(&b, &a));
        assert_ne!(safety_number(&a, &b), safety_number(&a, &c));
        let s = safety_number(&a, &b);
        assert_eq!(s.len(), 6 * 5 + 5, "{s}");
        assert!(
            s.split(' ')
                .all(|g| g.len() == 5 && g.bytes().all(|d| d.is_ascii_digit()))
        );

        let n = [9u8; 32];
        let abc = GroupCode::of(&[(a, n), (b, n), (c, n)]);
        assert_eq!(abc, GroupCode::of(&[(c, n), (a, n), (b, n)]));
        assert_eq!(abc, GroupCode::of(&[(c, n), (a, n), (b, n), (a, n)]));
        assert_ne!(abc, GroupCode::of(&[(a, n), (b, n)]));
        let mut c2 = c;
        c2[31] ^= 1;
        assert_ne!(abc.digits, GroupCode::of(&[(a, n), (b, n), (c2, n)]).digits);
        let mut n2 = n;
        n2[0] ^= 1;
        assert_ne!(abc.digits, GroupCode::of(&[(a, n), (b, n), (c, n2)]).digits);
        assert_eq!(view_of(&[a, b, c]), view_of(&[c, b, a, b]));
        assert_ne!(view_of(&[a, b, c]), view_of(&[a, b]));
        assert_ne!(commitment(&[0; 32], &a, &n), commitment(&[0; 32], &b, &n));
        assert_ne!(commitment(&[0; 32], &a, &n), commitment(&[1; 32], &a, &n));
        assert_eq!(abc.digits.len(), 5 * 4 + 4);
        assert_eq!(abc.emoji_names("de").len(), 7);
        assert_eq!(abc.emoji_string().split(' ').count(), 7);
    }

    #[test]
    fn the_group_code_matches_its_specification() {
        // docs/PROTOCOL.md: SHA-256("conclave/2 group code" || u32 count || sorted
        // (identity || nonce)).
        let keys = [([0x22u8; 32], [0x33u8; 32]), ([0x11u8; 32], [0x44u8; 32])];
        let mut input = b"conclave/2 group code".to_vec();
        input.extend_from_slice(&2u32.to_be_bytes());
        input.extend_from_slice(&[0x11; 32]);
        input.extend_from_slice(&[0x44; 32]);
        input.extend_from_slice(&[0x22; 32]);
        input.extend_from_slice(&[0x33; 32]);
        let hash = digest(&SHA256, &input);
        let first = u32::from_be_bytes(hash.as_ref()[..4].try_into().unwrap()) % 10_000;
        let code = GroupCode::of(&keys);
        assert_eq!(&code.digits[..4], format!("{first:04}"));
        assert_eq!(code.emoji[0], hash.as_ref()[20] & 63);
    }

    #[test]
    fn the_emoji_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for (e, en, de) in EMOJI {
            assert!(seen.insert(e) && !en.is_empty() && !de.is_empty(), "{e}");
        }
    }
}
