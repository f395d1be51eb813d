import EdgeTestSupport
import Foundation
import KVStore
import Queues
import Synchronization
import Testing

@Suite("Retries, ack/retry precedence, dead letters, redrive")
struct RetryTests {
    @Test(
        "attempts count deliveries; after 1 + max_retries failures the message is dead-lettered with its last error",
        arguments: TestBackend.available
    )
    func attemptsAndBuiltInDeadLetters(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", retries: 2, retryDelay: 30)])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "jobs") { batch in
                recorder.record(batch)
                throw HandlerFailure("boom \(batch.messages[0].attempts)")
            }
            let id = try await running(consumer) {
                let id = try await broker.send(.json(text: #"{"k":"v"}"#), to: "jobs")
                try await eventually("first delivery") { recorder.count == 1 }
                try await sleeping(until: f.t0 + 30, on: f.clock)
                var stats = try await broker.stats("jobs")
                #expect(stats.delayed == 1 && stats.retried == 1 && stats.inFlight == 0)
                #expect(try await broker.peek("jobs", limit: 1, deadLetters: false).first?.lastError == "boom 1")
                f.clock.advance(by: 30)
                try await eventually("second delivery") { recorder.count == 2 }
                try await sleeping(until: f.t0 + 60, on: f.clock)
                f.clock.advance(by: 30)
                try await eventually("third delivery") { recorder.count == 3 }
                try await eventually("dead-lettered") { try await broker.stats("jobs").deadLettered == 1 }
                stats = try await broker.stats("jobs")
                #expect(stats.pending == 0 && stats.delayed == 0 && stats.retried == 2 && stats.deadLetterStore == 1 && stats.delivered == 0)
                return id
            }
            #expect(recorder.deliveries.map(\.attempts) == [1, 2, 3])
            let dead = try await broker.peek("jobs", limit: 10, deadLetters: true)
            #expect(dead.map(\.id) == [id])
            #expect(dead.first?.attempts == 3)
            #expect(dead.first?.lastError == "boom 3")
            #expect(dead.first?.jsonLine.contains(#""last_error":"boom 3""#) == true)
        }
    }

