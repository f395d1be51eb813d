import EdgeTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import EdgeStorage

/// The queue statements' plans must not depend on the table's statistics: autovacuum analyzes
/// the table while a queue is empty, and the planner then expects one row of it, where a plan
/// that walks the whole queue costs as little as one that takes a batch.
@Suite(
    "PostgreSQL queue plans after an analyze that saw none of the queue",
    .enabled(if: PostgresTestServer.url != nil, PostgresTestServer.skipReason)
)
struct PostgresQueuePlanTests {
    let logger = Logger(label: "edge-run.tests.plans")

    let now: Int64 = 1_800_000_000_000

    /// A migrated database whose statistics saw only another queue, its timestamps far from
    /// now's, and then a burst of 5,000 due messages in queue `jobs`, the one they know nothing of.
    private func withSkewedStatistics(_ body: (PostgresURL) async throws -> Void) async throws {
        try await TestStorage.with(.postgres) { storage in
            guard case .postgres(let url) = storage.location else { return }
            let backend = try await storage.location.open(logger: logger)  // migrates
            await backend.close()
            try await PostgresTestServer.execute(
                url,
                """
                INSERT INTO edge_run.queue_messages (queue, id, content_type, body, sent_at, enqueued_at, due_at)
                SELECT 'other', uuid_send(gen_random_uuid()), 0, '\\x7b7d'::bytea, 0, 0, 0 FROM generate_series(1, 300)
                """
            )
            try await PostgresTestServer.execute(url, "ANALYZE edge_run.queue_messages")
            try await PostgresTestServer.execute(
                url,
                """
                INSERT INTO edge_run.queue_messages (queue, id, content_type, body, sent_at, enqueued_at, due_at)
                SELECT 'jobs', uuid_send(gen_random_uuid()), 0, '\\x7b7d'::bytea, \(now) - g, \(now) - g, \(now) - g
                FROM generate_series(1, 5000) AS g
                """
            )
            try await body(url)
        }
    }

    /// The `EXPLAIN ANALYZE` lines of `statement`, run after `setting` in a transaction rolled back.
    private func explain(_ statement: PostgresQuery, after setting: PostgresQuery, url: PostgresURL) async throws -> [String] {
        try await PostgresTestServer.withAdmin(url) { connection in
            try await connection.query("BEGIN", logger: logger).consume()
            try await connection.query(setting, logger: logger).consume()
            let explain = PostgresQuery(unsafeSQL: "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + statement.sql, binds: statement.binds)
            var lines: [String] = []
            for try await line in try await connection.query(explain, logger: logger).decode(String.self) { lines.append(line) }
            try await connection.query("ROLLBACK", logger: logger).consume()
            return lines
        }
    }

    /// The most rows any node of `plan` returned or read and dropped by a filter.
    private func largestNode(_ plan: [String]) -> Int? {
        plan.compactMap { line -> Int? in
            guard let range = line.range(of: "rows=") ?? line.range(of: "Rows Removed by Filter: ") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }.max()
    }

    @Test func aClaimReadsItsBatchNotTheQueue() async throws {
        try await withSkewedStatistics { url in
            let claim = PostgresQueueBroker.claimStatement(
                queue: "jobs",
                limit: 100,
                token: 7,
                leaseUntil: now + 60_000,
                nowMillis: now,
                cutoff: now - 86_400_000,
                timedOut: now - 5_000
            )
            let plan = try await explain(claim, after: PostgresQueueBroker.dueOrderPlanSetting, url: url)
            let text = plan.joined(separator: "\n")
            // No node of the plan handles more rows than the batch: nothing sorted or filtered
            // the queue's 5,000 messages.
            let largest = try #require(largestNode(plan), "\(text)")
            #expect(largest <= 100, "\(text)")
            #expect(text.contains("queue_messages_due") && text.contains("Tid Scan") && !text.contains("Sort"), "\(text)")
        }
    }

    @Test func aScanOfTheDueIndexStopsAtItsLimit() async throws {
        try await withSkewedStatistics { url in
            let scan = PostgresQueueBroker.availableStatement(queue: "jobs", nowMillis: now, cutoff: now - 86_400_000, limit: 200)
            let plan = try await explain(scan, after: PostgresQueueBroker.dueOrderPlanSetting, url: url)
            let text = plan.joined(separator: "\n")
            // The count stops at the limit and the next due time is one probe: no node reads the
            // queue's 5,000 messages.
            let largest = try #require(largestNode(plan), "\(text)")
            #expect(largest <= 200, "\(text)")
            #expect(text.contains("queue_messages_due") && !text.contains("Sort"), "\(text)")
        }
    }
}

extension PostgresRowSequence {
    fileprivate func consume() async throws { for try await _ in self {} }
}
