import EdgeTestSupport
import Foundation
import Testing

@testable import KVStore

@Suite("KV on every backend")
struct KVBackendsTests {
    /// Says, in the test output, that the conformance suites ran on LMDB only and how to run
    /// them on PostgreSQL too.
    @Test(.disabled(if: PostgresTestServer.url == nil, PostgresTestServer.skipReason))
    func conformanceSuitesRunOnPostgreSQL() {
        #expect(TestBackend.available == [.lmdb, .postgres])
    }

    @Test(arguments: TestBackend.available) func aValueOf25MiBRoundTripsAndOneByteMoreIsRefused(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            // A 4093-byte pattern repeated: a byte-by-byte map over 25 MiB holds a thread of the
            // cooperative pool for seconds in a debug build, starving every test running beside it.
            let block = Data((0..<4093).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            var big = Data(capacity: 25 << 20)
            while big.count < 25 << 20 { big.append(block.prefix((25 << 20) - big.count)) }
            try await f.store.put("big", value: big)
            #expect(try await f.store.get("big") == big)
            #expect(await expectKVError(.valueTooLarge) { try await f.store.put("bigger", value: Data(count: (25 << 20) + 1)) })
        }
    }

    @Test(arguments: TestBackend.available) func versionsAreStoreWideAndGrowOnEveryWrite(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            let other = try await f.open("OTHER")
            try await f.store.put("a", text: "1")
            let first = try #require(try await f.store.getWithMetadata("a")).version
            try await other.put("a", text: "1")
            let second = try #require(try await other.getWithMetadata("a")).version
            try await f.store.put("a", text: "2")
            let third = try #require(try await f.store.getWithMetadata("a")).version
            #expect(first < second && second < third)
        }
    }
}
