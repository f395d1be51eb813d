import EdgeRuntime
import Foundation
import Testing

@Suite struct WebhookSignatureTests {
    /// "ok" or the error code's name.
    private func outcome(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "ok"
        } catch let error as WebhookSignatureError {
            return error.code.description
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func fixtureCases() throws {
        let fixtures = try SignatureFixtures.load()
        #expect(fixtures.cases.count >= 30)
        for c in fixtures.cases {
            let result: String
            switch c.scheme {
            case "stripe":
                result = outcome {
                    _ = try StripeSignature.verify(
                        payload: Array(c.body!.utf8),
                        header: c.header,
                        secret: c.secret,
                        tolerance: c.tolerance!,
                        now: c.now!
                    )
                }
            case "svix":
                let h = c.headers!
                let headers = StandardWebhookSignature.Headers(lookup: { h[$0] })
                result = outcome {
                    _ = try StandardWebhookSignature.verify(
                        payload: Array(c.body!.utf8),
                        headers: headers,
                        secret: c.secret,
                        tolerance: c.tolerance!,
                        now: c.now!
                    )
                }
            default:
                let params = c.params!.map { (name: $0[0], value: $0[1]) }
                result = outcome {
                    try TwilioSignature.verify(url: c.url!, parameters: params, signature: c.header, authToken: c.secret)
                }
            }
            #expect(result == c.expect, "\(c.scheme): \(c.description)")
        }
    }

    @Test func stripeSignRoundTripAndMissingHeader() throws {
        let body = Array(#"{"id":"evt_x"}"#.utf8)
        let header = StripeSignature.sign(payload: body, secret: "whsec_abc", timestamp: 1_000)
        let verified = try StripeSignature.verify(payload: body, header: header, secret: "whsec_abc", now: 1_100)
        #expect(verified.timestamp == 1_000)
        #expect(throws: WebhookSignatureError.self) {
            try StripeSignature.verify(payload: body, header: nil, secret: "whsec_abc", now: 1_000)
        }
    }

    @Test func stripeErrorsDoNotLeakSecrets() {
        let body = Array("{}".utf8)
        let good = StripeSignature.sign(payload: body, secret: "whsec_topsecret", timestamp: 5)
        do {
            _ = try StripeSignature.verify(payload: body, header: "t=5,v1=00", secret: "whsec_topsecret", now: 5)
            Issue.record("expected a mismatch")
        } catch {
            #expect(error.code == .mismatch)
            #expect(!error.message.contains("topsecret"))
            #expect(!error.message.contains(String(good.dropFirst(6))))
        }
    }

    @Test func svixPublishedVector() throws {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let body = Array(#"{"test": 2432232314}"#.utf8)
        let signature = try StandardWebhookSignature.sign(
            payload: body,
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp: 1_614_265_330,
            secret: secret
        )
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        let headers = StandardWebhookSignature.Headers(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp: "1614265330",
            signature: signature
        )
        let verified = try StandardWebhookSignature.verify(
            payload: body,
            headers: headers,
            secret: secret,
            now: 1_614_265_330
        )
        #expect(verified == .init(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330))
    }

    @Test func svixMissingHeadersAndBadSecret() {
        let body = Array("{}".utf8)
        let missing = StandardWebhookSignature.Headers(id: "msg_1", timestamp: nil, signature: "v1,abc")
        #expect(outcome { _ = try StandardWebhookSignature.verify(payload: body, headers: missing, secret: "whsec_AAAA", now: 0) } == "missing")
        let headers = StandardWebhookSignature.Headers(id: "msg_1", timestamp: "0", signature: "v1,abc")
        #expect(
            outcome { _ = try StandardWebhookSignature.verify(payload: body, headers: headers, secret: "whsec_not base64!", now: 0) }
                == "invalidSecret"
        )
        let bad = StandardWebhookSignature.Headers(id: "msg_1", timestamp: "12x", signature: "v1,abc")
        #expect(outcome { _ = try StandardWebhookSignature.verify(payload: body, headers: bad, secret: "whsec_AAAA", now: 0) } == "malformed")
    }

    @Test func svixHeaderLookupPrefersSvixNames() {
        let both = ["svix-id": "a", "svix-timestamp": "1", "svix-signature": "s", "webhook-id": "b"]
        #expect(StandardWebhookSignature.Headers(lookup: { both[$0] }).id == "a")
        let standard = ["webhook-id": "b", "webhook-timestamp": "2", "webhook-signature": "t"]
        #expect(StandardWebhookSignature.Headers(lookup: { standard[$0] }) == .init(id: "b", timestamp: "2", signature: "t"))
    }

    @Test func twilioPublishedVector() throws {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2"
        let params: [(name: String, value: String)] = [
            ("To", "+18005551212"), ("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"),
            ("Caller", "+14158675309"), ("From", "+14158675309"),
        ]
        #expect(TwilioSignature.sign(url: url, parameters: params, authToken: "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        try TwilioSignature.verify(url: url, parameters: params, signature: "RSOYDt4T1cUTdK1PDd93/VVr8B8=", authToken: "12345")
        // The validator also accepts the URL with the default port added.
        try TwilioSignature.verify(
            url: "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            parameters: params,
            signature: "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
            authToken: "12345"
        )
        #expect(outcome { try TwilioSignature.verify(url: url, parameters: params, signature: nil, authToken: "12345") } == "missing")
        #expect(
            outcome { try TwilioSignature.verify(url: url, parameters: params, signature: "RSOYDt4T1cUTdK1PDd93/VVr8B8=", authToken: "1234") }
                == "mismatch"
        )
    }
}
