#!/usr/bin/env python3
"""Generates signature-fixtures.json: webhook signature cases computed with Python's standard
library (hmac, hashlib, base64) only -- independent of the Swift code under test.

Run from this folder:  python3 make_signature_fixtures.py > signature-fixtures.json
The output is deterministic (fixed secrets, bodies and timestamps); re-running it must give
the committed file byte for byte.
"""
import base64, hashlib, hmac, json

def stripe_sig(secret, t, body):
    # Stripe: HMAC-SHA256 keyed with the whole secret string (whsec_ included) over "t.body", hex.
    return hmac.new(secret.encode(), f"{t}.".encode() + body.encode(), hashlib.sha256).hexdigest()

def svix_sig(secret, msg_id, t, body):
    # Svix / Standard Webhooks: key = base64-decoded secret after "whsec_"; "id.t.body"; base64.
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, f"{msg_id}.{t}.".encode() + body.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()

def twilio_sig(token, url, params):
    # Twilio: URL, then each param sorted by name: name + value; HMAC-SHA1 keyed by the token; base64.
    s = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), s.encode(), hashlib.sha1).digest()).decode()

cases = []

# --- Stripe ---------------------------------------------------------------------------
S = "whsec_fixture_secret_4eC39HqLyjWDarjtT1zdp7dc"
B = '{"id":"evt_1Nfixture","object":"event","type":"payment_intent.succeeded"}'
T = 1700000000
good = stripe_sig(S, T, B)
def stripe(desc, header, now, expect, body=B, secret=S):
    cases.append({"scheme": "stripe", "description": desc, "secret": secret, "body": body,
                  "header": header, "now": now, "tolerance": 300, "expect": expect})
stripe("valid, now == t", f"t={T},v1={good}", T, "ok")
stripe("valid at the tolerance boundary (age 300 s)", f"t={T},v1={good}", T + 300, "ok")
stripe("stale one second past the tolerance (age 301 s)", f"t={T},v1={good}", T + 301, "stale")
stripe("timestamp in the future is accepted (Stripe only bounds age)", f"t={T},v1={good}", T - 3600, "ok")
stripe("multiple v1, second matches; v0 ignored",
       f"t={T},v1={stripe_sig('whsec_old_rotated_secret', T, B)},v1={good},v0={'0'*64}", T, "ok")
stripe("signed with a different secret", f"t={T},v1={stripe_sig('whsec_wrong', T, B)}", T, "mismatch")
stripe("tampered body", f"t={T},v1={good}", T, "mismatch", body=B.replace("succeeded", "failed"))
stripe("wrong signature and stale: signature is checked first",
       f"t={T},v1={stripe_sig('whsec_wrong', T, B)}", T + 10000, "mismatch")
stripe("signature of another timestamp", f"t={T + 1},v1={good}", T + 1, "mismatch")
stripe("uppercase hex does not match (Stripe compares lowercase hex strings)",
       f"t={T},v1={good.upper()}", T, "mismatch")
stripe("only v0: no v1 signature", f"t={T},v0={good}", T, "malformed")
stripe("no timestamp", f"v1={good}", T, "malformed")
stripe("timestamp not an integer", f"t=abc,v1={good}", T, "malformed")
stripe("empty header", "", T, "missing")

# --- Svix / Standard Webhooks ---------------------------------------------------------
W = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()  # key bytes 0x01..0x20
MID = "msg_2fixtureAbCdEfGh"
WB = '{"type":"user.created","data":{"id":"user_29w83sxmDNGwOuEthce5gg56FcC"}}'
WT = 1700000000
wgood = svix_sig(W, MID, WT, WB)
def svix(desc, sig, now, expect, body=WB, secret=W, ts=WT, prefix="svix"):
    cases.append({"scheme": "svix", "description": desc, "secret": secret, "body": body,
                  "headers": {f"{prefix}-id": MID, f"{prefix}-timestamp": str(ts), f"{prefix}-signature": sig},
                  "now": now, "tolerance": 300, "expect": expect})
