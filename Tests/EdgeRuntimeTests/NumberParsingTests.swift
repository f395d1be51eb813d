import EdgeRuntime
import Foundation
import KVStore
import Testing

/// Numbers that arrive from outside the runtime's own modules: provider headers, JSON
/// fields, signed timestamps. None may trap.
@Suite("numbers in headers and JSON")
struct NumberParsingTests {
    @Test func retryAfterIsClampedToOneDay() {
        #expect(RetryAfter.delay("18446744074", now: 0) == 86_400)
        #expect(RetryAfter.delay("99999999999999999999999999", now: 0) == 86_400)
        #expect(RetryAfter.delay("86400", now: 0) == 86_400)
        #expect(RetryAfter.delay("86401", now: 0) == 86_400)
        #expect(RetryAfter.delay("+5", now: 0) == nil)
        // An HTTP-date far in the future is one day too; one in the past is 0.
        #expect(RetryAfter.delay("Fri, 31 Dec 9999 23:59:59 GMT", now: 1_800_000_000) == 86_400)
        #expect(RetryAfter.delay("Thu, 01 Jan 1970 00:00:00 GMT", now: 1_800_000_000) == 0)
        #expect(RetryAfter.seconds("1.5", now: 0) == nil)
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_777 - 0.5) == 1)
        #expect(RetryAfter.seconds("18446744074", now: 0) == 86_400)
    }

    @Test func jsonIntegersAreRangeCheckedNamingTheField() throws {
        #expect(try JSONValue.integer(5).integer(field: "delay_seconds", in: 0...86_400) == 5)
        #expect(try JSONValue.number(5.0).integer(field: "delay_seconds", in: 0...86_400) == 5)
        let error = NumberFieldError(field: "delay_seconds", range: 0...86_400)
        for value: JSONValue in [.number(1e30), .number(-1e300), .number(0.5), .integer(.max), .integer(-1), .integer(86_401), .string("5"), .null] {
            #expect(throws: error) { try value.integer(field: "delay_seconds", in: 0...86_400) }
        }
        #expect(error.description == "delay_seconds must be an integer between 0 and 86400")
    }

    /// `now - t` used to trap for `t=-9223372036854775808` once the HMAC matched.
    @Test func aStripeTimestampAtInt64MinIsStaleNotATrap() throws {
        let payload = Array(#"{"id":"evt_1"}"#.utf8)
        for t in [Int64.min, Int64.min + 1] {
            let header = StripeSignature.sign(payload: payload, secret: "whsec_x", timestamp: t)
            #expect(throws: WebhookSignatureError.self) {
                try StripeSignature.verify(payload: payload, header: header, secret: "whsec_x", now: 1_800_000_000)
            }
        }
        let future = StripeSignature.sign(payload: payload, secret: "whsec_x", timestamp: .max)
        #expect(try StripeSignature.verify(payload: payload, header: future, secret: "whsec_x", now: -1).timestamp == .max)
    }

    /// `now ± tolerance` used to trap for a tolerance near Int64.max.
    @Test func standardWebhookToleranceArithmeticSaturates() throws {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let payload = Array("{}".utf8)
        for t in [-1_000_000_000_000_000_000, Int64.max, 0] {
            let signature = try StandardWebhookSignature.sign(payload: payload, id: "msg_1", timestamp: t, secret: secret)
            let headers = StandardWebhookSignature.Headers(id: "msg_1", timestamp: String(t), signature: signature)
            let verified = try StandardWebhookSignature.verify(
                payload: payload,
                headers: headers,
                secret: secret,
                tolerance: .max,
                now: 1_800_000_000
            )
            #expect(verified.timestamp == t)
            for now in [Int64.min, Int64.max] {
                _ = try? StandardWebhookSignature.verify(payload: payload, headers: headers, secret: secret, tolerance: .min, now: now)
                _ = try? StandardWebhookSignature.verify(payload: payload, headers: headers, secret: secret, tolerance: .max, now: now)
            }
        }
    }
}
