import Foundation
import KVStore
import Queues
import Testing

@Suite("Configuration")
struct ConfigTests {
    @Test("manifest entries decode with the contract's defaults")
    func decoding() throws {
        let json = #"""
            [ { "name": "payments",
                "consumer": { "function": "stripe-events", "max_batch_size": 20, "dead_letter_queue": "payments-dlq" } },
              { "name": "payments-dlq", "delivery_delay": 5 } ]
            """#
        let configs = try JSONDecoder().decode([QueueConfig].self, from: Data(json.utf8))
        let consumer = try #require(configs[0].consumer)
        #expect(consumer.maxBatchSize == 20)
        #expect(consumer.maxBatchTimeout == 5 && consumer.maxRetries == 3 && consumer.retryDelay == 0 && consumer.maxConcurrency == 1)
        #expect(consumer.deadLetterQueue == "payments-dlq" && consumer.function == "stripe-events")
        #expect(configs[0].retention == 345_600 && configs[0].deliveryDelay == 0)
        #expect(configs[1].consumer == nil && configs[1].deliveryDelay == 5)
        for config in configs { try config.validate() }
    }

    @Test(
        "bad settings are refused with a message naming the setting",
        arguments: [
            (ConsumerConfig(maxBatchSize: 0), "max_batch_size"),
            (ConsumerConfig(maxBatchSize: 101), "max_batch_size"),
            (ConsumerConfig(maxBatchTimeout: -1), "max_batch_timeout"),
            (ConsumerConfig(maxBatchTimeout: 60.5), "max_batch_timeout"),
            (ConsumerConfig(maxRetries: -1), "max_retries"),
            (ConsumerConfig(retryDelay: 86_401), "retry_delay"),
            (ConsumerConfig(maxConcurrency: 0), "max_concurrency"),
            (ConsumerConfig(deadLetterQueue: "bad/name"), "dead_letter_queue"),
            (ConsumerConfig(deadLetterQueue: "jobs"), "its own dead-letter queue"),
        ]
    )
    func badConsumer(consumer: ConsumerConfig, setting: String) async throws {
        let config = QueueConfig(name: "jobs", consumer: consumer)
        let error = #expect(throws: QueueError.self) { try config.validate() }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(setting) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("\"jobs\"") == true)

        let f = try QueueFixture()
        await #expect(throws: QueueError.self) { _ = try await f.broker([config]) }
    }

    @Test("bad queue declarations are refused")
    func badQueues() async throws {
        let f = try QueueFixture()
        for (queues, text) in [
            ([QueueConfig(name: "")], "queue name"),
            ([QueueConfig(name: "a/b")], "queue name"),
            ([QueueConfig(name: String(repeating: "q", count: 64))], "queue name"),
            ([QueueConfig(name: "x", deliveryDelay: 86_401)], "delivery_delay"),
            ([QueueConfig(name: "x", retention: 10)], "retention"),
            ([QueueConfig(name: "x"), QueueConfig(name: "x")], "declared twice"),
        ] {
            let error = await #expect(throws: QueueError.self) { _ = try await f.broker(queues) }
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.message.contains(text) == true, "\(error?.message ?? "")")
        }
    }

    @Test("a dead-letter queue named but not declared is declared with defaults")
    func implicitDeadLetterQueue() async throws {
        let f = try QueueFixture()
        let broker = try await f.broker([.consumed("jobs", dlq: "jobs-dlq")])
        #expect(broker.queueNames == ["jobs", "jobs-dlq"])
        #expect(try broker.config(for: "jobs-dlq").consumer == nil)
    }
}
