#!/usr/bin/env python3
"""Independent known-answer vectors for truce-log's signed notes, checkpoints,
cosignatures and tlog-proofs (tests/notes_vectors.rs hard-codes the output).

Written from the C2SP specs (signed-note, tlog-checkpoint, tlog-cosignature,
tlog-proof) and RFC 6962 with nothing but Python's standard library and the
`cryptography` package, so that a shared misreading between the Rust code and
its tests cannot go unnoticed. Run: python3 crates/truce-log/tests/notes_vectors.py
"""
import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def key(name: str, seed: bytes, alg: int):
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    pub = sk.public_key().public_bytes_raw()
    kid = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + pub).digest()[:4]
    vkey = f"{name}+{kid.hex()}+{b64(bytes([alg]) + pub)}"
    skey = f"PRIVATE+KEY+{name}+{kid.hex()}+{b64(bytes([alg]) + seed)}"
    return sk, kid, vkey, skey


def leaf_hash(d: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + d).digest()


def node(l: bytes, r: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + l + r).digest()


def mth(hs):
    # RFC 6962 2.1: split at the largest power of two smaller than n.
    if len(hs) == 1:
        return hs[0]
    k = 1
    while k * 2 < len(hs):
        k *= 2
    return node(mth(hs[:k]), mth(hs[k:]))


def path(m: int, hs):
    # RFC 6962 2.1.1 PATH(m, D[n]), leaf's sibling first.
    if len(hs) == 1:
        return []
    k = 1
    while k * 2 < len(hs):
        k *= 2
    if m < k:
        return path(m, hs[:k]) + [mth(hs[k:])]
    return path(m - k, hs[k:]) + [mth(hs[:k])]


LOG_NAME = "truce.example/log"
LOG_SEED = hashlib.sha256(b"truce-log test log key").digest()
WIT_NAME = "witness.truce.example/w1"
WIT_SEED = hashlib.sha256(b"truce-log test witness key").digest()
TIME = 1700000000

log_sk, log_kid, log_vkey, log_skey = key(LOG_NAME, LOG_SEED, 0x01)
wit_sk, wit_kid, wit_vkey, wit_skey = key(WIT_NAME, WIT_SEED, 0x04)

leaves = [leaf_hash(f"entry {i}".encode()) for i in range(7)]
root = mth(leaves)
body = f"{LOG_NAME}\n{len(leaves)}\n{b64(root)}\n"

log_sig = log_sk.sign(body.encode())
cosig_msg = f"cosignature/v1\ntime {TIME}\n".encode() + body.encode()
wit_sig = wit_sk.sign(cosig_msg)

log_line = f"— {LOG_NAME} {b64(log_kid + log_sig)}\n"
wit_line = f"— {WIT_NAME} {b64(wit_kid + TIME.to_bytes(8, 'big') + wit_sig)}\n"
note = body + "\n" + log_line + wit_line

INDEX = 5
proof_hashes = path(INDEX, leaves)
extra = b"truce receipt"
proof = (
    "c2sp.org/tlog-proof@v1\n"
    + f"extra {b64(extra)}\n"
    + f"index {INDEX}\n"
    + "".join(b64(h) + "\n" for h in proof_hashes)
    + "\n"
    + note
)

print("LOG_SEED   ", LOG_SEED.hex())
print("LOG_VKEY   ", log_vkey)
print("LOG_SKEY   ", log_skey)
print("WIT_SEED   ", WIT_SEED.hex())
print("WIT_VKEY   ", wit_vkey)
print("WIT_SKEY   ", wit_skey)
print("LEAF_HASH  ", leaves[INDEX].hex())
print("--- note ---")
print(note, end="")
print("--- proof ---")
print(proof, end="")