    @Test("max_retries 0 means a single delivery", arguments: TestBackend.available)
    func noRetries(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", retries: 0)])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "jobs") {
                recorder.record($0)
                throw HandlerFailure()
            }
            try await running(consumer) {
                _ = try await broker.send(.text("x"), to: "jobs")
                try await eventually("dead-lettered") { try await broker.stats("jobs").deadLetterStore == 1 }
            }
            #expect(recorder.count == 1)
        }
    }

    @Test("retry(delaySeconds:) overrides retry_delay; unretried messages of a normal return are acked", arguments: TestBackend.available)
    func explicitRetryDelay(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", retryDelay: 300)])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "jobs") { batch in
                recorder.record(batch)
                for m in batch.messages where m.body.text == "again" && m.attempts == 1 { m.retry(delaySeconds: 10) }
            }
            try await running(consumer) {
                _ = try await broker.sendBatch([OutgoingMessage(body: .text("once")), OutgoingMessage(body: .text("again"))], to: "jobs")
                try await eventually("first batch") { recorder.count == 2 }
                try await sleeping(until: f.t0 + 10, on: f.clock)
                f.clock.advance(by: 10)
                try await eventually("the retry") { recorder.count == 3 }
                try await eventually("settled") { try await broker.stats("jobs").delivered == 2 }
            }
            #expect(recorder.all.last?.map(\.text) == ["again"])
            #expect(recorder.all.last?.map(\.attempts) == [2])
            let stats = try await broker.stats("jobs")
            #expect(stats.retried == 1 && stats.pending == 0)
        }
    }

    @Test("the first ack/retry call on a message wins; a per-message call beats a later batch call", arguments: TestBackend.available)
    func precedence(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", retries: 5)])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "jobs") { batch in
                recorder.record(batch)
                guard batch.messages.count == 5 else { return }
                let m = batch.messages
                m[0].ack()
                m[0].retry()  // ack first: acked
                m[1].retry()
                m[1].ack()  // retry first: retried
                m[2].retry()  // then the batch call below does not override it
                batch.ackAll()  // m3, m4: acked
                batch.retryAll()  // no effect: everything decided
            }
            try await running(consumer) {
                _ = try await broker.sendBatch(texts(5), to: "jobs")
                try await eventually("the retries") { recorder.count == 7 }
                try await eventually("settled") { try await broker.stats("jobs").delivered == 5 }
            }
            #expect(recorder.all.count == 2)
            #expect(Set(recorder.all[1].map(\.text)) == ["m1", "m2"])
            #expect(recorder.all[1].allSatisfy { $0.attempts == 2 })
        }
    }

    @Test("a batch call first decides for every message; later per-message calls are ignored", arguments: TestBackend.available)
    func batchCallFirst(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs")])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "jobs") { batch in
                recorder.record(batch)
                guard batch.messages[0].attempts == 1 else { return }
                batch.retryAll()
                batch.messages[0].ack()
            }
            try await running(consumer) {
                _ = try await broker.sendBatch(texts(2), to: "jobs")
                try await eventually("redelivery") { recorder.count == 4 }
            }
            #expect(recorder.sizes == [2, 2])
        }
    }

    @Test("when the handler throws, acked messages stay acked and the others are retried", arguments: TestBackend.available)
    func throwAfterPartialAcks(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", retries: 3, retryDelay: 0)])
            let recorder = Recorder()
            let consumer = try broker.consumer(for: "jobs") { batch in
                recorder.record(batch)
                guard batch.messages.count == 5 else { return }
                batch.messages[0].ack()
                batch.messages[3].ack()
                batch.messages[4].retry(delaySeconds: 0)
                throw HandlerFailure("partial")
            }
            try await running(consumer) {
                _ = try await broker.sendBatch(texts(5), to: "jobs")
                try await eventually("redelivery") { recorder.count == 8 }
                try await eventually("settled") { try await broker.stats("jobs").delivered == 5 }
            }
            #expect(recorder.all[1].map(\.text).sorted() == ["m1", "m2", "m4"])
            #expect(recorder.all[1].allSatisfy { $0.attempts == 2 })
            let stats = try await broker.stats("jobs")
            #expect(stats.retried == 3 && stats.deadLettered == 0)
        }
    }

    @Test("dead letters go to the configured dead-letter queue; redrive moves them back with fresh attempts", arguments: TestBackend.available)
    func deadLetterQueueAndRedrive(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", retries: 1, dlq: "jobs-dlq")])
            let recorder = Recorder()
            let healthy = Mutex(false)
            let consumer = try broker.consumer(for: "jobs") { batch in
                recorder.record(batch)
                if !healthy.withLock({ $0 }) { throw HandlerFailure("downstream unavailable") }
            }
            try await running(consumer) {
                let id = try await broker.send(.json(text: #"{"order":7}"#), to: "jobs")
                try await eventually("in the DLQ") { try await broker.stats("jobs-dlq").pending == 1 }
                let jobs = try await broker.stats("jobs")
                #expect(jobs.deadLettered == 1 && jobs.deadLetterStore == 0 && jobs.pending == 0)
                let dead = try await broker.peek("jobs-dlq", limit: 10, deadLetters: false)
                #expect(dead.map(\.id) == [id])
                #expect(dead.first?.attempts == 2)
                #expect(dead.first?.lastError == "downstream unavailable")
                #expect(dead.first?.body.data == Data(#"{"order":7}"#.utf8))

                healthy.withLock { $0 = true }
                #expect(try await broker.redrive(from: "jobs-dlq", to: "jobs") == 1)
                try await eventually("redelivered") { recorder.count == 3 }
                try await eventually("acked") { try await broker.stats("jobs").delivered == 1 }
                #expect(recorder.deliveries.last?.id == id)
                #expect(recorder.deliveries.map(\.attempts) == [1, 2, 1])
            }
            #expect(try await broker.stats("jobs-dlq").pending == 0)
        }
    }

    @Test("a handler can dead-letter a message at once", arguments: TestBackend.available)
    func deadLetterAtOnce(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("mail", retries: 3, dlq: "mail-dlq")])
            let consumer = try broker.consumer(for: "mail") { batch in
                for m in batch.messages { m.deadLetter(reason: "unknown template") }
            }
            try await running(consumer) {
                _ = try await broker.send(.text("x"), to: "mail")
                try await eventually("in the DLQ") { try await broker.stats("mail-dlq").pending == 1 }
            }
            let dead = try await broker.peek("mail-dlq", limit: 1, deadLetters: false)
            #expect(dead.first?.attempts == 1 && dead.first?.lastError == "unknown template")
        }
    }

    @Test("redrive of a queue's built-in dead-letter store", arguments: TestBackend.available)
    func redriveBuiltInStore(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([.consumed("jobs", retries: 0)])
            let recorder = Recorder()
            let fail = Mutex(true)
            let consumer = try broker.consumer(for: "jobs") { batch in
                recorder.record(batch)
                if fail.withLock({ $0 }) { throw HandlerFailure() }
            }
            try await running(consumer) {
                _ = try await broker.sendBatch(texts(3), to: "jobs")
                try await eventually("dead-lettered") { try await broker.stats("jobs").deadLetterStore == 3 }
                fail.withLock { $0 = false }
                #expect(try await broker.redrive(from: "jobs", to: "jobs") == 3)
                try await eventually("acked") { try await broker.stats("jobs").delivered == 3 }
            }
            let stats = try await broker.stats("jobs")
            #expect(stats.deadLetterStore == 0 && stats.deadLettered == 3)
            #expect(try await broker.redrive(from: "jobs", to: "jobs") == 0)
        }
    }
}
