#!/usr/bin/env python3
"""Checks tests/data/key-agreement-vectors.json against an independent Noise implementation
(the `noiseprotocol` package from PyPI): it must produce the same three handshake messages from
the same keys and decrypt the sealed sender key. Run: pip install noiseprotocol==0.3.1 &&
python3 tests/interop/noise_vectors.py"""
import hashlib
import json
import pathlib
import sys
import warnings

from noise.connection import Keypair, NoiseConnection

# Fixed ephemeral keys are what test vectors are for.
warnings.filterwarnings("ignore", message="One of ephemeral keypairs")

HEADER = 18  # version, type, from, to (docs/PROTOCOL.md §5)
v = json.loads((pathlib.Path(__file__).parent.parent / "data/key-agreement-vectors.json").read_text())
H = bytes.fromhex


def party(initiator, who):
    c = NoiseConnection.from_name(v["noise_protocol"].encode())
    c.set_psks(H(v["psk"]))
    c.set_prologue(H(v["prologue"]))
    c.set_keypair_from_private_bytes(Keypair.STATIC, H(who["identity_secret"]))
    c.set_keypair_from_private_bytes(Keypair.EPHEMERAL, H(who["ephemeral_secret"]))
    c.set_as_initiator() if initiator else c.set_as_responder()
    c.start_handshake()
    return c


alice, bob = party(True, v["alice"]), party(False, v["bob"])
m1 = alice.write_message()
bob.read_message(m1)
m2 = bob.write_message()
alice.read_message(m2)
m3 = alice.write_message()
bob.read_message(m3)
sealed = H(v["sealed_sender_key"])
plain = bob.decrypt(sealed[HEADER + 8:])  # nonce 0, the first transport message


def sha256(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


# The group-code round (docs/PROTOCOL.md section 7), recomputed from its specification.
ka, kb = H(v["alice"]["identity_public"]), H(v["bob"]["identity_public"])
na, nb = H(v["alice_code_nonce"]), H(v["bob_code_nonce"])
view = sha256(b"conclave/2 group view", (2).to_bytes(4, "big"), *sorted([ka, kb]))
code_hash = sha256(
    b"conclave/2 group code", (2).to_bytes(4, "big"), *(k + n for k, n in sorted([(ka, na), (kb, nb)]))
)
digits = " ".join(
    f"{int.from_bytes(code_hash[i:i + 4], 'big') % 10000:04}" for i in range(0, 20, 4)
)
checks = {
    "group view": view == H(v["group_view"]),
    "alice's commitment": sha256(b"conclave/2 code commitment", view, ka, na)
    == H(v["alice_code_commitment"]),
    "bob's commitment": sha256(b"conclave/2 code commitment", view, kb, nb)
    == H(v["bob_code_commitment"]),
    "group code": digits == v["group_code"] and [b & 63 for b in code_hash[20:27]] == v["group_code_emoji"],
    "message1": m1 == H(v["message1"])[HEADER:],
    "message2": m2 == H(v["message2"])[HEADER:],
    "message3": m3 == H(v["message3"])[HEADER:],
    "sealed sender key": plain == H(v["sender_key_plaintext"]),
}
for name, ok in checks.items():
    print(f"{name}: {'ok' if ok else 'MISMATCH'}")
sys.exit(0 if all(checks.values()) else 1)
