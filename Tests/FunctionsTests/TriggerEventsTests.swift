import EdgeRuntime
import Foundation
import Functions
import Testing

/// `edge-run trigger`'s events: each verifies with the scheme its handler uses, ids are fresh,
/// and `--data` deep-merges.
@Suite struct TriggerEventsTests {
    static let now: Int64 = 1_790_000_000

    private func header(_ signed: TriggerEvents.Signed, _ name: String) -> String? {
        signed.headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    @Test func everyStripeEventVerifiesAndHasAFreshID() throws {
        let stripe = try #require(TriggerEvents.provider(named: "stripe"))
        for event in stripe.events {
            let a = try TriggerEvents.make(provider: stripe, event: event, overrides: nil, secret: "whsec_x", url: "", now: Self.now)
            let b = try TriggerEvents.make(provider: stripe, event: event, overrides: nil, secret: "whsec_x", url: "", now: Self.now)
            _ = try StripeSignature.verify(payload: a.body, header: header(a, "Stripe-Signature"), secret: "whsec_x", now: Self.now)
            let json = try JSONValue.parse(Data(a.body))
            #expect(json["type"] == .string(event))
            #expect(json["object"] == "event")
            #expect(json["data"]?["object"]?["id"]?.stringValue?.isEmpty == false)
            #expect(json["id"] != (try JSONValue.parse(Data(b.body)))["id"])
            #expect(throws: WebhookSignatureError.self) {
                try StripeSignature.verify(payload: a.body, header: header(a, "Stripe-Signature"), secret: "whsec_other", now: Self.now)
            }
        }
    }

    @Test func svixEventsVerifyWithTheirSecret() throws {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        for name in ["clerk", "resend"] {
            let provider = try #require(TriggerEvents.provider(named: name))
            let signed = try TriggerEvents.make(provider: provider, event: provider.events[0], overrides: nil, secret: secret, url: "", now: Self.now)
            let headers = StandardWebhookSignature.Headers(
                id: header(signed, "svix-id"),
                timestamp: header(signed, "svix-timestamp"),
                signature: header(signed, "svix-signature")
            )
            _ = try StandardWebhookSignature.verify(payload: signed.body, headers: headers, secret: secret, now: Self.now)
        }
        let clerk = try #require(TriggerEvents.provider(named: "clerk"))
        #expect(throws: TriggerEvents.Failure.self) {
            try TriggerEvents.make(provider: clerk, event: "user.created", overrides: nil, secret: "not base64 !", url: "", now: Self.now)
        }
    }

    @Test func twilioStatusIsASignedFormWithOverrides() throws {
        let twilio = try #require(TriggerEvents.provider(named: "twilio"))
        let url = "http://127.0.0.1:8787/twilio/status"
        let signed = try TriggerEvents.make(
            provider: twilio,
            event: "status delivered",
            overrides: ["MessageSid": "SM1"],
            secret: "tw",
            url: url,
            now: Self.now
        )
        let form = FormEncoding.decode(String(decoding: signed.body, as: UTF8.self))
        #expect(form.first { $0.name == "MessageStatus" }?.value == "delivered")
        #expect(form.first { $0.name == "MessageSid" }?.value == "SM1")
        try TwilioSignature.verify(url: url, parameters: form, signature: header(signed, "X-Twilio-Signature"), authToken: "tw")
    }

    @Test func dataDeepMerges() {
        let base: JSONValue = ["data": ["object": ["amount": 2000, "currency": "usd"]], "type": "x"]
        let merged = TriggerEvents.merged(base, ["data": ["object": ["amount": 5000]]])
        #expect(merged == ["data": ["object": ["amount": 5000, "currency": "usd"]], "type": "x"])
    }
}
