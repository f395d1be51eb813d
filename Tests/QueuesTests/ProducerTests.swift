import EdgeTestSupport
import Foundation
import KVStore
import Queues
import Testing

@Suite("Producer: send, limits, stats, peek, retention")
struct ProducerTests {
    @Test("send stores all three content types durably with unique sortable ids", arguments: TestBackend.available)
    func sendKinds(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([QueueConfig(name: "jobs")])
            let jobs = try broker.producer(for: "jobs")
            let a = try await jobs.send(body: Data(#"{"n":1}"#.utf8), contentType: .json)
            let b = try await jobs.send(.text("héllo"))
            let c = try await jobs.send(.bytes(Data([0, 255, 7])))
            #expect([a, b, c].allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
            #expect(a < b && b < c)

            // A new broker on the same directory (a restart) still has them, in send order.
            let reopened = try await f.queues([QueueConfig(name: "jobs")])
            let peeked = try await reopened.peek("jobs", limit: 10, deadLetters: false)
            #expect(peeked.map(\.id) == [a, b, c])
            #expect(peeked.map(\.body.contentType) == [.json, .text, .bytes])
            #expect(peeked[1].body.text == "héllo")
            #expect(peeked[2].body.data == Data([0, 255, 7]))
            #expect(peeked.allSatisfy { $0.attempts == 0 && $0.timestamp == Date(timeIntervalSince1970: f.t0) })
            #expect(peeked[0].jsonLine == #"{"id":"\#(a)","body":{"n":1},"content_type":"json","attempts":0,"timestamp":"2027-01-15T08:00:00.000Z"}"#)
            #expect(peeked[2].jsonLine.contains(#""body":"AP8H""#))
            let stats = try await reopened.stats("jobs")
            #expect(stats.pending == 3 && stats.delayed == 0 && stats.inFlight == 0)
        }
    }

    @Test("ids from one millisecond stay unique and increasing", arguments: TestBackend.available)
    func idsSortable(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([QueueConfig(name: "jobs")])
            var ids: [String] = []
            for _ in 0..<5 { ids += try await broker.sendBatch(texts(100), to: "jobs") }
            #expect(Set(ids).count == 500)
            #expect(ids == ids.sorted())
        }
    }

