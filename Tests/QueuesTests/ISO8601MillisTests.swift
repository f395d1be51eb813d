import Foundation
import Queues
import Testing

/// Every time in the contract's JSON goes through `ISO8601Millis`; the numbers behind some of
/// them come from outside (a Stripe `current_period_end`, a Clerk `created_at`).
@Suite("ISO 8601 times")
struct ISO8601MillisTests {
    @Test func formatsWithMilliseconds() {
        #expect(ISO8601Millis.format(millis: 1_795_456_800_123) == "2026-11-23T18:00:00.123Z")
        #expect(ISO8601Millis.format(Date(timeIntervalSince1970: 1_795_456_800)) == "2026-11-23T18:00:00.000Z")
    }

    /// `Int64(seconds * 1000)` trapped for a time of `Int64.max` seconds.
    @Test func extremeTimesAreClampedNotTrapped() {
        let last = "9999-12-31T23:59:59.999Z"
        let first = "1601-01-01T00:00:00.000Z"
        #expect(ISO8601Millis.format(Date(timeIntervalSince1970: Double(Int64.max))) == last)
        #expect(ISO8601Millis.format(Date(timeIntervalSince1970: .infinity)) == last)
        #expect(ISO8601Millis.format(Date(timeIntervalSince1970: -Double(Int64.max))) == first)
        #expect(ISO8601Millis.format(Date(timeIntervalSince1970: .nan)) == "1970-01-01T00:00:00.000Z")
        #expect(ISO8601Millis.format(millis: .max) == last)
        #expect(ISO8601Millis.format(millis: .min) == first)
    }
}
