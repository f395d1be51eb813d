#!/usr/bin/env python3
"""Generates stripe-webhooks.json: signed Stripe webhook deliveries for the HTTP-level tests of
stripe.webhook / stripe.events, computed with Python's standard library (hmac, hashlib, json)
only -- independent of the Swift code under test.

Run from this folder:  python3 make_stripe_fixtures.py > stripe-webhooks.json
Deterministic (fixed secret, bodies, timestamps): re-running it reproduces the committed file
byte for byte.
"""
import hashlib, hmac, json

SECRET = "whsec_stripe_fixture_8Jd2kLq0TzX4mN7p"   # used as is, whsec_ included (not decoded)
OTHER_SECRET = "whsec_some_other_endpoint_secret"
T0 = 1800000000   # the tests' ManualClock starts here: 2027-01-15T08:00:00Z

def sign(secret, t, body):
    # Stripe: HMAC-SHA256 keyed with the whole secret string over "<t>.<raw body>", lowercase hex.
    return hmac.new(secret.encode(), f"{t}.".encode() + body.encode(), hashlib.sha256).hexdigest()

def body(obj):
    # Stripe sends pretty-printed JSON; the signature covers the exact bytes, so keep them.
    return json.dumps(obj, indent=2)

def event(evt_id, typ, obj, created=T0 - 5):
    return {"id": evt_id, "object": "event", "api_version": "2024-06-20", "created": created,
            "data": {"object": obj}, "livemode": False, "pending_webhooks": 1, "type": typ}

events = {
    "payment_intent.succeeded": event("evt_pi_succeeded_1", "payment_intent.succeeded", {
        "id": "pi_3Pfixture", "object": "payment_intent", "amount": 2000, "amount_received": 2000,
        "currency": "usd", "customer": "cus_Fixture1", "status": "succeeded",
        "metadata": {"order_id": "ord_1001"}}),
    "customer.subscription.created": event("evt_sub_created_1", "customer.subscription.created", {
        "id": "sub_Fixture1", "object": "subscription", "customer": "cus_Fixture1", "status": "active",
        "current_period_end": 1802592000, "cancel_at_period_end": False,
        "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": "price_Pro"}}]}}, created=T0 - 60),
    "customer.subscription.updated": event("evt_sub_updated_1", "customer.subscription.updated", {
        "id": "sub_Fixture1", "object": "subscription", "customer": "cus_Fixture1", "status": "past_due",
        "current_period_end": 1805270400, "cancel_at_period_end": True,
        "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": "price_Team"}}]}}, created=T0 - 30),
    "customer.subscription.deleted": event("evt_sub_deleted_1", "customer.subscription.deleted", {
        "id": "sub_Fixture1", "object": "subscription", "customer": "cus_Fixture1", "status": "canceled",
        "current_period_end": 1805270400, "canceled_at": T0 - 10, "cancel_at_period_end": False,
        "items": {"object": "list", "data": [{"id": "si_1", "price": {"id": "price_Team"}}]}}, created=T0 - 10),
    "invoice.payment_failed": event("evt_inv_failed_1", "invoice.payment_failed", {
        "id": "in_Fixture1", "object": "invoice", "number": "F1-0001", "customer": "cus_Fixture1",
        "customer_email": "jenny@example.com", "amount_due": 4900, "currency": "usd", "attempt_count": 1,
        "subscription": "sub_Fixture1", "hosted_invoice_url": "https://invoice.stripe.com/i/fixture"}),
    "checkout.session.completed": event("evt_cs_completed_1", "checkout.session.completed", {
        "id": "cs_test_Fixture1", "object": "checkout.session", "customer": "cus_Fixture1",
        "customer_details": {"email": "jenny@example.com"}, "payment_status": "paid", "mode": "payment",
        "amount_total": 2000, "currency": "usd", "client_reference_id": "ord_1001",
        "payment_intent": "pi_3Pfixture"}),
    "charge.refunded": event("evt_other_1", "charge.refunded", {"id": "ch_1", "object": "charge"}),
}

deliveries = []
for typ, evt in events.items():
    b = body(evt)
    deliveries.append({"description": f"{typ}, signed at T0", "event_type": typ, "event_id": evt["id"],
                       "body": b, "stripe_signature": f"t={T0},v1={sign(SECRET, T0, b)}"})

pi = body(events["payment_intent.succeeded"])
cases = [
    {"description": "secret rotation: a wrong v1 first, the matching v1 second, a v0 ignored", "expect": 200,
     "body": pi, "stripe_signature": f"t={T0},v1={sign(OTHER_SECRET, T0, pi)},v1={sign(SECRET, T0, pi)},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"},
    {"description": "signed with another endpoint's secret", "expect": 400,
     "body": pi, "stripe_signature": f"t={T0},v1={sign(OTHER_SECRET, T0, pi)}"},
    {"description": "body tampered after signing (amount changed)", "expect": 400,
     "body": pi.replace('"amount": 2000', '"amount": 1'), "stripe_signature": f"t={T0},v1={sign(SECRET, T0, pi)}"},
    {"description": "signature over the timestamp T0+1 presented with t=T0", "expect": 400,
     "body": pi, "stripe_signature": f"t={T0},v1={sign(SECRET, T0 + 1, pi)}"},
    {"description": "only a v0 signature", "expect": 400,
     "body": pi, "stripe_signature": f"t={T0},v0={sign(SECRET, T0, pi)}"},
    {"description": "no timestamp", "expect": 400, "body": pi, "stripe_signature": f"v1={sign(SECRET, T0, pi)}"},
    {"description": "non-integer timestamp", "expect": 400, "body": pi, "stripe_signature": f"t=soon,v1={sign(SECRET, T0, pi)}"},
    {"description": "empty header", "expect": 400, "body": pi, "stripe_signature": ""},
]

# Tolerance: the same body signed at several times, checked by the tests with the clock at T0.
tolerance = [{"description": f"signed {age} s before the clock", "age": age, "expect": 200 if age <= 300 else 400,
              "body": body(event(f"evt_age_{age}", "charge.refunded", {"id": f"ch_age_{age}", "object": "charge"})),
              "t": T0 - age}
             for age in (0, 299, 300, 301, 3600)]
tolerance.append({"description": "signed 600 s in the future (Stripe bounds only the age)", "age": -600, "expect": 200,
                  "body": body(event("evt_age_future", "charge.refunded", {"id": "ch_future", "object": "charge"})),
                  "t": T0 + 600})
for c in tolerance:
    c["stripe_signature"] = f"t={c['t']},v1={sign(SECRET, c['t'], c['body'])}"

print(json.dumps({
    "secret": SECRET, "t0": T0,
    "published_primitive": {"key": "test_secret", "payload": '{"obj1":"hello","obj2":"world"}',
                            "hmac_sha256_hex": hmac.new(b"test_secret", b'{"obj1":"hello","obj2":"world"}', hashlib.sha256).hexdigest()},
    "deliveries": deliveries, "cases": cases, "tolerance": tolerance,
}, indent=2, sort_keys=True))
