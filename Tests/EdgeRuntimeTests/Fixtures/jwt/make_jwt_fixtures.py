#!/usr/bin/env python3
"""Generates the JWT/JWKS fixtures for EdgeRuntimeTests, independently of the Swift code.

    cd Tests/EdgeRuntimeTests/Fixtures/jwt
    python3 make_jwt_fixtures.py > jwt-fixtures.json

Tools: Python 3.11, `cryptography` 48.0.0 (keys, raw signatures for hand-made attack tokens)
and `joserfc` 1.6.5 (JWK export and JWT signing of the well-formed tokens).

Keys are test-only and committed as PKCS#8 PEM in `keys/`; when a PEM is missing it is
generated (RSA-2048, e=65537; P-256; P-384; Ed25519). With the committed keys, RS*, and EdDSA
tokens are reproduced byte for byte; ES* and PS256 signatures are randomised, so they differ
on every run (still valid).
"""
import base64
import hashlib
import hmac
import json
import os
import warnings

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

warnings.simplefilter("ignore")  # joserfc warns that "EdDSA" is deprecated by RFC 9864

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "keys")
NOW = 1_800_000_000          # the tests' ManualClock default (2027-01-15T08:00:00Z)
FAR = 4_000_000_000          # far-future exp (2096)
ISSUER = "https://issuer.test"
AUDIENCE = "edge-api"


def load_or_make(name, make):
    path = os.path.join(KEYS, name + ".pem")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return serialization.load_pem_private_key(f.read(), password=None)
    key = make()
    os.makedirs(KEYS, exist_ok=True)
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return key


rsa1 = load_or_make("rsa-1", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
rsa2 = load_or_make("rsa-2", lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
p256 = load_or_make("ec-p256", lambda: ec.generate_private_key(ec.SECP256R1()))
p384 = load_or_make("ec-p384", lambda: ec.generate_private_key(ec.SECP384R1()))
ed = load_or_make("ed-1", lambda: ed25519.Ed25519PrivateKey.generate())


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


J_RSA1 = RSAKey.import_key(pem(rsa1))
J_RSA2 = RSAKey.import_key(pem(rsa2))
J_P256 = ECKey.import_key(pem(p256))
J_P384 = ECKey.import_key(pem(p384))
J_ED = OKPKey.import_key(pem(ed))


def public_jwk(key, **extra):
    d = key.as_dict(private=False)
    d = {k: v for k, v in d.items() if k in ("kty", "crv", "n", "e", "x", "y")}
    d.update(extra)
    return d


# rsa-1 has no "alg" (usable for RS256/384/512 and PS256); rsa-rs256 is the same key pinned to RS256.
JWKS = {"keys": [
    public_jwk(J_RSA1, kid="rsa-1", use="sig"),
    public_jwk(J_RSA1, kid="rsa-rs256", alg="RS256", use="sig"),
    public_jwk(J_P256, kid="ec-p256", alg="ES256", use="sig"),
    public_jwk(J_P384, kid="ec-p384", alg="ES384", use="sig"),
    public_jwk(J_ED, kid="ed-1", alg="EdDSA", use="sig"),
]}
JWKS_ROTATED = {"keys": JWKS["keys"] + [public_jwk(J_RSA2, kid="rsa-2", alg="RS256", use="sig")]}


def claims(**over):
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user_123", "iat": NOW - 60, "nbf": NOW - 60, "exp": FAR}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def sign(alg, kid, key, **over):
    return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims(**over), key, algorithms=[alg])


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj):
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def raw_rs256(header, payload, key=rsa1):
    signing_input = (b64json(header) + "." + b64json(payload)).encode()
    sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode() + "." + b64(sig)


valid = {
    "RS256": sign("RS256", "rsa-1", J_RSA1),
    "RS384": sign("RS384", "rsa-1", J_RSA1),
    "RS512": sign("RS512", "rsa-1", J_RSA1),
    "PS256": sign("PS256", "rsa-1", J_RSA1),
    "ES256": sign("ES256", "ec-p256", J_P256),
    "ES384": sign("ES384", "ec-p384", J_P384),
    "EdDSA": sign("EdDSA", "ed-1", J_ED),
}

