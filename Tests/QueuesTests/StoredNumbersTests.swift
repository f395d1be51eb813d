import Foundation
import KVStore
import LMDBStorage
import Queues
import Testing

/// Numbers another process (or a damaged file) left in the queue databases: read with a
/// range check or clamped, never trapped on.
@Suite("stored queue numbers")
struct StoredNumbersTests {
    /// `Int(UInt64)` trapped on a counter past `Int.max`.
    @Test func aCounterPastIntMaxIsClamped() async throws {
        let f = try QueueFixture()
        let broker = try await f.broker([QueueConfig(name: "jobs")])
        let counters = try await f.environment.database("q/jobs/counters")
        try await f.environment.write { txn in
            try txn.put(counters, key: Array("delivered".utf8), value: withUnsafeBytes(of: UInt64.max.littleEndian) { Array($0) })
        }
        let stats = try #require(try await broker.allStats().first { $0.name == "jobs" })
        #expect(stats.delivered == Int.max)
    }

    /// A queue recorded with a retention of Int.max seconds: `retention * 1000` trapped in the CLI.
    @Test func aDamagedQueueRecordIsRefusedByTheCLIBroker() async throws {
        let f = try QueueFixture()
        _ = try await f.broker([QueueConfig(name: "jobs")])
        let registry = try await f.environment.database("queues")
        try await f.environment.write { txn in
            try txn.put(registry, key: Array("jobs".utf8), value: Array(#"{"name":"jobs","retention":9223372036854775807}"#.utf8))
        }
        await #expect(throws: QueueError.self) { _ = try await LMDBQueueBroker.openExisting(environment: f.environment, clock: f.clock) }
    }

    /// `enqueuedMillis + retention` trapped on a stored time near Int64.max (retention purge,
    /// and the consumer before each delivery).
    @Test func aStoredTimeNearInt64MaxIsNotATrap() async throws {
        let f = try QueueFixture()
        let broker = try await f.broker([QueueConfig(name: "jobs")])
        _ = try await broker.send(.json(text: "{}"), to: "jobs")
        let messages = try await f.environment.database("q/jobs/messages")
        try await f.environment.write { txn in
            let (key, value) = try txn.withCursor(messages) { cursor in
                let entry = try #require(try cursor.first())
                return (Array(entry.key), Array(entry.value))
            }
            var damaged = value
            for offset in [10, 18] {  // sent and enqueued (unix ms)
                withUnsafeBytes(of: Int64.max.littleEndian) { damaged.replaceSubrange(offset..<(offset + 8), with: $0) }
            }
            try txn.put(messages, key: key, value: damaged)
        }
        #expect(try await broker.purgeExpired() == 0)
        let peeked = try await broker.peek("jobs", limit: 1)
        #expect(peeked.first?.jsonLine.contains("\"timestamp\":\"9999-12-31T23:59:59.999Z\"") == true)
    }
}
