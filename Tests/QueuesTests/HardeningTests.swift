import EdgeTestSupport
import Foundation
import KVStore
import ServiceLifecycle
import Synchronization
import Testing

@testable import Queues

/// Runs `consumer` in a task the test cancels (a "crashed" process whose handler never returns).
private func abandon(_ consumer: QueueConsumer) -> Task<Void, any Error> {
    Task { try await consumer.run() }
}

@Suite("Hardening: deliveries count before they run, consumer deadline, leases")
struct DeliveryCountingTests {
    @Test("the claim is committed before the handler runs: attempts and the lease are visible while it runs", arguments: TestBackend.available)
    func claimCommittedBeforeHandler(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs")])
            let seenInHandler = Mutex<(attempts: Int, inFlight: Int)?>(nil)
            let gate = Gate()
            let consumer = try broker.consumer(for: "jobs") { batch in
                // Read from the handler itself: the claim must already be durable.
                let peeked = try await broker.peek("jobs", limit: 1, deadLetters: false).first
                let stats = try await broker.stats("jobs")
                seenInHandler.withLock { $0 = (peeked?.attempts ?? 0, stats.inFlight) }
                await gate.wait()
            }
            try await running(consumer) {
                _ = try await broker.send(.text("x"), to: "jobs")
                try await eventually("the handler ran") { seenInHandler.withLock { $0 } != nil }
                gate.open()
                try await eventually("acked") { try await broker.stats("jobs").delivered == 1 }
            }
            let seen = try #require(seenInHandler.withLock { $0 })
            #expect(seen.attempts == 1)
            #expect(seen.inFlight == 1)
        }
    }

    @Test("max_retries 1: a message whose two deliveries were cut by crashes goes to the DLQ, never a third delivery")
    func interruptedTwiceEndsInDeadLetterQueue() async throws {
        let f = try QueueFixture()
        let configs = [QueueConfig.consumed("jobs", retries: 1, dlq: "jobs-dlq")]
        let hung = Gate()
        var abandoned: [Task<Void, any Error>] = []
        let deliveries = Recorder()
        var id = ""
        for process in 1...2 {
            let broker = try await f.broker(configs)
            if process == 1 { id = try await broker.send(.text("poison"), to: "jobs") }
            let consumer = try broker.consumer(for: "jobs") { batch in
                deliveries.record(batch)
                await hung.wait()  // the process "dies" during the delivery
            }
            abandoned.append(abandon(consumer))
            try await eventually("delivery \(process)") { deliveries.count == process }
        }
        #expect(deliveries.deliveries.map(\.attempts) == [1, 2])

        // The third process takes the lease back: the message had its 1 + max_retries deliveries.
        let third = try await f.broker(configs)
        let consumer = try third.consumer(for: "jobs") { deliveries.record($0) }
        try await running(consumer) {
            try await eventually("dead-lettered") { try await third.stats("jobs-dlq").pending == 1 }
        }
        #expect(deliveries.count == 2)
        let stats = try await third.stats("jobs")
        #expect(stats.pending == 0 && stats.inFlight == 0 && stats.deadLettered == 1)
        let dead = try #require(try await third.peek("jobs-dlq", limit: 10, deadLetters: false).first)
        #expect(dead.id == id)
        #expect(dead.attempts == 2)
        #expect(dead.lastError == "delivery interrupted: the process stopped")

        hung.open()
        for task in abandoned {
            task.cancel()
            _ = try? await task.value
        }
        // The abandoned handlers' late outcomes change nothing.
        #expect(try await third.stats("jobs-dlq").pending == 1)
        #expect(try await third.stats("jobs").delivered == 0)
    }

    @Test("a reclaimed message keeps its count and shows why it was delivered again")
    func reclaimKeepsCount() async throws {
        let f = try QueueFixture()
        let configs = [QueueConfig.consumed("jobs", retries: 3)]
        let first = try await f.broker(configs)
        _ = try await first.send(.text("x"), to: "jobs")
        let hung = Gate()
        let crashed = abandon(try first.consumer(for: "jobs") { _ in await hung.wait() })
        try await eventually("claimed") { try await first.stats("jobs").inFlight == 1 }
        let second = try await f.broker(configs)
        let peeked = try #require(try await second.peek("jobs", limit: 1, deadLetters: false).first)
        #expect(peeked.attempts == 1)
        #expect(peeked.lastError == "delivery interrupted: the process stopped")
        let stats = try await second.stats("jobs")
        #expect(stats.pending == 1 && stats.inFlight == 0)
        hung.open()
        crashed.cancel()
        _ = try? await crashed.value
    }
}

