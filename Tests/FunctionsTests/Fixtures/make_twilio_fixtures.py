#!/usr/bin/env python3
"""Generates twilio-status-fixtures.json: X-Twilio-Signature cases for requests to the
`twilio.status` handler, computed with Python's standard library (hmac, hashlib, base64,
urllib.parse) only -- independent of the Swift code under test.

Run from this folder:  python3 make_twilio_fixtures.py > twilio-status-fixtures.json
Deterministic: re-running it reproduces the committed file byte for byte.

Every case is one HTTP request: `route` (which function of the test manifest answers it),
`path`, raw `query`, `headers`, the form `body` (urlencoded from `params`), and the status the
handler must answer (`expect`: 200 verified and recorded, 400 verified but not a status
callback, 403 signature refused). `signed_url` documents the URL the signature covers.
"""
import base64, hashlib, hmac, json, urllib.parse

TOKEN = "12345"  # the token of twilio-python's published vector, used for every case

def sign(url, params, token=TOKEN):
    # Twilio: the URL, then every POST param sorted by name, name then value; HMAC-SHA1 keyed
    # with the auth token; standard base64.
    s = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), s.encode(), hashlib.sha1).digest()).decode()

def status_params(sid, status="delivered", **extra):
    p = [("AccountSid", "AC00000000000000000000000000000000"), ("MessageSid", sid), ("MessageStatus", status),
         ("To", "+15551230000"), ("From", "+15557654321"), ("ApiVersion", "2010-04-01")]
    return p + sorted(extra.items())

cases = []

def case(description, route, path, query, headers, params, signed_url, expect, signature=None, tamper=None):
    sig = signature if signature is not None else sign(signed_url, params)
    if sig:
        headers = dict(headers, **{"X-Twilio-Signature": sig})
    sent = [(k, tamper[1] if tamper and k == tamper[0] else v) for k, v in params]
    cases.append({
        "description": description, "route": route, "path": path, "query": query, "headers": headers,
        "params": [[k, v] for k, v in sent], "body": urllib.parse.urlencode(sent),
        "signed_url": signed_url, "expect": expect,
    })

published = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
             ("From", "+14158675309"), ("To", "+18005551212")]
assert sign("https://mycompany.com/myapp.php?foo=1&bar=2", published) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
case("twilio-python's published vector via public_url (verified; not a status callback, so 400)",
     "public", "/myapp.php", "foo=1&bar=2", {"Host": "127.0.0.1"}, published,
     "https://mycompany.com/myapp.php?foo=1&bar=2", 400)
case("URL rebuilt from Host, default scheme http", "host", "/twilio/status", "", {"Host": "sms.example.com"},
     status_params("SM00000000000000000000000000000001"), "http://sms.example.com/twilio/status", 200)
case("X-Forwarded-Proto and X-Forwarded-Host win over Host; raw query kept as sent", "host", "/twilio/status",
     "tenant=acme&note=a%20b", {"Host": "10.0.0.5:8787", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.com"},
     status_params("SM00000000000000000000000000000002", "sent"),
     "https://sms.example.com/twilio/status?tenant=acme&note=a%20b", 200)
case("request host carries :443, Twilio signed the URL without the port", "host", "/twilio/status", "",
     {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.com:443"},
     status_params("SM00000000000000000000000000000003"), "https://sms.example.com/twilio/status", 200)
case("request host has no port, Twilio signed it with :443", "host", "/twilio/status", "",
     {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.com"},
     status_params("SM00000000000000000000000000000004"), "https://sms.example.com:443/twilio/status", 200)
case("plain http with the default port :80 signed", "host", "/twilio/status", "", {"Host": "sms.example.com"},
     status_params("SM00000000000000000000000000000005", "undelivered", ErrorCode="30003"),
     "http://sms.example.com:80/twilio/status", 200)
case("a non-default port in Host, signed with it", "host", "/twilio/status", "", {"Host": "sms.example.com:8080"},
     status_params("SM00000000000000000000000000000006"), "http://sms.example.com:8080/twilio/status", 200)
case("first of several X-Forwarded-Host values", "host", "/twilio/status", "",
     {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.com, proxy.internal"},
     status_params("SM00000000000000000000000000000007"), "https://sms.example.com/twilio/status", 200)
case("values needing form encoding (spaces, +, &, =, unicode)", "host", "/twilio/status", "",
     {"Host": "sms.example.com"},
     status_params("SM00000000000000000000000000000008", Body="Hi Zoë & co: 2+2=4 ✓"),
     "http://sms.example.com/twilio/status", 200)
case("public_url with a trailing slash; Host is ignored", "public-slash", "/hooks/status", "",
     {"Host": "internal:9000"}, status_params("SM00000000000000000000000000000009"),
     "https://hooks.example.com/hooks/status", 200)
case("signed for https, request arrives as http", "host", "/twilio/status", "", {"Host": "sms.example.com"},
     status_params("SM0000000000000000000000000000000a"), "https://sms.example.com/twilio/status", 403)
case("a parameter changed after signing", "host", "/twilio/status", "", {"Host": "sms.example.com"},
     status_params("SM0000000000000000000000000000000b"), "http://sms.example.com/twilio/status", 403,
     tamper=("MessageStatus", "failed"))
case("signed with another auth token", "host", "/twilio/status", "", {"Host": "sms.example.com"},
     status_params("SM0000000000000000000000000000000c"), "http://sms.example.com/twilio/status", 403,
     signature=sign("http://sms.example.com/twilio/status", status_params("SM0000000000000000000000000000000c"), "54321"))
case("query string left out of the signed URL", "host", "/twilio/status", "tenant=acme", {"Host": "sms.example.com"},
     status_params("SM0000000000000000000000000000000d"), "http://sms.example.com/twilio/status", 403)
case("no X-Twilio-Signature header", "host", "/twilio/status", "", {"Host": "sms.example.com"},
     status_params("SM0000000000000000000000000000000e"), "http://sms.example.com/twilio/status", 403, signature="")

print(json.dumps({"token": TOKEN, "cases": cases}, indent=2, ensure_ascii=False))