svix("valid, now == timestamp", f"v1,{wgood}", WT, "ok")
svix("valid with webhook-* header names", f"v1,{wgood}", WT, "ok", prefix="webhook")
svix("valid at +300 s (old boundary)", f"v1,{wgood}", WT + 300, "ok")
svix("valid at -300 s (future boundary)", f"v1,{wgood}", WT - 300, "ok")
svix("stale at +301 s", f"v1,{wgood}", WT + 301, "stale")
svix("too new at -301 s", f"v1,{wgood}", WT - 301, "stale")
svix("several entries, other versions skipped, second v1 matches",
     f"v1,{svix_sig('whsec_' + base64.b64encode(b'rotated-old-key').decode(), MID, WT, WB)} v2,{wgood} v1,{wgood}",
     WT, "ok")
svix("signed with a different secret",
     f"v1,{svix_sig('whsec_' + base64.b64encode(b'another-secret-key').decode(), MID, WT, WB)}", WT, "mismatch")
svix("tampered body", f"v1,{wgood}", WT, "mismatch", body=WB.replace("created", "deleted"))
svix("only a v2 entry", f"v2,{wgood}", WT, "malformed")

# --- Twilio -----------------------------------------------------------------------------
TK = "fixture_auth_token_0123456789abcdef"
P = [("MessageSid", "SM0123456789abcdef0123456789abcdef"), ("MessageStatus", "delivered"),
     ("To", "+15558675310"), ("From", "+15017122661"), ("AccountSid", "AC0000fixture")]
def twilio(desc, request_url, signed_url, expect, params=P, token=TK, signed_params=None):
    cases.append({"scheme": "twilio", "description": desc, "secret": TK, "url": request_url,
                  "params": [[k, v] for k, v in params],
                  "header": twilio_sig(token, signed_url, signed_params or params), "expect": expect})
U = "https://edge.example.com/twilio/status?source=sms"
twilio("valid, same URL", U, U, "ok")
twilio("Twilio signed with :443, request URL has no port", U,
       "https://edge.example.com:443/twilio/status?source=sms", "ok")
twilio("Twilio signed without the port, request URL has :443",
       "https://edge.example.com:443/twilio/status?source=sms", U, "ok")
twilio("http with default port 80", "http://edge.example.com/s", "http://edge.example.com:80/s", "ok")
twilio("a non-default port is part of the URL", "https://edge.example.com:8443/s", "https://edge.example.com/s",
       "ok")
twilio("signed for another path", U, "https://edge.example.com/twilio/other?source=sms", "mismatch")
twilio("tampered parameter", U, U, "mismatch",
       params=[("MessageStatus", "failed") if k == "MessageStatus" else (k, v) for k, v in P], signed_params=P)
twilio("wrong auth token", U, U, "mismatch", token="another_token")
twilio("no parameters", U, U, "ok", params=[])

# --- primitives -------------------------------------------------------------------------
prims = []
def prim(kind, key, data):
    k, d = key.encode(), data.encode()
    out = {"hmac-sha256": lambda: hmac.new(k, d, hashlib.sha256).hexdigest(),
           "hmac-sha1": lambda: hmac.new(k, d, hashlib.sha1).hexdigest(),
           "sha256": lambda: hashlib.sha256(d).hexdigest()}[kind]()
    prims.append({"kind": kind, "key": key, "data": data, "hex": out,
                  "base64": base64.b64encode(bytes.fromhex(out)).decode(),
                  "base64url": base64.urlsafe_b64encode(bytes.fromhex(out)).decode().rstrip("=")})
prim("hmac-sha256", "test_secret", '{"obj1":"hello","obj2":"world"}')
prim("hmac-sha256", "Jefe", "what do ya want for nothing?")
prim("hmac-sha256", "", "")
prim("hmac-sha256", "k" * 100, "long key longer than the block size")
prim("hmac-sha1", "Jefe", "what do ya want for nothing?")
prim("hmac-sha1", "12345", "unicode: h\u00e9llo \u2603")
prim("sha256", "", "")
prim("sha256", "", "abc")

print(json.dumps({"generated_by": "make_signature_fixtures.py (Python hmac/hashlib/base64)",
                  "cases": cases, "primitives": prims}, indent=1, ensure_ascii=False))
