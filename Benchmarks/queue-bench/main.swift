import Foundation
import KVStore
// queue-bench: end-to-end durable queue throughput and delivery latency.
//
//   swift build -c release --product queue-bench && .build/release/queue-bench [--quick] [--dir PATH]
//
// Every send is committed (synced) before it returns; consumers ack through grouped commits.
// The data directory is a fresh folder under --dir (default: the system temporary directory).
import LMDBStorage
import Queues
import Synchronization

struct Options {
    var quick = false
    var base = FileManager.default.temporaryDirectory

    init(_ args: [String]) {
        var it = args.dropFirst().makeIterator()
        while let arg = it.next() {
            switch arg {
            case "--quick": quick = true
            case "--dir": if let dir = it.next() { base = URL(fileURLWithPath: dir) }
            default:
                print("unknown argument \(arg)")
                exit(2)
            }
        }
    }
}

/// A fresh data directory with one queue and its consumer settings.
func withQueue<T>(
    _ options: Options,
    consumer: ConsumerConfig,
    _ body: (LMDBQueueBroker) async throws -> T
) async throws -> T {
    let dir = options.base.appendingPathComponent("queue-bench-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let environment = try LMDBEnvironment(path: dir.appendingPathComponent("lmdb").path)
    defer { environment.close() }
    let broker = try await LMDBQueueBroker.open(
        environment: environment,
        queues: [QueueConfig(name: "bench", consumer: consumer)]
    )
    return try await body(broker)
}

func body(_ producer: Int, _ i: Int) -> MessageBody {
    .json(text: #"{"producer":\#(producer),"seq":\#(i),"type":"payment_intent.succeeded","amount":4200}"#)
}

/// Sends `total` messages from `producers` tasks (`sendBatch` of `sendBatchSize`) while the
/// consumer acks them; returns messages per second from the first send to the last ack committed.
func throughput(_ options: Options, batchSize: Int, producers: Int, sendBatchSize: Int, total: Int) async throws -> Double {
    try await withQueue(options, consumer: ConsumerConfig(maxBatchSize: batchSize, maxBatchTimeout: 0.05)) { broker in
        let received = Atomic<Int>(0)
        let consumer = try broker.consumer(for: "bench") { batch in
            received.add(batch.messages.count, ordering: .relaxed)
        }
        let consuming = Task { try await consumer.run() }
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for p in 0..<producers {
                group.addTask {
                    let share = total / producers
                    var i = 0
                    while i < share {
                        let n = min(sendBatchSize, share - i)
                        let batch = (0..<n).map { OutgoingMessage(body: body(p, i + $0)) }
                        if n == 1 {
                            _ = try await broker.send(batch[0].body, to: "bench")
                        } else {
                            _ = try await broker.sendBatch(batch, to: "bench")
                        }
                        i += n
                    }
                }
            }
            try await group.waitForAll()
        }
        while try await broker.stats("bench").delivered < total {
            try await Task.sleep(for: .microseconds(200))
        }
        let elapsed = clock.now - start
        consumer.stop()
        try await consuming.value
        precondition(received.load(ordering: .relaxed) >= total)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Double(total) / seconds
    }
}

/// One message at a time at low load, with `max_batch_timeout` 0: time to the handler receiving
/// it from calling `send` (which includes the synced commit) and from `send` returning (committed).
func latency(_ options: Options, samples: Int) async throws -> (fromCall: [Duration], fromCommit: [Duration]) {
    try await withQueue(options, consumer: ConsumerConfig(maxBatchSize: 10, maxBatchTimeout: 0)) { broker in
        let clock = ContinuousClock()
        let arrivals = Mutex<[Int: ContinuousClock.Instant]>([:])
        let consumer = try broker.consumer(for: "bench") { batch in
            let now = clock.now
            for m in batch.messages {
                let seq = Int(m.body.text ?? "") ?? -1
                arrivals.withLock { $0[seq] = now }
            }
        }
        let consuming = Task { try await consumer.run() }
        var fromCall: [Duration] = []
        var fromCommit: [Duration] = []
        for seq in 0..<samples {
            let start = clock.now
            _ = try await broker.send(.json(text: "\(seq)"), to: "bench")
            let committed = clock.now
            while arrivals.withLock({ $0[seq] }) == nil { try await Task.sleep(for: .microseconds(50)) }
            let arrived = arrivals.withLock { $0[seq]! }
            fromCall.append(arrived - start)
            fromCommit.append(max(.zero, arrived - committed))
            try await Task.sleep(for: .milliseconds(2))
        }
        consumer.stop()
        try await consuming.value
        return (fromCall.sorted(), fromCommit.sorted())
    }
}

func ms(_ d: Duration) -> String {
    let value = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    return String(format: "%.2f ms", value)
}

let options = Options(CommandLine.arguments)
let total = options.quick ? 20_000 : 200_000
print("queue-bench: durable send -> consume -> ack, \(ProcessInfo.processInfo.activeProcessorCount) cores, data under \(options.base.path)")
print("producers send batches of 100 (sendBatch); consumer max_concurrency 1, max_batch_timeout 0.05 s")
for (batchSize, producers) in [(100, 1), (100, 8), (10, 1), (10, 8)] {
    let n = batchSize == 100 ? total : total / 4
    let rate = try await throughput(options, batchSize: batchSize, producers: producers, sendBatchSize: 100, total: n)
    print(String(format: "  batch %3d, %d producer%@: %9.0f msgs/s (%d messages)", batchSize, producers, producers == 1 ? " " : "s", rate, n))
}
let single = options.quick ? 2_000 : 10_000
let singleRate = try await throughput(options, batchSize: 100, producers: 8, sendBatchSize: 1, total: single)
print(String(format: "  batch 100, 8 producers of single sends (group commit): %6.0f msgs/s (%d messages)", singleRate, single))

let samples = options.quick ? 200 : 1000
let lat = try await latency(options, samples: samples)
func percentiles(_ d: [Duration]) -> String {
    "p50 \(ms(d[d.count / 2]))  p99 \(ms(d[d.count * 99 / 100]))  max \(ms(d[d.count - 1]))"
}
print("latency to the handler, max_batch_timeout 0, \(samples) sequential messages:")
print("  from send() called (includes its synced commit): \(percentiles(lat.fromCall))")
print("  from send() returned (message committed):        \(percentiles(lat.fromCommit))")
