#!/usr/bin/env python3
"""Regenerate the DEMO keys of the Donbas example (deterministic).

These keys are published on purpose so that anyone can run and reproduce the demo.
They protect nothing: never use them, or keys derived the same way, for anything real.

Each key is an Ed25519 key in the signed-note encodings of DESIGN.md section 3
(as in Go's golang.org/x/mod/sumdb/note):

  seed    = SHA-256(b"truce demo key " + name)                 (32 bytes)
  keyid   = SHA-256(name || 0x0A || 0x01 || public key)[:4]     (8 hex digits)
  vkey    = <name>+<keyid>+<base64(0x01 || public key)>
  private = PRIVATE+KEY+<name>+<keyid>+<base64(0x01 || seed)>

Usage:
  python3 generate.py            write <name>.key next to this script, print the vkeys
  python3 generate.py --check    regenerate in memory and compare with the files present
                                 and with the vkeys in ../agreement.toml (exit 1 on mismatch)

Needs the `cryptography` package.
"""
import base64
import hashlib
import pathlib
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# key name -> party id in ../agreement.toml
NAMES = {
    "ukraine": "UA",
    "russia": "RU",
    "germany": "DE",
    "france": "FR",
    "osce": "OSCE",
}

HERE = pathlib.Path(__file__).resolve().parent


def derive(name: str):
    """Return (vkey, private key file text) for the demo key `name`."""
    if not name or " " in name or "+" in name:
        raise ValueError(f"invalid key name {name!r}")
    seed = hashlib.sha256(b"truce demo key " + name.encode()).digest()
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    keyid = hashlib.sha256(name.encode() + b"\n" + b"\x01" + public).digest()[:4].hex()
    pub_b64 = base64.b64encode(b"\x01" + public).decode()
    seed_b64 = base64.b64encode(b"\x01" + seed).decode()
    vkey = f"{name}+{keyid}+{pub_b64}"
    private = f"PRIVATE+KEY+{name}+{keyid}+{seed_b64}\n"
    return vkey, private


def check() -> int:
    import tomllib

    doc = tomllib.loads((HERE.parent / "agreement.toml").read_text(encoding="utf-8"))
    keys_in_doc = {p["id"]: p.get("key") for p in doc["parties"]}
    bad = 0
    for name, party in NAMES.items():
        vkey, private = derive(name)
        ok = True
        path = HERE / f"{name}.key"
        if not path.exists() or path.read_text(encoding="utf-8") != private:
            print(f"MISMATCH {path.name}: file missing or differs from the derivation")
            ok = False
        if keys_in_doc.get(party) != vkey:
            print(f"MISMATCH party {party}: agreement.toml key {keys_in_doc.get(party)!r}, expected {vkey!r}")
            ok = False
        if ok:
            print(f"ok {party:5} {vkey}")
        else:
            bad += 1
    return 1 if bad else 0


def main() -> int:
    if "--check" in sys.argv[1:]:
        return check()
    for name, party in NAMES.items():
        vkey, private = derive(name)
        (HERE / f"{name}.key").write_text(private, encoding="utf-8")
        print(f"{party:5} {vkey}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