rs = valid["RS256"]
h, p, s = rs.split(".")
rsa_public_pem = rsa1.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
hs_header = b64json({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"})
hs_input = hs_header + "." + b64json(claims())
hs_token = hs_input + "." + b64(hmac.new(rsa_public_pem, hs_input.encode(), hashlib.sha256).digest())
other_payload = b64json(claims(sub="admin"))

cases = {
    # Attacks and bad claims: `expect` is the AuthError reason the verifier must give.
    "alg_none": {"token": b64json({"alg": "none", "kid": "rsa-1"}) + "." + b64json(claims()) + ".",
                 "expect": "algorithm not allowed"},
    "hs256_with_rsa_public_key": {"token": hs_token, "expect": "algorithm not allowed"},
    "expired": {"token": sign("RS256", "rsa-1", J_RSA1, exp=NOW - 3600), "expect": "token expired"},
    "expired_within_tolerance": {"token": sign("RS256", "rsa-1", J_RSA1, exp=NOW - 3), "expect": "ok"},
    "expired_beyond_tolerance": {"token": sign("RS256", "rsa-1", J_RSA1, exp=NOW - 6), "expect": "token expired"},
    "nbf_future": {"token": sign("RS256", "rsa-1", J_RSA1, nbf=NOW + 3600), "expect": "token not yet valid"},
    "iat_future": {"token": sign("RS256", "rsa-1", J_RSA1, iat=NOW + 3600, nbf=None), "expect": "token issued in the future"},
    "no_exp": {"token": sign("RS256", "rsa-1", J_RSA1, exp=None), "expect": "token has no expiry"},
    "wrong_iss": {"token": sign("RS256", "rsa-1", J_RSA1, iss="https://evil.test"), "expect": "invalid issuer"},
    "wrong_aud": {"token": sign("RS256", "rsa-1", J_RSA1, aud="other-api"), "expect": "invalid audience"},
    "aud_array_ok": {"token": sign("RS256", "rsa-1", J_RSA1, aud=["other-api", AUDIENCE]), "expect": "ok"},
    "aud_array_wrong": {"token": sign("RS256", "rsa-1", J_RSA1, aud=["a", "b"]), "expect": "invalid audience"},
    "unknown_kid": {"token": sign("RS256", "nope", J_RSA1), "expect": "unknown key"},
    "tampered_payload": {"token": h + "." + other_payload + "." + s, "expect": "invalid signature"},
    "tampered_signature": {"token": h + "." + p + "." + s[:-4] + ("AAAA" if s[-4:] != "AAAA" else "BBBB"),
                           "expect": "invalid signature"},
    "truncated_two_parts": {"token": h + "." + p, "expect": "malformed token"},
    "truncated_signature": {"token": h + "." + p + "." + s[:40], "expect": "invalid signature"},
    "bad_base64_payload": {"token": h + "." + p[:10] + "!" + p[11:] + "." + s, "expect": "malformed token"},
    "padded_base64": {"token": h + "." + p + "." + s + "==", "expect": "malformed token"},
    "header_not_json": {"token": b64(b"not json") + "." + p + "." + s, "expect": "malformed token"},
    "oversized_header": {"token": raw_rs256({"alg": "RS256", "kid": "rsa-1", "x": "a" * 5000}, claims()),
                         "expect": "token too large"},
    "oversized_token": {"token": raw_rs256({"alg": "RS256", "kid": "rsa-1"}, claims(pad="b" * 17000)),
                        "expect": "token too large"},
    "crit_header": {"token": raw_rs256({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}, claims()),
                    "expect": "malformed token"},
    # Algorithm pinning: JWK "alg" says RS256, header says RS384 (signature itself is valid).
    "alg_mismatch_jwk_alg": {"token": sign("RS384", "rsa-rs256", J_RSA1), "expect": "key does not match algorithm"},
    # kty mismatch: ES256 header naming an RSA key (signed with the P-256 key).
    "alg_mismatch_kty": {"token": sign("ES256", "rsa-1", J_P256), "expect": "key does not match algorithm"},
    # crv mismatch: ES384 header naming the P-256 key (signed with the P-384 key).
    "alg_mismatch_crv": {"token": sign("ES384", "ec-p256", J_P384), "expect": "key does not match algorithm"},
    # Signed by rsa-2, which only the rotated JWKS contains.
    "rotated_rsa2": {"token": sign("RS256", "rsa-2", J_RSA2), "expect": "ok"},
    # Expires at NOW + 100: valid now, expired once the clock passes it (cache-hit test).
    "short_lived": {"token": sign("RS256", "rsa-1", J_RSA1, exp=NOW + 100), "expect": "ok"},
}

print(json.dumps({
    "now": NOW,
    "issuer": ISSUER,
    "audience": AUDIENCE,
    "jwks": JWKS,
    "jwks_rotated": JWKS_ROTATED,
    "rsa_public_pem": rsa_public_pem.decode(),
    "valid": valid,
    "cases": cases,
}, indent=2, sort_keys=True))