    @Test("message and batch size limits, delays and bodies are checked with clear errors", arguments: TestBackend.available)
    func limits(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([QueueConfig(name: "jobs")])
            let jobs = try broker.producer(for: "jobs")
            let limit = 128 * 1024

            _ = try await jobs.send(.bytes(Data(count: limit)))
            let tooBig = await #expect(throws: QueueError.self) { try await jobs.send(.bytes(Data(count: limit + 1))) }
            #expect(tooBig?.code == .messageTooLarge)
            #expect(tooBig?.message.contains("128 KB") == true)

            let tooMany = await #expect(throws: QueueError.self) { try await jobs.sendBatch(texts(101)) }
            #expect(tooMany?.code == .invalidBatchSize)
            let empty = await #expect(throws: QueueError.self) { try await jobs.sendBatch([]) }
            #expect(empty?.code == .invalidBatchSize)
            _ = try await jobs.sendBatch(texts(100))

            let heavy = (0..<3).map { _ in OutgoingMessage(body: .bytes(Data(count: 100 * 1024))) }
            let batchTooBig = await #expect(throws: QueueError.self) { try await jobs.sendBatch(heavy) }
            #expect(batchTooBig?.code == .batchTooLarge)
            #expect(batchTooBig?.message.contains("256 KB") == true)
            _ = try await jobs.sendBatch([OutgoingMessage(body: .bytes(Data(count: limit))), OutgoingMessage(body: .bytes(Data(count: limit)))])

            for delay in [-1, 86_401] {
                let bad = await #expect(throws: QueueError.self) { try await jobs.send(.text("x"), delaySeconds: delay) }
                #expect(bad?.code == .invalidDelay)
            }
            _ = try await jobs.send(.text("x"), delaySeconds: 86_400)

            let notJSON = await #expect(throws: QueueError.self) { try await jobs.send(body: Data("{nope".utf8), contentType: .json) }
            #expect(notJSON?.code == .invalidBody)
            // A json body is read as the runtime reads every outside JSON.
            for body in OutsideJSON.refused {
                await #expect(throws: QueueError.self) { try await jobs.send(body: body, contentType: .json) }
            }
            for body in OutsideJSON.accepted { _ = try await jobs.send(body: body, contentType: .json) }
            let notText = await #expect(throws: QueueError.self) { try await jobs.send(MessageBody(data: Data([0xFF, 0xFE]), contentType: .text)) }
            #expect(notText?.code == .invalidBody)

            let unknown = await #expect(throws: QueueError.self) { try await broker.send(.text("x"), to: "nope") }
            #expect(unknown?.code == .unknownQueue)
            let badLimit = await #expect(throws: QueueError.self) { try await broker.peek("jobs", limit: 0, deadLetters: false) }
            #expect(badLimit?.code == .invalidLimit)

            // Refused sends stored nothing.
            let stats = try await broker.stats("jobs")
            #expect(stats.pending + stats.delayed == 1 + 100 + 2 + 1 + OutsideJSON.accepted.count)
        }
    }

    @Test("a per-message delay overrides the queue's delivery_delay; stats split pending and delayed", arguments: TestBackend.available)
    func delaysInStats(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([QueueConfig(name: "later", deliveryDelay: 60)])
            _ = try await broker.send(.text("queue default"), to: "later")
            _ = try await broker.send(.text("now"), to: "later", delaySeconds: 0)
            _ = try await broker.send(.text("ten"), to: "later", delaySeconds: 10)
            var stats = try await broker.stats("later")
            #expect(stats.pending == 1 && stats.delayed == 2)
            f.clock.advance(by: 10)
            stats = try await broker.stats("later")
            #expect(stats.pending == 2 && stats.delayed == 1)
            f.clock.advance(by: 50)
            stats = try await broker.stats("later")
            #expect(stats.pending == 3 && stats.delayed == 0)
        }
    }

    @Test("a queue without a consumer keeps its messages until the retention passed", arguments: TestBackend.available)
    func retention(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let broker = try await f.queues([QueueConfig(name: "idle")])
            _ = try await broker.send(.text("old"), to: "idle")
            f.clock.advance(by: 3600)
            _ = try await broker.send(.text("newer"), to: "idle")
            f.clock.advance(by: Double(QueueConfig.defaultRetention) - 3600 - 1)
            #expect(try await broker.purgeExpired() == 0)
            #expect(try await broker.stats("idle").pending == 2)
            f.clock.advance(by: 1)
            #expect(try await broker.purgeExpired() == 1)
            let stats = try await broker.stats("idle")
            #expect(stats.pending == 1 && stats.expired == 1)
            #expect(try await broker.peek("idle", limit: 10, deadLetters: false).map { $0.body.text } == ["newer"])
        }
    }

    @Test("the CLI's view opens the queues a server declared", arguments: TestBackend.available)
    func openExisting(backend: TestBackend) async throws {
        try await QueueFixture.with(backend) { f in
            let server = try await f.queues([.consumed("payments", dlq: "payments-dlq"), QueueConfig(name: "digests", retention: 600)])
            _ = try await server.send(.json(text: "{}"), to: "payments")
            let cli = try await f.cli()
            #expect(cli.queueNames == ["digests", "payments", "payments-dlq"])
            #expect(try cli.config(for: "digests").retention == 600)
            #expect(try cli.config(for: "payments").consumer?.deadLetterQueue == "payments-dlq")
            #expect(try await cli.stats("payments").pending == 1)
            _ = try await cli.send(.json(text: "[1]"), to: "payments")
            #expect(try await server.stats("payments").pending == 2)
        }
    }
}
