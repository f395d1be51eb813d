import CLMDB
import Dispatch
import EdgeTestSupport
import Foundation
import LMDBStorage
import Testing

@testable import KVStore

/// An error a test write throws on purpose.
private struct Refused: Error, Equatable { let index: Int }

@Suite("Group commit: a failing write fails alone")
struct KVGroupCommitTests {
    /// Holds the writer thread in a write until `release()`, so the writes submitted meanwhile
    /// form one group.
    private final class Gate: Sendable {
        let entered = DispatchSemaphore(value: 0)
        let open = DispatchSemaphore(value: 0)
        func release() { open.signal() }
    }

    /// Submits `bodies` while the writer is held, then releases it: they commit as one group.
    private func group(
        _ f: KVFixture,
        _ bodies: [@Sendable (LMDBTransaction) throws -> Void]
    ) async throws -> (results: [Result<Void, any Error>], stats: LMDBWriteStatistics) {
        let gate = Gate()
        let holder = Task {
            try await f.environment.write { _ in
                gate.entered.signal()
                gate.open.wait()
            }
        }
        await withCheckedContinuation { c in
            DispatchQueue.global().async {
                gate.entered.wait()
                c.resume()
            }
        }
        let before = f.environment.writeStatistics
        let tasks = bodies.map { body in
            Task { () -> Result<Void, any Error> in
                do {
                    try await f.environment.write(body)
                    return .success(())
                } catch { return .failure(error) }
            }
        }
        while f.environment.pendingWriteCount < bodies.count { await Task.yield() }
        gate.release()
        try await holder.value
        var results: [Result<Void, any Error>] = []
        for task in tasks { results.append(await task.value) }
        var stats = f.environment.writeStatistics
        stats.commits -= before.commits
        stats.writes -= before.writes
        stats.replays -= before.replays
        return (results, stats)
    }

    private static func put(_ db: LMDBDatabase, _ key: String) -> @Sendable (LMDBTransaction) throws -> Void {
        { txn in try txn.put(db, key: Array(key.utf8), value: Array("v".utf8)) }
    }

    private func keys(_ f: KVFixture, _ db: LMDBDatabase) throws -> Set<String> {
        try f.environment.read { txn in
            try txn.withCursor(db) { cursor in
                var out = Set<String>()
                var entry = try cursor.first()
                while let e = entry {
                    out.insert(String(decoding: e.key, as: UTF8.self))
                    entry = try cursor.next()
                }
                return out
            }
        }
    }

    @Test func failingWritesInAGroupFailAloneAndLeaveNoTrace() async throws {
        let f = try await KVFixture.make()
        defer { f.dir.cleanup() }
        let db = try await f.environment.database("group")
        var bodies: [@Sendable (LMDBTransaction) throws -> Void] = []
        var expectedKeys = Set<String>()
        for i in 0..<40 {
            switch i % 10 {
            case 3:  // writes, then throws: its write must vanish
                bodies.append { txn in
                    try txn.put(db, key: Array("partial-\(i)".utf8), value: [1])
                    throw Refused(index: i)
                }
            case 7:  // liblmdb refuses it (an empty key)
                bodies.append { txn in try txn.put(db, key: [], value: [1]) }
            default:
                bodies.append(Self.put(db, "ok-\(i)"))
                expectedKeys.insert("ok-\(i)")
            }
        }
        let (results, stats) = try await group(f, bodies)
        for (i, result) in results.enumerated() {
            switch (i % 10, result) {
            case (3, .failure(let error)): #expect(error as? Refused == Refused(index: i))
            case (7, .failure(let error)): #expect(error is LMDBError)
            case (3, _), (7, _): Issue.record("write \(i) should have failed")
            case (_, .failure(let error)): Issue.record("write \(i) failed: \(error)")
            case (_, .success): break
            }
        }
        #expect(try keys(f, db) == expectedKeys)
        #expect(stats.commits == 2 && stats.writes == 41)  // the held write, then the group
        #expect(stats.replays >= 1)
    }

    @Test func aGroupOfFailuresOnlyStillCommitsNothingAndFailsEach() async throws {
        let f = try await KVFixture.make()
        defer { f.dir.cleanup() }
        let db = try await f.environment.database("group")
        let bodies: [@Sendable (LMDBTransaction) throws -> Void] = (0..<30).map { i in
            { txn in
                try txn.put(db, key: Array("x\(i)".utf8), value: [1])
                throw Refused(index: i)
            }
        }
        let (results, stats) = try await group(f, bodies)
        for (i, result) in results.enumerated() {
            guard case .failure(let error) = result else {
                Issue.record("write \(i) succeeded")
                continue
            }
            #expect(error as? Refused == Refused(index: i))
        }
        #expect(try keys(f, db).isEmpty)
        #expect(stats.commits == 2)  // the held write, then the group
    }

    @Test func kvFailuresInAGroupDoNotDisturbTheOthers() async throws {
        let f = try await KVFixture.make()
        defer { f.dir.cleanup() }
        try await f.store.put("text", value: Data("not a number".utf8))
        let store = f.store
        let gate = Gate()
        let holder = Task {
            try await f.environment.write { _ in
                gate.entered.signal()
                gate.open.wait()
            }
        }
        await withCheckedContinuation { c in
            DispatchQueue.global().async {
                gate.entered.wait()
                c.resume()
            }
        }
        let increments = (0..<10).map { _ in Task { try await store.increment("n", by: 1, expirationTtl: nil) } }
        let bad = (0..<5).map { _ in Task { try await store.increment("text", by: 1, expirationTtl: nil) } }
        let cas = (0..<5).map { i in
            Task { try await store.compareAndSet("cas", value: Data("\(i)".utf8), expectedVersion: nil, options: KVPutOptions()) }
        }
        while f.environment.pendingWriteCount < 20 { await Task.yield() }
        gate.release()
        try await holder.value
        var sums: [Int64] = []
        for t in increments { sums.append(try await t.value) }
        #expect(sums.sorted() == Array(1...10))
        for t in bad { await #expect(throws: KVError.self) { try await t.value } }
        var stored = 0
        for t in cas { if case .stored = try await t.value { stored += 1 } }
        #expect(stored == 1)
        #expect(try await store.get("n")?.text == "10")
        #expect(try await store.get("text")?.text == "not a number")
    }
}
