// pg-kv-bench: KV get and durable put on PostgreSQL storage through the store itself (no HTTP).
//
//   swift build -c release --product pg-kv-bench
//   .build/release/pg-kv-bench --storage postgres://… --op get|put [--seconds S] [--concurrency C] [--keys K]
//
// C tasks share one `PostgresKVStore` (its pool opened with C connections, as `serve` opens
// `storage_pool_size`) and for S seconds each gets or puts a random one of K keys (`k0`…),
// 100-byte values: the statements `Benchmarks/postgres-kv/get.sql` and `put.sql` run under
// pgbench, at the same concurrency. `get` first writes the K keys. Prints one JSON line.
import EdgeCore
import EdgeStorage
import Foundation
import KVStore
import Logging
import Synchronization

struct Options {
    var storage = ""
    var op = "get"
    var seconds = 10.0
    var concurrency = 8
    var keys = 1000

    init(_ args: [String]) {
        var it = args.dropFirst().makeIterator()
        while let arg = it.next() {
            switch arg {
            case "--storage": storage = it.next() ?? ""
            case "--op": op = it.next() ?? ""
            case "--seconds": seconds = Double(it.next() ?? "") ?? seconds
            case "--concurrency": concurrency = Int(it.next() ?? "") ?? concurrency
            case "--keys": keys = Int(it.next() ?? "") ?? keys
            default:
                print("unknown argument \(arg)")
                exit(2)
            }
        }
        guard !storage.isEmpty, ["get", "put"].contains(op), seconds > 0, (1...256).contains(concurrency), keys >= 1 else {
            print("usage: pg-kv-bench --storage URL --op get|put [--seconds S] [--concurrency 1…256] [--keys K≥1]")
            exit(2)
        }
    }
}

let options = Options(CommandLine.arguments)
var logger = Logger(label: "pg-kv-bench")
logger.logLevel = .warning
let storage = try await StorageLocation(parsing: options.storage).open(poolSize: options.concurrency, logger: logger)
let kv = try await storage.kvStore(binding: "KV", limits: KVLimits(), clock: SystemWallClock())
let value = Data(repeating: UInt8(ascii: "v"), count: 100)
if options.op == "get" {
    for k in 0..<options.keys { try await kv.put("k\(k)", value: value) }
}

let done = Atomic<Int>(0)
let missing = Atomic<Int>(0)
let started = ContinuousClock.now
let deadline = started + .milliseconds(Int(options.seconds * 1000))
try await withThrowingTaskGroup(of: Void.self) { group in
    for _ in 0..<options.concurrency {
        group.addTask {
            var generator = SystemRandomNumberGenerator()
            var count = 0
            while ContinuousClock.now < deadline {
                let key = "k\(Int.random(in: 0..<options.keys, using: &generator))"
                if options.op == "get" {
                    if try await kv.get(key) == nil { missing.add(1, ordering: .relaxed) }
                } else {
                    try await kv.put(key, value: value)
                }
                count += 1
            }
            done.add(count, ordering: .relaxed)
        }
    }
    try await group.waitForAll()
}
let elapsed = ContinuousClock.now - started
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
await storage.close()
guard missing.load(ordering: .relaxed) == 0 else {
    print("\(missing.load(ordering: .relaxed)) gets found no value")
    exit(1)
}
let total = done.load(ordering: .relaxed)
print(#"{"op":"\#(options.op)","operations":\#(total),"seconds":\#(seconds),"per_s":\#(Int(Double(total) / seconds))}"#)
