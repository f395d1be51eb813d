#!/usr/bin/env python3
"""Makes auth-webhooks.json: Svix / Standard Webhooks deliveries signed with Python's hmac,
hashlib and base64 only (independent of the code under test).

    python3 make_auth_webhook_fixtures.py > auth-webhooks.json
"""
import base64, hashlib, hmac, json

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # svix-webhooks' published test secret
KEY = base64.b64decode(SECRET[len("whsec_"):])
T = 1795456980  # 2026-11-23T18:03:00Z

def sign(msg_id, ts, body):
    mac = hmac.new(KEY, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()

created = json.dumps({"type": "user.created", "object": "event", "data": {
    "id": "user_2abc", "first_name": "Ada", "last_name": "Lovelace", "primary_email_address_id": "idn_2",
    "email_addresses": [{"id": "idn_1", "email_address": "old@example.com"}, {"id": "idn_2", "email_address": "ada@example.com"}],
    "created_at": 1795456900123, "updated_at": 1795456900123}}, separators=(",", ":"))
updated = json.dumps({"type": "user.updated", "object": "event", "data": {
    "id": "user_2abc", "first_name": "Ada", "last_name": "King", "primary_email_address_id": "idn_2",
    "email_addresses": [{"id": "idn_2", "email_address": "ada@example.com"}],
    "created_at": 1795456900123, "updated_at": 1795456960000}}, separators=(",", ":"))
deleted = json.dumps({"type": "user.deleted", "object": "event", "data": {"id": "user_2abc", "deleted": True}}, separators=(",", ":"))
supabase = json.dumps({"type": "INSERT", "table": "users", "schema": "auth", "record": {"id": "u-1"}}, separators=(",", ":"))

deliveries = {
    "created": {"id": "msg_created", "timestamp": T, "body": created},
    "updated": {"id": "msg_updated", "timestamp": T + 10, "body": updated},
    "deleted": {"id": "msg_deleted", "timestamp": T + 20, "body": deleted},
    "supabase": {"id": "msg_supabase", "timestamp": T, "body": supabase},
}
for d in deliveries.values():
    d["signature"] = sign(d["id"], d["timestamp"], d["body"])
# A second signature list entry with another version and a wrong v1 before the right one.
deliveries["created"]["signature_list"] = "v2,abc v1,AAAA " + deliveries["created"]["signature"]
print(json.dumps({"secret": SECRET, "now": T, "deliveries": deliveries}, indent=2, sort_keys=True))
