// pg-queue-bench: end-to-end queue throughput on PostgreSQL storage (send batch → consumer → ack).
//
//   swift build -c release --product pg-queue-bench
//   .build/release/pg-queue-bench --storage postgres://… [--messages N] [--producers P] [--concurrency C] [--queue NAME]
//
// P producer tasks send N messages in batches of 100 (each batch one durable INSERT); one
// consumer (max_batch_size 100, max_concurrency C) acks them. Prints one JSON line: the first
// send and the last ack as unix seconds, so runs of several processes on one database (nodes)
// can be added up by scripts/bench-postgres-queues.
import EdgeStorage
import Foundation
import KVStore
import Logging
import Queues
import ServiceLifecycle
import Synchronization

struct Options {
    var storage = ""
    var messages = 20_000
    var producers = 4
    var concurrency = 4
    var queue = "bench"

    init(_ args: [String]) {
        var it = args.dropFirst().makeIterator()
        while let arg = it.next() {
            switch arg {
            case "--storage": storage = it.next() ?? ""
            case "--messages": messages = Int(it.next() ?? "") ?? messages
            case "--producers": producers = Int(it.next() ?? "") ?? producers
            case "--concurrency": concurrency = Int(it.next() ?? "") ?? concurrency
            case "--queue": queue = it.next() ?? queue
            default:
                print("unknown argument \(arg)")
                exit(2)
            }
        }
        guard !storage.isEmpty, messages >= 100, producers >= 1, (1...100).contains(concurrency) else {
            print("usage: pg-queue-bench --storage URL [--messages N≥100] [--producers P] [--concurrency 1…100] [--queue NAME]")
            exit(2)
        }
    }
}

let options = Options(CommandLine.arguments)
var logger = Logger(label: "pg-queue-bench")
logger.logLevel = .warning
let storage = try await StorageLocation(parsing: options.storage).open(logger: logger)
let config = QueueConfig(name: options.queue, consumer: ConsumerConfig(maxBatchSize: 100, maxBatchTimeout: 0.05, maxConcurrency: options.concurrency))
let broker = try await storage.queueBroker(declaring: [config], clock: SystemWallClock(), reclaimLeases: false, logger: logger)

let received = Atomic<Int>(0)
let consumer = try broker.makeConsumer(for: options.queue) { batch in
    received.add(batch.messages.count, ordering: .relaxed)
}
let consuming = Task { try await consumer.run() }

let perProducer = options.messages / options.producers / 100 * 100
let started = Date().timeIntervalSince1970
try await withThrowingTaskGroup(of: Void.self) { group in
    for p in 0..<options.producers {
        group.addTask {
            for i in stride(from: 0, to: perProducer, by: 100) {
                let batch = (0..<100).map { n in
                    OutgoingMessage(body: .json(text: #"{"producer":\#(p),"seq":\#(i + n),"type":"payment_intent.succeeded","amount":4200}"#))
                }
                _ = try await broker.sendBatch(batch, to: options.queue)
            }
        }
    }
    try await group.waitForAll()
}
let sentAt = Date().timeIntervalSince1970
// Done when the queue holds nothing (this process's and any other node's messages acked).
// Checked every 100 ms: `stats` counts the queue's rows, and at 20 ms these checks took a
// sixth of PostgreSQL's time during the run (pg_stat_statements), slowing what is measured.
while true {
    let stats = try await broker.stats(options.queue)
    if stats.pending + stats.delayed + stats.inFlight == 0 { break }
    try await Task.sleep(for: .milliseconds(100))
}
let finished = Date().timeIntervalSince1970
(consumer as? any StoppableConsumer)?.stop()
_ = try? await consuming.value
await storage.close()
let sent = perProducer * options.producers
let rate = Double(sent) / (finished - started)
print(
    #"{"sent":\#(sent),"consumed_here":\#(received.load(ordering: .relaxed)),"start":\#(started),"sent_at":\#(sentAt),"end":\#(finished),"msg_per_s":\#(Int(rate))}"#
)
