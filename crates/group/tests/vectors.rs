//! The test vectors of docs/PROTOCOL.md (`tests/data/key-agreement-vectors.json`): the handshake
//! key, a whole handshake with fixed keys, a sealed sender-key message, safety number and group
//! code. Regenerate with `CONCLAVE_WRITE_VECTORS=1 cargo test -p conclave-group --test vectors`
//! only when the protocol version changes.

use conclave_group::handshake::{Initiating, Psk, Responding};
use conclave_group::wire::{Body, Inner, Message};
use conclave_group::{GroupCode, Identity, commitment, safety_number, view_of};
use serde_json::{Value, json};
use zeroize::Zeroizing;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/key-agreement-vectors.json"
);

fn h(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn compute() -> Value {
    let secret = [0x42u8; 32];
    let room = "board-meeting";
    let psk = Psk::derive(&secret, room);
    let alice = Identity::from_secret(&[0xa1; 32]).unwrap();
    let bob = Identity::from_secret(&[0xb0; 32]).unwrap();
    let (a_id, b_id) = (1000u64, 2000u64);
    let (ea, eb) = ([0xe1u8; 32], [0xe2u8; 32]);

    let init = Initiating::start(&alice, &psk, a_id, b_id, Some(&ea)).unwrap();
    let m1 = init.message1.clone();
    let resp = Responding::answer(&bob, &psk, b_id, a_id, &m1, Some(&eb)).unwrap();
    let m2 = resp.message2.clone();
    let (mut open_a, m3) = init.finish(b_id, &m2).unwrap();
    let mut open_b = resp.finish(a_id, &m3).unwrap();

    let key = Inner::SenderKey {
        generation: 1,
        step: 0,
        key: Zeroizing::new(vec![0x5a; 32]),
        signer: [0x5b; 32],
    };
    let (nonce, ciphertext) = open_a.seal(&key.encode());
    let sealed = Message {
        from: a_id,
        to: b_id,
        body: Body::Sealed { nonce, ciphertext },
    }
    .encode();
    // It must open on the other side.
    let Body::Sealed { nonce, ciphertext } = Message::decode(&sealed).unwrap().body else {
        unreachable!()
    };
    assert_eq!(
        Inner::decode(&open_b.open(a_id, nonce, &ciphertext).unwrap()).unwrap(),
        key
    );

    let wire = |step: u8, noise: &[u8], from: u64, to: u64| {
        h(&Message {
            from,
            to,
            body: Body::Handshake {
                step,
                noise: noise.to_vec(),
            },
        }
        .encode())
    };
    // The group-code round (docs/PROTOCOL.md §7) with fixed nonces.
    let (na, nb) = ([0x1a; 32], [0x1b; 32]);
    let view = view_of(&[*alice.public(), *bob.public()]);
    let code = GroupCode::of(&[(*alice.public(), na), (*bob.public(), nb)]);
    json!({
        "noise_protocol": conclave_group::handshake::NOISE_PARAMS,
        "room_secret": h(&secret),
        "room": room,
        "psk": h(psk.expose_secret()),
        "alice": { "id": a_id, "identity_secret": h(&[0xa1; 32]), "identity_public": h(alice.public()), "ephemeral_secret": h(&ea) },
        "bob": { "id": b_id, "identity_secret": h(&[0xb0; 32]), "identity_public": h(bob.public()), "ephemeral_secret": h(&eb) },
        "prologue": h(&conclave_group::handshake::prologue(a_id, b_id)),
        "message1": wire(1, &m1, a_id, b_id),
        "message2": wire(2, &m2, b_id, a_id),
        "message3": wire(3, &m3, a_id, b_id),
        "sender_key_plaintext": h(&key.encode()),
        "sealed_sender_key": h(&sealed),
        "safety_number": safety_number(alice.public(), bob.public()),
        "group_view": h(&view),
        "alice_code_nonce": h(&na),
        "alice_code_commitment": h(&commitment(&view, alice.public(), &na)),
        "bob_code_nonce": h(&nb),
        "bob_code_commitment": h(&commitment(&view, bob.public(), &nb)),
        "group_code": code.digits,
        "group_code_emoji": code.emoji,
    })
}

#[test]
fn the_published_vectors_still_hold() {
    let computed = compute();
    if std::env::var_os("CONCLAVE_WRITE_VECTORS").is_some() {
        std::fs::write(
            PATH,
            serde_json::to_string_pretty(&computed).unwrap() + "\n",
        )
        .unwrap();
    }
    let published: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH).expect("vectors are committed"))
            .unwrap();
    assert_eq!(published, computed);
}
