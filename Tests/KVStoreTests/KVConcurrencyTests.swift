import EdgeTestSupport
import Foundation
import Testing

@testable import KVStore

@Suite("KV concurrency, increment and compare-and-set")
struct KVConcurrencyTests {
    @Test(arguments: TestBackend.available) func concurrentWritersAllLand(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<64 {
                    group.addTask {
                        for i in 0..<20 { try await f.store.put("w\(writer)-\(i)", text: "\(writer * 1000 + i)") }
                    }
                }
                try await group.waitForAll()
            }
            for writer in [0, 31, 63] {
                for i in [0, 19] { #expect(try await f.store.getText("w\(writer)-\(i)") == "\(writer * 1000 + i)") }
            }
            var count = 0
            var cursor: String?
            repeat {
                let page = try await f.store.list(cursor: cursor)
                count += page.keys.count
                cursor = page.cursor
            } while cursor != nil
            #expect(count == 64 * 20)
        }
    }

    /// Hundreds of gets at once, more than the PostgreSQL pool has connections: each gets its
    /// own key's entry, nothing for a deleted, expired or never written key.
    @Test(arguments: TestBackend.available) func concurrentGetsEachFindTheirOwnKey(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            for k in 0..<60 {
                switch k % 4 {
                case 0: try await f.store.put("k\(k)", text: "v\(k)")
                case 1: try await f.store.put("k\(k)", text: "v\(k)", options: KVPutOptions(expirationTtl: 60))
                case 2:
                    try await f.store.put("k\(k)", text: "v\(k)")
                    try await f.store.delete("k\(k)")
                default: break  // never written
                }
            }
            try await f.store.put("late", text: "soon gone", options: KVPutOptions(expirationTtl: 60))
            f.clock.advance(by: 30)
            try await f.store.put("late", text: "still here", options: KVPutOptions(expirationTtl: 60))
            f.clock.advance(by: 40)  // the keys put with a TTL of 60 s at the start have expired
            let found = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for n in 0..<600 {
                    group.addTask {
                        let k = n % 61
                        return (k, try await f.store.getText(k == 60 ? "late" : "k\(k)"))
                    }
                }
                var found: [(Int, String?)] = []
                for try await result in group { found.append(result) }
                return found
            }
            #expect(found.count == 600)
            for (k, text) in found {
                if k == 60 {
                    #expect(text == "still here")
                } else {
                    #expect(text == (k % 4 == 0 ? "v\(k)" : nil), "k\(k)")
                }
            }
        }
    }

    /// Each writer reads its own key right after every put, 32 at once: a get never misses a
    /// write that returned before it was called.
    @Test(arguments: TestBackend.available) func aGetSeesEveryPutThatReturnedBeforeIt(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<32 {
                    group.addTask {
                        for i in 0..<15 {
                            try await f.store.put("w\(writer)", text: "\(i)")
                            let read = try await f.store.getText("w\(writer)")
                            #expect(read == "\(i)", "writer \(writer) wrote \(i), read \(read ?? "nothing")")
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test(arguments: TestBackend.available) func incrementLosesNoUpdatesUnderConcurrency(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            let results = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        var got: [Int64] = []
                        for _ in 0..<5 { got.append(try await f.store.increment("n", by: 1, expirationTtl: nil)) }
                        return got
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(try await f.store.getText("n") == "200")
            #expect(Set(results) == Set(1...200))
            #expect(try await f.store.increment("n", by: -50, expirationTtl: nil) == 150)
        }
    }

    @Test(arguments: TestBackend.available) func incrementRejectsNonIntegersAndOverflow(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            try await f.store.put("word", text: "abc")
            #expect(await expectKVError(.notAnInteger) { _ = try await f.store.increment("word", by: 1, expirationTtl: nil) })
            try await f.store.put("max", text: String(Int64.max))
            #expect(await expectKVError(.overflow) { _ = try await f.store.increment("max", by: 1, expirationTtl: nil) })
            #expect(try await f.store.getText("max") == String(Int64.max))
        }
    }

    @Test(arguments: TestBackend.available) func compareAndSetDetectsConflicts(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            let first = try await f.store.compareAndSet("lock", value: Data("a".utf8), expectedVersion: nil, options: KVPutOptions())
            guard case .stored(let v1) = first else {
                Issue.record("first create should store")
                return
            }
            #expect(
                try await f.store.compareAndSet("lock", value: Data("b".utf8), expectedVersion: nil, options: KVPutOptions())
                    == .conflict(currentVersion: v1)
            )
            let second = try await f.store.compareAndSet("lock", value: Data("c".utf8), expectedVersion: v1, options: KVPutOptions())
            guard case .stored(let v2) = second else {
                Issue.record("matching version should store")
                return
            }
            #expect(v2 != v1)
            #expect(
                try await f.store.compareAndSet("lock", value: Data("d".utf8), expectedVersion: v1, options: KVPutOptions())
                    == .conflict(currentVersion: v2)
            )
            #expect(try await f.store.getText("lock") == "c")
            #expect(try await f.store.getWithMetadata("lock")?.version == v2)

            // A deleted and re-created key never reuses an old version.
            try await f.store.delete("lock")
            try await f.store.put("lock", text: "e")
            #expect(
                try await f.store.compareAndSet("lock", value: Data("f".utf8), expectedVersion: v2, options: KVPutOptions())
                    != .stored(version: v2 + 1)
            )
            #expect(try await f.store.getText("lock") == "e")
        }
    }

    @Test(arguments: TestBackend.available) func concurrentCompareAndSetLetsExactlyOneWriterWin(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            try await f.store.put("slot", text: "free")
            let version = try #require(try await f.store.getWithMetadata("slot")?.version)
            let outcomes = try await withThrowingTaskGroup(of: KVCompareAndSetResult.self) { group in
                for i in 0..<16 {
                    group.addTask {
                        try await f.store.compareAndSet("slot", value: Data("taken by \(i)".utf8), expectedVersion: version, options: KVPutOptions())
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.filter { if case .stored = $0 { return true } else { return false } }
            #expect(winners.count == 1)
        }
    }

    @Test(arguments: TestBackend.available) func expiredKeysCountAsAbsentForCompareAndSet(backend: TestBackend) async throws {
        try await withKV(backend) { f in
            try await f.store.put("idem", text: "x", options: KVPutOptions(expirationTtl: 60))
            f.clock.advance(by: 60)
            let result = try await f.store.compareAndSet("idem", value: Data("y".utf8), expectedVersion: nil, options: KVPutOptions())
            if case .stored = result {} else { Issue.record("expired key should count as absent: \(result)") }
        }
    }
}
