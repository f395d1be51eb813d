import Foundation
import KVStore
import LMDBStorage
import Testing

@testable import Queues

/// Messages of `queue` due after `nowMillis`, counted by walking the due index (the reference
/// the counters must match).
private func delayedByScan(_ broker: LMDBQueueBroker, _ queue: String, nowMillis: Int64) throws -> Int {
    let storage = try broker.storage(queue)
    return try broker.environment.read { txn in
        try txn.withCursor(storage.ready) { cursor in
            var n = 0
            var entry = try cursor.seek(atLeast: ReadyKey.lowerBound(dueMillis: nowMillis + 1))
            while entry != nil {
                n += 1
                entry = try cursor.next()
            }
            return n
        }
    }
}

private func entries(_ broker: LMDBQueueBroker, _ db: LMDBDatabase) throws -> Int {
    try broker.environment.read { try $0.count(db) }
}

@Suite("Bounded writer work: due counts, enqueue-time index, migration")
struct StorageIndexTests {
    @Test("pending/delayed come from the due counts and match a scan at every moment, across every bucket level")
    func dueCountsMatchAScan() async throws {
        let f = try QueueFixture()
        let broker = try await f.broker([QueueConfig(name: "jobs", retention: 1_209_600)])
        let storage = try broker.storage("jobs")
        var generator = SystemRandomNumberGenerator()
        var sent = 0
        var claimed = 0
        for round in 0..<30 {
            let delays = (0..<Int.random(in: 1...50, using: &generator)).map { _ in
                [0, 1, 2, 59, 300, 4_000, 20_000, 86_400].randomElement(using: &generator)! + Int.random(in: 0...3, using: &generator)
            }
            _ = try await broker.sendBatch(delays.map { OutgoingMessage(body: .text("r\(round)"), delaySeconds: min($0, 86_400)) }, to: "jobs")
            sent += delays.count
            // Steps from a fraction of a bucket (0.26 s) to several of the coarsest (18.6 h).
            f.clock.advance(by: [0.001, 0.26, 1, 17, 1_000, 3_600, 40_000].randomElement(using: &generator)!)
            let now = f.clock.nowMillis()
            // Some due messages leave the index (claimed as a consumer would), delayed ones among them.
            let due = try broker.environment.read { txn in
                try storage.scanAvailable(txn, nowMillis: now, excluding: [], limit: Int.random(in: 0...20, using: &generator))
            }
            let claim = try await broker.environment.write { txn in
                try storage.claim(txn, due.available, lease: LeaseValue(expiryMillis: now + 86_400_000, token: 7), nowMillis: now)
            }
            claimed += claim.messages.count
            let stats = try await broker.stats("jobs")
            let expected = try delayedByScan(broker, "jobs", nowMillis: now)
            #expect(stats.delayed == expected, "round \(round) at \(now)")
            #expect(stats.pending + stats.delayed == sent - claimed)
        }
        // After the longest delay everything is pending.
        f.clock.advance(by: 86_401)
        let stats = try await broker.stats("jobs")
        #expect(stats.delayed == 0 && stats.pending == sent - claimed)
    }

    @Test("messages due at once touch no due count; counts left in past buckets are deleted by the purge")
    func dueCountsOnlyAhead() async throws {
        let f = try QueueFixture()
        let broker = try await f.broker([QueueConfig(name: "jobs", retention: 1_209_600)])
        let storage = try broker.storage("jobs")
        _ = try await broker.sendBatch(texts(10), to: "jobs")
        #expect(try entries(broker, storage.dueCounts) == 0)

        _ = try await broker.send(.text("later"), to: "jobs", delaySeconds: 100)
        #expect(try entries(broker, storage.dueCounts) > 0)
        #expect(try await broker.stats("jobs").delayed == 1)

        // Past its due time, the delayed message is claimed: its buckets have passed.
        f.clock.advance(by: 101)
        let now = f.clock.nowMillis()
        let due = try broker.environment.read { txn in try storage.scanAvailable(txn, nowMillis: now, excluding: [], limit: 100) }
        let claim = try await broker.environment.write { txn in
            try storage.claim(txn, due.available, lease: LeaseValue(expiryMillis: now + 60_000, token: 7), nowMillis: now)
        }
        #expect(claim.messages.count == 11)
        var stats = try await broker.stats("jobs")
        #expect(stats.pending == 0 && stats.delayed == 0 && stats.inFlight == 11)

        #expect(try await broker.purgeExpired() == 0)
        #expect(try entries(broker, storage.dueCounts) == 0)
        stats = try await broker.stats("jobs")
        #expect(stats.pending == 0 && stats.delayed == 0 && stats.inFlight == 11)
    }

