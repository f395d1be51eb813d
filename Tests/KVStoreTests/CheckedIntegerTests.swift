import EdgeTestSupport
import Foundation
import Testing

@testable import KVStore

/// The one checked way to take a number from outside, and the KV limits built on it.
@Suite("numbers from outside")
struct CheckedIntegerTests {
    @Test func parsesDecimalTextIntoItsRange() throws {
        #expect(try CheckedInteger.parse("60", field: "ttl", in: Int64(1)...100) == 60)
        #expect(try CheckedInteger.parse("+7", field: "n", in: Int64(0)...10) == 7)
        #expect(try CheckedInteger.parse("-0", field: "n", in: Int64(0)...10) == 0)
        #expect(try CheckedInteger.parse("007", field: "n", in: 0...10) == 7)
        #expect(try CheckedInteger.parse("9223372036854775807", field: "n", in: Int64.min...Int64.max) == .max)
        #expect(try CheckedInteger.parse("-9223372036854775808", field: "n", in: Int64.min...Int64.max) == .min)
    }

    @Test func refusesWithAnErrorNamingTheFieldAndRange() {
        for text in ["", "+", "-", " 5", "5 ", "1e3", "5.0", "0x10", "1_000", "٣", "99999999999999999999", "-99999999999999999999", "1001", "0"] {
            #expect(throws: NumberFieldError(field: "limit", range: 1...1000)) { try CheckedInteger.parse(text, field: "limit", in: 1...1000) }
        }
        #expect(
            NumberFieldError(field: "expiration_ttl", range: 60...3_153_600_000).description
                == "expiration_ttl must be an integer between 60 and 3153600000"
        )
    }

    @Test func saturatesAndClampsInsteadOfTrapping() {
        #expect(CheckedInteger.saturating("18446744074000000000") == .max)
        #expect(CheckedInteger.saturating("-9223372036854775809") == .min)
        #expect(CheckedInteger.saturating("12a") == nil)
        #expect(CheckedInteger.clamped("18446744074", to: 0...86_400) == 86_400)
        #expect(CheckedInteger.clamped("-3", to: 0...86_400) == 0)
        #expect(CheckedInteger.saturatingAdd(.max, 1) == .max)
        #expect(CheckedInteger.saturatingAdd(.min, -1) == .min)
        #expect(CheckedInteger.saturatingMultiply(.max, -2) == .min)
        #expect(CheckedInteger.saturatingMultiply(-4, -5) == 20)
        #expect(throws: NumberFieldError.self) { try CheckedInteger.check(UInt64.max, field: "n", in: Int64.min...Int64.max) }
    }

    /// The overflow values: `now + ttl` and `at - now` used to trap.
    @Test func extremeExpirationsAreRefusedNotTrapped() async throws {
        let f = try await KVFixture.make()
        defer { f.dir.cleanup() }
        let now = f.clock.nowSeconds()
        let limits = KVLimits()
        for options in [
            KVPutOptions(expirationTtl: .max), KVPutOptions(expirationTtl: .min), KVPutOptions(expiration: .min),
            KVPutOptions(expiration: .max), KVPutOptions(expirationTtl: 3_153_600_001),
        ] {
            #expect(await expectKVError(.invalidExpiration) { try await f.store.put("k", text: "v", options: options) })
        }
        #expect(await expectKVError(.invalidExpiration) { _ = try await f.store.increment("n", by: 1, expirationTtl: .max) })
        do {
            try await f.store.put("k", text: "v", options: KVPutOptions(expirationTtl: .max))
        } catch let error as KVError {
            #expect(error.message == "expiration_ttl must be an integer between 60 and 3153600000")
        }
        do {
            try await f.store.put("k", text: "v", options: KVPutOptions(expiration: .min))
        } catch let error as KVError {
            #expect(error.message == "expiration must be an integer between \(now + 60) and \(now + 3_153_600_000)")
        }
        // The edges of the window are accepted.
        try await f.store.put("a", text: "v", options: KVPutOptions(expirationTtl: KVLimits.maxTTLSeconds))
        try await f.store.put("b", text: "v", options: KVPutOptions(expiration: now + KVLimits.maxTTLSeconds))
        #expect(try await f.store.getWithMetadata("a")?.expiration == now + 3_153_600_000)
        #expect(limits.expirationRange(now: .max).upperBound == .max)
        #expect(KVLimits(minTTLSeconds: .max).ttlRange == 3_153_600_000...3_153_600_000)
        #expect(await expectKVError(.invalidListLimit) { _ = try await f.store.list(limit: .max) })
    }
}
