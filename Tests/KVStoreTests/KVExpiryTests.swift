import EdgeTestSupport
import Foundation
import LMDBStorage
import Testing

@testable import KVStore

@Suite("KV expiry and sweeping")
struct KVExpiryTests {
    @Test(arguments: TestBackend.available) func anExpiredKeyIsInvisibleToGetBulkGetAndList(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            let start = f.clock.nowSeconds()
            try await f.store.put("ttl", text: "soon gone", options: KVPutOptions(expirationTtl: 60))
            try await f.store.put("abs", text: "later", options: KVPutOptions(expiration: start + 120))
            try await f.store.put("forever", text: "stays")
            #expect(try await f.store.getWithMetadata("ttl")?.expiration == start + 60)
            #expect(try await f.store.list().keys.map(\.expiration) == [start + 120, nil, start + 60])

            f.clock.advance(by: 59.9)
            #expect(try await f.store.getText("ttl") == "soon gone")
            f.clock.advance(by: 0.1)
            #expect(try await f.store.get("ttl") == nil)
            #expect(try await f.store.getMany(["ttl", "abs"]).map { $0?.value.text } == [nil, "later"])
            #expect(try await f.store.list().keys.map(\.name) == ["abs", "forever"])

            f.clock.advance(by: 60)
            #expect(try await f.store.get("abs") == nil)
            #expect(try await f.store.list().keys.map(\.name) == ["forever"])
        }
    }

    @Test func aSweepRemovesAtMostAThousandKeysPerTransactionThroughTheExpiryIndex() async throws {
        let f = try await KVFixture.make()
        defer { f.dir.cleanup() }
        for chunk in 0..<25 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<100 {
                    group.addTask { try await f.store.put("k\(chunk)-\(i)", text: "x", options: KVPutOptions(expirationTtl: 60)) }
                }
                try await group.waitForAll()
            }
        }
        try await f.store.put("keep", text: "x")
        f.clock.advance(by: 61)
        let before = f.environment.writeStatistics.commits
        // Asked for more: still chunks of at most 1,000, so other writers never wait behind 2,500 deletes.
        #expect(try await f.store.sweepExpired(batch: 5000) == 2500)
        #expect(f.environment.writeStatistics.commits - before >= 3)
        #expect(try f.store.storedCount() == 1)
    }

    @Test func theSweeperReclaimsOnlyExpiredRecords() async throws {
        let f = try await KVFixture.make()
        defer { f.dir.cleanup() }
        for i in 0..<30 { try await f.store.put("exp\(i)", text: "x", options: KVPutOptions(expirationTtl: 60)) }
        for i in 0..<5 { try await f.store.put("keep\(i)", text: "x") }
        // Rewritten without a TTL: the old index entry must not delete it.
        try await f.store.put("exp0", text: "now permanent")
        // Rewritten with a later TTL: survives the first sweep.
        try await f.store.put("exp1", text: "later", options: KVPutOptions(expirationTtl: 600))
        #expect(try f.store.storedCount() == 35)

        #expect(try await f.store.sweepExpired() == 0)
        f.clock.advance(by: 61)
        #expect(try await f.store.sweepExpired(batch: 7) == 28)
        #expect(try f.store.storedCount() == 7)
        #expect(try await f.store.getText("exp0") == "now permanent")
        #expect(try await f.store.getText("exp1") == "later")

        f.clock.advance(by: 600)
        let sweeper = KVSweeper(stores: [f.store])
        await sweeper.sweepOnce()
        #expect(try f.store.storedCount() == 6)
        #expect(try await f.store.list().keys.count == 6)
    }

    @Test(arguments: TestBackend.available) func incrementKeepsTheExpirationItWasCreatedWith(backend: TestBackend) async throws {
        try await withKV(backend) { (f: KVCase) async throws in
            #expect(try await f.store.increment("rate:+1555", by: 1, expirationTtl: 3600) == 1)
            f.clock.advance(by: 1800)
            #expect(try await f.store.increment("rate:+1555", by: 1, expirationTtl: 3600) == 2)
            f.clock.advance(by: 1800)
            // The window opened an hour ago has ended: a new one starts at 1.
            #expect(try await f.store.increment("rate:+1555", by: 1, expirationTtl: 3600) == 1)
        }
    }
}

@Suite("KV listing")
struct KVListTests {
    @Test(arguments: TestBackend.available) func paginatesOver2500KeysInByteOrder(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            let names = (0..<2500).map { String(format: "user:%05d", $0) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for chunk in stride(from: 0, to: names.count, by: 100) {
                    group.addTask {
                        for name in names[chunk..<min(chunk + 100, names.count)] { try await f.store.put(name, text: name) }
                    }
                }
                try await group.waitForAll()
            }
            try await f.store.put("zzz", text: "outside the prefix")

            var seen: [String] = []
            var cursor: String?
            var pages: [KVListResult] = []
            repeat {
                let page = try await f.store.list(prefix: "user:", limit: 1000, cursor: cursor)
                pages.append(page)
                seen += page.keys.map(\.name)
                cursor = page.cursor
                #expect((page.cursor == nil) == page.listComplete)
            } while cursor != nil
            #expect(pages.map(\.keys.count) == [1000, 1000, 500])
            #expect(pages.map(\.listComplete) == [false, false, true])
            #expect(seen == names)
            #expect(try await f.store.list().keys.count == 1000)
            #expect(try await f.store.list(limit: 1000, cursor: pages[1].cursor).keys.count == 501)
        }
    }

    @Test(arguments: TestBackend.available) func ordersByUTF8BytesAndFiltersByPrefix(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            for key in ["é", "z", "a", "B", "ab", "a\u{0}", "日本"] { try await f.store.put(key, text: key) }
            let all = try await f.store.list().keys.map(\.name)
            #expect(all == ["B", "a", "a\u{0}", "ab", "z", "é", "日本"])
            #expect(try await f.store.list(prefix: "a").keys.map(\.name) == ["a", "a\u{0}", "ab"])
            #expect(try await f.store.list(prefix: "nothing").keys.isEmpty)
            let exact = try await f.store.list(prefix: "a", limit: 3)
            #expect(exact.listComplete)
            #expect(exact.cursor == nil)
        }
    }

    @Test(arguments: TestBackend.available) func expiredKeysDoNotCountTowardsThePageLimit(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            for i in 0..<10 { try await f.store.put("k\(i)", text: "x", options: i % 2 == 0 ? KVPutOptions(expirationTtl: 60) : KVPutOptions()) }
            f.clock.advance(by: 60)
            let page = try await f.store.list(limit: 5)
            #expect(page.keys.map(\.name) == ["k1", "k3", "k5", "k7", "k9"])
            #expect(page.listComplete)
        }
    }
}