    @Test("the retention purge walks the enqueue-time index in chunks of at most 1,000 and keeps in-flight messages")
    func purgeInChunks() async throws {
        let f = try QueueFixture()
        let broker = try await f.broker([QueueConfig(name: "jobs", retention: 60)])
        for _ in 0..<25 { _ = try await broker.sendBatch(texts(100), to: "jobs") }
        let storage = try broker.storage("jobs")
        // One message in flight: claimed as a consumer would.
        let first = try await broker.environment.read { txn in try storage.scanAvailable(txn, nowMillis: f.clock.nowMillis(), excluding: [], limit: 1)
        }
        let now = f.clock.nowMillis()
        let claim = try await broker.environment.write { txn in
            try storage.claim(txn, first.available, lease: LeaseValue(expiryMillis: now + 60_000, token: 7), nowMillis: now)
        }
        #expect(claim.messages.count == 1)

        f.clock.advance(by: 30)
        #expect(try await broker.purgeExpired() == 0)
        f.clock.advance(by: 30)
        let before = broker.environment.writeStatistics.commits
        #expect(try await broker.purgeExpired() == 2499)
        #expect(broker.environment.writeStatistics.commits - before >= 3)
        let stats = try await broker.stats("jobs")
        #expect(stats.pending == 0 && stats.delayed == 0 && stats.inFlight == 1 && stats.expired == 2499)
        #expect(try entries(broker, storage.enqueued) == 1)
        #expect(try entries(broker, storage.dueCounts) == 0)
    }

    @Test("a data directory written before the indexes (schema 1, leases without expiry) is migrated once at open")
    func migratesOldLayout() async throws {
        let f = try QueueFixture()
        let config = QueueConfig(name: "jobs", retention: 600, consumer: ConsumerConfig(maxRetries: 3))
        let t0 = f.clock.nowMillis()
        // The old layout: messages, due index and empty lease values; no enqueue index, no counts, no version.
        let messages = try await f.environment.database("q/jobs/messages")
        let ready = try await f.environment.database("q/jobs/ready")
        let leases = try await f.environment.database("q/jobs/leases")
        let generator = MessageIDGenerator()
        let ids = (0..<4).map { generator.next(millis: t0 + Int64($0)) }
        try await f.environment.write { txn in
            for (i, delay) in [0, 0, 100_000, 0].enumerated() {
                let id = ids[i]
                var record = MessageRecord(contentType: .text, sentMillis: t0, dueMillis: t0 + Int64(delay), body: Data("m\(i)".utf8))
                if i == 3 { record.attempts = 1 }  // the old lease counted its delivery
                try txn.put(messages, key: id.bytes, value: record.encoded())
                if i == 3 {
                    try txn.put(leases, key: id.bytes, value: [])
                } else {
                    try txn.put(ready, key: ReadyKey.make(dueMillis: record.dueMillis, id: id), value: [])
                }
            }
        }
        let broker = try await f.broker([config])
        let storage = try broker.storage("jobs")
        var stats = try await broker.stats("jobs")
        #expect(stats.pending == 3 && stats.delayed == 1 && stats.inFlight == 0)
        #expect(try entries(broker, storage.enqueued) == 4)
        let reclaimed = try #require(try await broker.peek("jobs", limit: 10, deadLetters: false).first { $0.id == ids[3].description })
        #expect(reclaimed.attempts == 1)
        #expect(reclaimed.lastError == "delivery interrupted: the process stopped")

        // Opening again does not rebuild (the version is recorded) and the counts stay right.
        let again = try await f.broker([config])
        stats = try await again.stats("jobs")
        #expect(stats.pending == 3 && stats.delayed == 1)

        // The purge finds the old messages through the rebuilt index.
        f.clock.advance(by: 600)
        #expect(try await again.purgeExpired() == 4)
        stats = try await again.stats("jobs")
        #expect(stats.pending == 0 && stats.delayed == 0)
        #expect(try entries(again, storage.dueCounts) == 0)
    }
}
