import EdgeTestSupport
import Foundation
import KVStore
import Queues
import Synchronization
import Testing

@Suite("Durability: restart with messages in flight, concurrent producers")
struct DurabilityTests {
    @Test("a message in flight when the process stops is delivered again after a restart")
    func reclaimAfterRestart() async throws {
        let f = try QueueFixture()
        let config = QueueConfig.consumed("jobs", batch: 10, timeout: 0)
        let first = try await f.broker([config])
        let stuck = Gate()
        let firstSeen = Recorder()
        let crashed = try first.consumer(for: "jobs") { batch in
            firstSeen.record(batch)
            await stuck.wait()  // the "process" dies here: the handler never finishes in time
            throw HandlerFailure("too late")
        }
        let crashedTask = Task { try await crashed.run() }
        let id = try await first.send(.text("important"), to: "jobs")
        try await eventually("the lease is committed") { try await first.stats("jobs").inFlight == 1 }

        // A new process opens the same directory: the lease is reclaimed.
        let second = try await f.broker([config])
        var stats = try await second.stats("jobs")
        #expect(stats.inFlight == 0 && stats.pending == 1)
        let recorder = Recorder()
        let consumer = try second.consumer(for: "jobs") { recorder.record($0) }
        try await running(consumer) {
            try await eventually("redelivery") { try await second.stats("jobs").delivered == 1 }
        }
        #expect(recorder.deliveries.map(\.id) == [id])
        #expect(recorder.deliveries.map(\.attempts) == [2])
        #expect(firstSeen.deliveries.map(\.attempts) == [1])

        // The old handler finally returns: its outcome finds nothing left to settle.
        stuck.open()
        crashed.stop()
        try await crashedTask.value
        stats = try await second.stats("jobs")
        #expect(stats.pending == 0 && stats.inFlight == 0 && stats.delivered == 1 && stats.retried == 0)
    }

    @Test("a broker opened without reclaiming (the CLI beside a server) leaves leases alone")
    func cliDoesNotReclaim() async throws {
        let f = try QueueFixture()
        let server = try await f.broker([.consumed("jobs")])
        let gate = Gate()
        let consumer = try server.consumer(for: "jobs") { _ in await gate.wait() }
        try await running(consumer) {
            _ = try await server.send(.text("x"), to: "jobs")
            try await eventually("in flight") { try await server.stats("jobs").inFlight == 1 }
            let cli = try await LMDBQueueBroker.openExisting(environment: f.environment, clock: f.clock)
            #expect(try await cli.stats("jobs").inFlight == 1)
            gate.open()
            try await eventually("acked") { try await server.stats("jobs").delivered == 1 }
        }
    }

    @Test("pending messages survive a restart and are consumed by the new process", arguments: TestBackend.available)
    func pendingSurvivesRestart(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let config = QueueConfig.consumed("jobs", batch: 100)
            let first = try await f.queues([config])
            let ids = try await first.sendBatch(texts(50), to: "jobs")
            let second = try await f.queues([config])
            let recorder = Recorder()
            let consumer = try second.consumer(for: "jobs") { recorder.record($0) }
            try await running(consumer) {
                try await eventually("all") { recorder.count == 50 }
            }
            #expect(recorder.deliveries.map(\.id) == ids)
        }
    }

    @Test("concurrent producers: every message is delivered exactly once without a crash", arguments: TestBackend.available)
    func concurrentProducers(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", batch: 10, timeout: 0, concurrency: 2)])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "jobs") { recorder.record($0) }
            let sent = try await running(consumer) {
                let sent = try await withThrowingTaskGroup(of: [String].self) { group in
                    for p in 0..<8 {
                        group.addTask {
                            var ids: [String] = []
                            for i in 0..<25 { ids.append(try await broker.send(.text("p\(p)-\(i)"), to: "jobs")) }
                            ids += try await broker.sendBatch(texts(25, prefix: "p\(p)-b"), to: "jobs")
                            return ids
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                try await eventually("all delivered") { recorder.count >= 400 }
                try await eventually("all acked") { try await broker.stats("jobs").delivered == 400 }
                return sent
            }
            #expect(Set(sent).count == 400)
            #expect(recorder.count == 400)
            #expect(Set(recorder.deliveries.map(\.id)) == Set(sent))
            #expect(recorder.sizes.allSatisfy { $0 <= 10 })
            let stats = try await broker.stats("jobs")
            #expect(stats.pending == 0 && stats.inFlight == 0)
        }
    }

    @Test("a message sent by another process (no in-process notification) is still delivered", arguments: TestBackend.available)
    func foreignSend(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let server = try await f.queues([.consumed("jobs")])
            let recorder = Recorder()
            let consumer = try server.consumer(for: "jobs") { recorder.record($0) }
            try await running(consumer) {
                _ = try await server.send(.text("local"), to: "jobs")
                try await eventually("local message") { recorder.count == 1 }
                let cli = try await f.cli()
                _ = try await cli.send(.text("from the CLI"), to: "jobs")
                try await eventually("the CLI's message") { recorder.count == 2 }
            }
            #expect(recorder.deliveries.map(\.text) == ["local", "from the CLI"])
        }
    }

    @Test("one consumer per queue", arguments: TestBackend.available)
    func oneConsumer(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs")])
            _ = try broker.consumer(for: "jobs") { _ in }
            let error = #expect(throws: QueueError.self) { _ = try broker.consumer(for: "jobs") { _ in } }
            #expect(error?.code == .invalidConfiguration)
            let unknown = #expect(throws: QueueError.self) { _ = try broker.consumer(for: "nope") { _ in } }
            #expect(unknown?.code == .unknownQueue)
        }
    }
}