@Suite("Hardening: consumer deadline, cancellation, expired leases")
struct ConsumerDeadlineTests {
    @Test(
        "a batch still running at timeout_seconds is cancelled; its unsettled messages are retried (counted), acked ones are not",
        arguments: TestBackend.available
    )
    func deadlineCancelsTheBatch(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            var config = QueueConfig.consumed("jobs", batch: 2, retryDelay: 5)
            config.consumer?.timeoutSeconds = 60
            let broker = try await f.queues([config])
            let recorder = Recorder()
            let sawCancellation = Mutex(false)
            let consumer = try broker.consumer(for: "jobs") { batch in
                recorder.record(batch)
                guard batch.messages[0].attempts == 1 else { return }
                batch.messages.first { $0.body.text == "done" }?.ack()
                // Ignores cancellation, as a stuck handler would; notes it was asked to stop.
                while !Task.isCancelled {
                    await Task.yield()
                    try? await Task.sleep(for: .milliseconds(1))
                }
                sawCancellation.withLock { $0 = true }
                try await Task.sleep(for: .seconds(3600))
            }
            try await running(consumer) {
                _ = try await broker.sendBatch([OutgoingMessage(body: .text("done")), OutgoingMessage(body: .text("stuck"))], to: "jobs")
                try await eventually("first delivery") { recorder.count == 2 }
                try await sleeping(until: f.t0 + 60, on: f.clock)
                f.clock.advance(by: 60)
                try await eventually("retried after the deadline") { try await broker.stats("jobs").delayed == 1 }
                try await eventually("the handler saw the cancellation") { sawCancellation.withLock { $0 } }
                let stats = try await broker.stats("jobs")
                #expect(stats.delivered == 1 && stats.retried == 1 && stats.inFlight == 0)
                let peeked = try #require(try await broker.peek("jobs", limit: 10, deadLetters: false).first)
                #expect(peeked.lastError == "consumer.timeout_seconds (60 s) passed: the batch was cancelled")
                try await sleeping(until: f.t0 + 65, on: f.clock)
                f.clock.advance(by: 5)
                try await eventually("redelivered") { recorder.count == 3 }
                try await eventually("acked") { try await broker.stats("jobs").delivered == 2 }
            }
            #expect(recorder.all.last?.map(\.text) == ["stuck"])
            #expect(recorder.all.last?.map(\.attempts) == [2])
        }
    }

    @Test("cancelling the consumer's task commits its unsettled messages as retries before it returns", arguments: TestBackend.available)
    func cancellationRetriesUnsettled(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", batch: 3)])
            let started = Mutex(false)
            let neverOpened = Gate()
            let consumer = try broker.consumer(for: "jobs") { batch in
                batch.messages[0].ack()
                started.withLock { $0 = true }
                await neverOpened.wait()  // ignores cancellation
            }
            let ended = Mutex(false)
            let task = Task {
                try await consumer.run()
                ended.withLock { $0 = true }
            }
            _ = try await broker.sendBatch(texts(3), to: "jobs")
            try await eventually("the handler runs") { started.withLock { $0 } }
            task.cancel()
            try await eventually("the consumer returns") { ended.withLock { $0 } }
            let stats = try await broker.stats("jobs")
            #expect(stats.inFlight == 0)
            #expect(stats.pending == 2 && stats.delivered == 1 && stats.retried == 2)
            let peeked = try await broker.peek("jobs", limit: 10, deadLetters: false)
            #expect(peeked.map(\.attempts) == [1, 1])
            #expect(peeked.allSatisfy { $0.lastError == "delivery interrupted: the consumer was stopped" })
            neverOpened.open()
        }
    }

    @Test("a batch whose settle commit keeps failing is redelivered when its lease expires, without a restart")
    func expiredLeaseReclaimedWhileServing() async throws {
        let f = try QueueFixture()
        var config = QueueConfig.consumed("jobs")
        config.consumer?.timeoutSeconds = 10
        let broker = try await f.broker([config])
        broker.consumerFaults.settleBackoff = .milliseconds(1)
        broker.consumerFaults.failNextSettles(QueueConsumer.settleAttempts)
        let recorder = Recorder()
        let consumer = try broker.consumer(for: "jobs") { recorder.record($0) }
        try await running(consumer) {
            _ = try await broker.send(.text("x"), to: "jobs")
            try await eventually("delivered") { recorder.count == 1 }
            // Every settle attempt failed: the message stays leased, not lost, not redelivered yet.
            try await eventually("the settle gave up") { broker.consumerFaults.pendingSettleFailures == 0 }
            #expect(try await broker.stats("jobs").inFlight == 1)
            #expect(try await broker.reclaimExpiredLeases() == 0)
            #expect(recorder.count == 1)

            f.clock.advance(by: 10 + 30)
            #expect(try await broker.reclaimExpiredLeases() == 1)
            try await eventually("redelivered") { recorder.count == 2 }
            try await eventually("acked") { try await broker.stats("jobs").delivered == 1 }
        }
        #expect(recorder.deliveries.map(\.attempts) == [1, 2])
        #expect(try await broker.stats("jobs").inFlight == 0)
    }

    @Test("timeout_seconds is validated (1…86400) and defaults to 900")
    func timeoutValidation() throws {
        #expect(ConsumerConfig().timeoutSeconds == 900)
        let decoded = try JSONDecoder().decode(ConsumerConfig.self, from: Data(#"{"timeout_seconds": 30}"#.utf8))
        #expect(decoded.timeoutSeconds == 30)
        for bad in [0, -1, 86_401] {
            let error = #expect(throws: QueueError.self) { try QueueConfig(name: "jobs", consumer: ConsumerConfig(timeoutSeconds: bad)).validate() }
            #expect(error?.message == "queue \"jobs\": consumer.timeout_seconds: must be between 1 and 86400 seconds, got \(bad)")
        }
    }
}
