import EdgeTestSupport
import Foundation
import KVStore
import Queues
import Synchronization
import Testing

@Suite("Consumer: batch size, batch timeout, delays, concurrency")
struct ConsumerBatchingTests {
    @Test("full batches go at once; the rest waits for max_batch_timeout", arguments: TestBackend.available)
    func batchSizeBoundary(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", batch: 10, timeout: 5)])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "jobs") { recorder.record($0) }
            try await running(consumer) {
                _ = try await broker.sendBatch(texts(25), to: "jobs")
                try await sleeping(until: f.t0 + 5, on: f.clock)
                #expect(recorder.sizes == [10, 10])
                f.clock.advance(by: 5)
                try await eventually("the partial batch") { recorder.count == 25 }
                #expect(recorder.sizes == [10, 10, 5])
                #expect(recorder.deliveries.map(\.text) == (0..<25).map { "m\($0)" })
                #expect(recorder.deliveries.allSatisfy { $0.attempts == 1 })
            }
            try await eventually("settled") { try await broker.stats("jobs").delivered == 25 }
            let stats = try await broker.stats("jobs")
            #expect(stats.pending == 0 && stats.inFlight == 0 && stats.retried == 0)
        }
    }

    @Test("exactly max_batch_size messages are delivered without waiting", arguments: TestBackend.available)
    func exactlyFull(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", batch: 3, timeout: 60)])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "jobs") { recorder.record($0) }
            try await running(consumer) {
                _ = try await broker.sendBatch(texts(2), to: "jobs")
                try await sleeping(until: f.t0 + 60, on: f.clock)
                #expect(recorder.count == 0)
                _ = try await broker.send(.text("m2"), to: "jobs")
                try await eventually("a full batch") { recorder.count == 3 }
                #expect(recorder.sizes == [3])
            }
        }
    }

    @Test("the timeout counts from the first available message, not the last", arguments: TestBackend.available)
    func timeoutBoundary(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", batch: 10, timeout: 5)])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "jobs") { recorder.record($0) }
            try await running(consumer) {
                _ = try await broker.send(.text("first"), to: "jobs")
                try await sleeping(until: f.t0 + 5, on: f.clock)
                f.clock.advance(by: 3)
                _ = try await broker.sendBatch(texts(2), to: "jobs")
                try await eventually("rescheduled wait") { f.clock.sleepingUntil.count == 1 }
                try await sleeping(until: f.t0 + 5, on: f.clock)
                f.clock.advance(by: 1.999)
                try await sleeping(until: f.t0 + 5, on: f.clock)
                #expect(recorder.count == 0)
                f.clock.advance(by: 0.001)
                try await eventually("the batch at the timeout") { recorder.count == 3 }
                #expect(recorder.sizes == [3])
            }
        }
    }

    @Test("max_batch_timeout 0 delivers each send as soon as it is committed", arguments: TestBackend.available)
    func zeroTimeout(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", batch: 100, timeout: 0)])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "jobs") { recorder.record($0) }
            try await running(consumer) {
                for i in 0..<3 {
                    _ = try await broker.send(.text("m\(i)"), to: "jobs")
                    try await eventually("message \(i)") { recorder.count == i + 1 }
                }
            }
            #expect(recorder.sizes == [1, 1, 1])
        }
    }

    @Test("delayed messages wait for their due time, a per-message delay overriding the queue's", arguments: TestBackend.available)
    func delays(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("later", batch: 10, timeout: 0, deliveryDelay: 60)])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "later") { recorder.record($0) }
            try await running(consumer) {
                _ = try await broker.send(.text("queue-delay"), to: "later")
                _ = try await broker.send(.text("ten"), to: "later", delaySeconds: 10)
                _ = try await broker.send(.text("now"), to: "later", delaySeconds: 0)
                try await eventually("the undelayed message") { recorder.count == 1 }
                try await sleeping(until: f.t0 + 10, on: f.clock)
                #expect(recorder.deliveries.map(\.text) == ["now"])
                f.clock.advance(by: 9.999)
                try await sleeping(until: f.t0 + 10, on: f.clock)
                #expect(recorder.count == 1)
                f.clock.advance(by: 0.001)
                try await eventually("the 10 s message") { recorder.count == 2 }
                try await sleeping(until: f.t0 + 60, on: f.clock)
                f.clock.advance(by: 50)
                try await eventually("the 60 s message") { recorder.count == 3 }
            }
            #expect(recorder.deliveries.map(\.text) == ["now", "ten", "queue-delay"])
        }
    }

    @Test("max_concurrency 1 runs one batch at a time", arguments: TestBackend.available)
    func oneAtATime(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", batch: 1, timeout: 0, concurrency: 1)])
            let running = Mutex((now: 0, peak: 0, done: 0))
            let consumer = try broker.consumer(for: "jobs") { _ in
                running.withLock {
                    $0.now += 1
                    $0.peak = max($0.peak, $0.now)
                }
                try await Task.sleep(for: .milliseconds(1))
                running.withLock {
                    $0.now -= 1
                    $0.done += 1
                }
            }
            try await Queues_running(consumer) {
                _ = try await broker.sendBatch(texts(6), to: "jobs")
                try await eventually("all batches") { running.withLock { $0.done } == 6 }
            }
            #expect(running.withLock { $0.peak } == 1)
        }
    }

    @Test("max_concurrency 2 runs two batches at once", arguments: TestBackend.available)
    func twoAtOnce(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", batch: 1, timeout: 0, concurrency: 2)])
            let inside = Mutex(0)
            let consumer = try broker.consumer(for: "jobs") { _ in
                inside.withLock { $0 += 1 }
                // Each handler returns only once both are inside: this needs two concurrent batches.
                try await eventually("both handlers inside") { inside.withLock { $0 } >= 2 }
            }
            try await Queues_running(consumer) {
                _ = try await broker.sendBatch(texts(2), to: "jobs")
                try await eventually("both delivered") { try await broker.stats("jobs").delivered == 2 }
            }
        }
    }
}

/// `running(_:_:)` under another name, for suites with a local named `running`.
func Queues_running<T>(_ consumer: any StoppableConsumer, _ body: () async throws -> T) async throws -> T {
    try await running(consumer, body)
}
