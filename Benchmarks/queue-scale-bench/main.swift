import EdgeCore
import EdgeRuntime
import Foundation
import KVStore
// queue-scale-bench: what a big backlog costs the runtime's other work.
//
//   swift build -c release --product queue-scale-bench --product edge-run
//   nice .build/release/queue-scale-bench [--messages 1000000] [--dir PATH] [--edge-run .build/release/edge-run]
//                                          [--purge-chunk 100] [--purge-pause-ms 20]
//
// 1. Fills queue "bench" with N waiting messages (70 % due now, 30 % delayed up to a day).
// 2. Queue stats in-process (`allStats`, what `/_edge/metrics` renders): p50/p99.
// 3. `GET /_edge/metrics` of a real `edge-run serve` on that data directory: p50/p99.
// 4. Durable KV puts, one at a time: p99 at rest, then while the retention purge deletes the
//    whole backlog (the queue's clock is moved past its retention).
import LMDBStorage
import Queues
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct Options {
    var messages = 1_000_000
    var base = FileManager.default.temporaryDirectory
    var edgeRun = ".build/release/edge-run"
    var purgeChunk = LMDBQueueBroker.defaultPurgeChunk
    var purgePauseMillis = 20  // as the server's sweeper

    init(_ args: [String]) {
        var it = args.dropFirst().makeIterator()
        while let arg = it.next() {
            switch arg {
            case "--messages": messages = it.next().flatMap(Int.init) ?? messages
            case "--dir": if let dir = it.next() { base = URL(fileURLWithPath: dir) }
            case "--edge-run": if let path = it.next() { edgeRun = path }
            case "--purge-chunk": purgeChunk = it.next().flatMap(Int.init) ?? purgeChunk
            case "--purge-pause-ms": purgePauseMillis = it.next().flatMap(Int.init) ?? purgePauseMillis
            default:
                print("unknown argument \(arg)")
                exit(2)
            }
        }
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
}

func summary(_ samples: [Double]) -> String {
    let s = samples.sorted()
    return String(format: "p50 %.3f ms, p99 %.3f ms, max %.3f ms (%d samples)", percentile(s, 0.5), percentile(s, 0.99), s.last ?? 0, s.count)
}

func millis(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }

let options = Options(CommandLine.arguments)
let dir = options.base.appendingPathComponent("queue-scale-bench-\(UUID().uuidString)")
defer { try? FileManager.default.removeItem(at: dir) }
let lmdbPath = dir.appendingPathComponent("lmdb").path
let queueClock = ManualClock(Date().timeIntervalSince1970)
let config = QueueConfig(name: "bench")
let clock = ContinuousClock()

// 1. Fill.
do {
    let environment = try LMDBEnvironment(path: lmdbPath)
    let broker = try await LMDBQueueBroker.open(environment: environment, queues: [config], clock: queueClock)
    let start = clock.now
    let producers = 8
    try await withThrowingTaskGroup(of: Void.self) { group in
        for p in 0..<producers {
            group.addTask {
                var rng = SystemRandomNumberGenerator()
                for b in stride(from: p * 100, to: options.messages, by: producers * 100) {
                    let batch = (0..<min(100, options.messages - b)).map { i in
                        OutgoingMessage(
                            body: .json(text: #"{"seq":\#(b + i),"type":"order.paid","amount":4200}"#),
                            delaySeconds: Int.random(in: 0..<10, using: &rng) < 3 ? Int.random(in: 1...86_400, using: &rng) : 0
                        )
                    }
                    _ = try await broker.sendBatch(batch, to: "bench")
                }
            }
        }
        try await group.waitForAll()
    }
    let stats = try await broker.stats("bench")
    print(
        "filled \(options.messages) messages in \(String(format: "%.1f", millis(clock.now - start) / 1000)) s: pending \(stats.pending), delayed \(stats.delayed)"
    )

    // 2. Stats in-process.
    var samples: [Double] = []
    for _ in 0..<2_000 {
        let t = clock.now
        _ = try await broker.allStats()
        samples.append(millis(clock.now - t))
    }
    print("allStats (in-process): \(summary(samples))")
    environment.close()
}

// 3. GET /_edge/metrics of a real server.
do {
    let manifest = dir.appendingPathComponent("functions.json")
    try Data(#"{"queues": [{"name": "bench"}]}"#.utf8).write(to: manifest)
    let log = dir.appendingPathComponent("serve.log")
    FileManager.default.createFile(atPath: log.path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: options.edgeRun)
    process.arguments = ["serve", "--manifest", manifest.path, "--data", dir.path, "--port", "0", "--log-level", "notice"]
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    var port = 0
    let deadline = Date().addingTimeInterval(60)
    while port == 0 && Date() < deadline && process.isRunning {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        if let range = text.range(of: #"port=\d+"#, options: .regularExpression) { port = Int(text[range].dropFirst(5)) ?? 0 }
        try await Task.sleep(for: .milliseconds(20))
    }
    guard port > 0 else {
        print("edge-run serve did not start:\n\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        exit(1)
    }
    let fetcher = CurlFetcher()
    var samples: [Double] = []
    for i in 0..<1_100 {
        var request = FetchRequest(method: "GET", url: "http://127.0.0.1:\(port)/_edge/metrics")
        request.maxAttempts = 1
        let t = clock.now
        let response = try await fetcher.fetch(request)
        if i >= 100 { samples.append(millis(clock.now - t)) }  // the first 100 warm up
        guard response.status == 200 else {
            print("metrics answered \(response.status)")
            exit(1)
        }
    }
    print("GET /_edge/metrics (HTTP, loopback): \(summary(samples))")
    fetcher.shutdown()
    kill(process.processIdentifier, SIGTERM)
    process.waitUntilExit()
}

// 4. Durable KV puts at rest, then during the retention purge of the whole backlog.
do {
    let environment = try LMDBEnvironment(path: lmdbPath)
    let broker = try await LMDBQueueBroker.open(environment: environment, queues: [config], clock: queueClock, reclaimLeases: false)
    let kv = try await LMDBKVStore.open(environment: environment, binding: "BENCH")
    func put(_ n: Int) async throws -> Double {
        let t = clock.now
        try await kv.put("key-\(n % 10_000)", value: Data(repeating: 0x61, count: 200), options: KVPutOptions())
        return millis(clock.now - t)
    }
    var atRest: [Double] = []
    for n in 0..<3_000 { atRest.append(try await put(n)) }
    print("KV put at rest: \(summary(atRest))")

    queueClock.advance(by: Double(config.retention) + 86_401)
    let purgeStart = clock.now
    let purging = Atomic(true)
    let purge = Task {
        defer { purging.store(false, ordering: .releasing) }
        return try await broker.purgeExpired(chunk: options.purgeChunk, pause: .milliseconds(options.purgePauseMillis))
    }
    var during: [Double] = []
    var n = 0
    // Up to 10,000 puts while the purge runs; a paced purge still running then is stopped.
    while purging.load(ordering: .acquiring) && during.count < 10_000 {
        during.append(try await put(n))
        n += 1
    }
    purge.cancel()
    let elapsed = String(format: "%.1f", millis(clock.now - purgeStart) / 1000)
    let left = try await broker.stats("bench")
    let finished = (try? await purge.value) != nil
    print(
        "retention purge (chunks of \(options.purgeChunk), pause \(options.purgePauseMillis) ms): "
            + "\(options.messages - left.pending - left.delayed) messages in \(elapsed) s\(finished ? "" : " (stopped there)")"
    )
    print("KV put during the purge: \(summary(during))")
    let ratio = percentile(during.sorted(), 0.99) / percentile(atRest.sorted(), 0.99)
    print(String(format: "p99 during / at rest: %.2f", ratio))
    environment.close()
}
