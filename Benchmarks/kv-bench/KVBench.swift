import CLMDB
import Dispatch
// kv-bench: KV store figures against raw liblmdb, in one run.
//
//   swift build -c release --product kv-bench && .build/release/kv-bench [--seconds 3] [--dir DIR]
//
// (a) get of existing 16-byte keys with 100-byte values from one task, vs raw C: one read txn
//     per get via mdb_txn_reset/renew;
// (b) durable put with 1 writer and with 64 concurrent writers, vs raw C: one synced txn per
//     put, and 1,000 puts per synced txn (the ceiling a group commit can approach); with the
//     writer thread's own cost per write (its time outside mdb_txn_commit, over the writes);
// (c) list of 1,000 keys.
import EdgeCore
import Foundation
import KVStore
import LMDBStorage

@inline(__always) func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

struct Figures {
    let name: String
    let ops: Int
    let elapsed: Double
    var latencies: [UInt64]
    var rate: Double { Double(ops) / elapsed }
    func percentile(_ p: Double) -> Double {
        guard !latencies.isEmpty else { return 0 }
        let sorted = latencies.sorted()
        return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
    }
    func line() -> String {
        String(format: "%-36@ %12.0f ops/s   p50 %9.1f µs   p99 %9.1f µs", name as NSString, rate, percentile(0.5), percentile(0.99))
    }
}

func key(_ i: Int) -> String { String(format: "k%015d", i) }  // 16 bytes
func check(_ rc: Int32, _ what: String) {
    if rc != 0 { fatalError("\(what): \(String(cString: mdb_strerror(rc)))") }
}

/// The baseline: liblmdb through its C API. `@unchecked Sendable`: used by one task at a time.
final class RawLMDB: @unchecked Sendable {
    var env: OpaquePointer?
    var dbi: MDB_dbi = 0
    let value: Data
    init(path: String, value: Data) {
        self.value = value
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        check(mdb_env_create(&env), "create")
        check(mdb_env_set_mapsize(env, 1 << 30), "mapsize")
        check(mdb_env_open(env, path, EDGE_MDB_NOTLS | EDGE_MDB_NORDAHEAD, 0o644), "open")
        var txn: OpaquePointer?
        check(mdb_txn_begin(env, nil, 0, &txn), "begin")
        check(mdb_dbi_open(txn, nil, 0, &dbi), "dbi")
        check(mdb_txn_commit(txn), "commit")
    }
    func put(_ key: String, synced txn: OpaquePointer? = nil) {
        var own: OpaquePointer? = txn
        if txn == nil { check(mdb_txn_begin(env, nil, 0, &own), "begin") }
        var k = key
        k.withUTF8 { kp in
            value.withUnsafeBytes { vp in
                var kv = MDB_val(mv_size: kp.count, mv_data: UnsafeMutableRawPointer(mutating: kp.baseAddress))
                var vv = MDB_val(mv_size: vp.count, mv_data: UnsafeMutableRawPointer(mutating: vp.baseAddress))
                check(mdb_put(own, dbi, &kv, &vv, 0), "put")
            }
        }
        if txn == nil { check(mdb_txn_commit(own), "commit") }
    }
}

@main
enum KVBench {
    /// `main` is main-actor isolated; the measured loops must not hop to the main thread and
    /// back on every call, so they run in a nonisolated function.
    static func main() async throws {
        try await Task.detached { try await run() }.value
    }

    nonisolated static func run() async throws {

        var secondsArg = 3.0
        var baseDir = FileManager.default.currentDirectoryPath + "/.build/bench-kv"
        var keyCountArg = 100_000
        var only: String?
        var argIterator = CommandLine.arguments.dropFirst().makeIterator()
        while let arg = argIterator.next() {
            switch arg {
            case "--seconds": secondsArg = Double(argIterator.next()!)!
            case "--dir": baseDir = argIterator.next()!
            case "--keys": keyCountArg = Int(argIterator.next()!)!
            case "--only": only = argIterator.next()!
            default: fatalError("unknown argument \(arg)")
            }
        }
        let seconds = secondsArg
        let keyCount = keyCountArg
        try? FileManager.default.removeItem(atPath: baseDir)
        try FileManager.default.createDirectory(atPath: baseDir, withIntermediateDirectories: true)

        let value = Data((0..<100).map { UInt8($0) })  // 100 bytes
        let keys = (0..<keyCount).map(key)
        var rng = SystemRandomNumberGenerator()
        let order = (0..<1_000_000).map { _ in Int.random(in: 0..<keyCount, using: &rng) }

        print("edge-run kv-bench: \(keyCount) keys, \(Int(seconds)) s a phase, data in \(baseDir)")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores")

        let raw = RawLMDB(path: baseDir + "/raw", value: value)
        do {
            var txn: OpaquePointer?
            check(mdb_txn_begin(raw.env, nil, 0, &txn), "begin")
            for k in keys { raw.put(k, synced: txn) }
            check(mdb_txn_commit(txn), "commit")
        }

        func rawGets() -> Figures {
            var txn: OpaquePointer?
            check(mdb_txn_begin(raw.env, nil, EDGE_MDB_RDONLY, &txn), "begin ro")
            mdb_txn_reset(txn)
            var out = [UInt8](repeating: 0, count: 128)
            var latencies: [UInt64] = []
            latencies.reserveCapacity(4_000_000)
            let deadline = nowNanos() + UInt64(seconds * 1e9)
            let start = nowNanos()
            var ops = 0
            outer: while true {
                for i in order {
                    let t0 = nowNanos()
                    check(mdb_txn_renew(txn), "renew")
                    var k = keys[i]
                    k.withUTF8 { kp in
                        var kv = MDB_val(mv_size: kp.count, mv_data: UnsafeMutableRawPointer(mutating: kp.baseAddress))
                        var vv = MDB_val()
                        check(mdb_get(txn, raw.dbi, &kv, &vv), "get")
                        out.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: vv.mv_data, byteCount: vv.mv_size) }
                    }
                    mdb_txn_reset(txn)
                    let t1 = nowNanos()
                    latencies.append(t1 - t0)
                    ops += 1
                    if t1 > deadline { break outer }
                }
            }
            let elapsed = Double(nowNanos() - start) / 1e9
            mdb_txn_abort(txn)
            return Figures(name: "raw C get (reset/renew)", ops: ops, elapsed: elapsed, latencies: latencies)
        }

        func rawPuts() -> Figures {
            var latencies: [UInt64] = []
            let deadline = nowNanos() + UInt64(seconds * 1e9)
            let start = nowNanos()
            var ops = 0
            while nowNanos() < deadline {
                let t0 = nowNanos()
                raw.put(keys[ops % keyCount])  // its own synced transaction
                latencies.append(nowNanos() - t0)
                ops += 1
            }
            return Figures(name: "raw C durable put (1 txn each)", ops: ops, elapsed: Double(nowNanos() - start) / 1e9, latencies: latencies)
        }

        /// 1,000 puts per synced transaction; the latency recorded is one transaction's over 1,000.
        func rawBatchedPuts() -> Figures {
            var latencies: [UInt64] = []
            let deadline = nowNanos() + UInt64(seconds * 1e9)
            let start = nowNanos()
            var ops = 0
            while nowNanos() < deadline {
                let t0 = nowNanos()
                var txn: OpaquePointer?
                check(mdb_txn_begin(raw.env, nil, 0, &txn), "begin")
                for _ in 0..<1000 {
                    raw.put(keys[ops % keyCount], synced: txn)
                    ops += 1
                }
                check(mdb_txn_commit(txn), "commit")
                latencies.append((nowNanos() - t0) / 1000)
            }
            return Figures(name: "raw C durable put (1,000 per txn)", ops: ops, elapsed: Double(nowNanos() - start) / 1e9, latencies: latencies)
        }

        // MARK: edge-run KV

        let environment = try LMDBEnvironment(path: baseDir + "/edge/lmdb")
        let store = try await LMDBKVStore.open(environment: environment, binding: "BENCH")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<64 {
                group.addTask { for i in stride(from: w, to: keyCount, by: 64) { try await store.put(keys[i], value: value) } }
            }
            try await group.waitForAll()
        }

        func kvGets() async throws -> Figures {
            var latencies: [UInt64] = []
            latencies.reserveCapacity(4_000_000)
            let deadline = nowNanos() + UInt64(seconds * 1e9)
            let start = nowNanos()
            var ops = 0
            outer: while true {
                for i in order {
                    let t0 = nowNanos()
                    guard let v = try await store.get(keys[i]), v.count == 100 else { fatalError("missing \(keys[i])") }
                    let t1 = nowNanos()
                    latencies.append(t1 - t0)
                    ops += 1
                    if t1 > deadline { break outer }
                }
            }
            return Figures(name: "KV get (1 task)", ops: ops, elapsed: Double(nowNanos() - start) / 1e9, latencies: latencies)
        }

        func kvPuts(writers: Int) async throws -> (Figures, LMDBWriteStatistics) {
            let before = environment.writeStatistics
            let deadline = nowNanos() + UInt64(seconds * 1e9)
            let start = nowNanos()
            let perWriter = try await withThrowingTaskGroup(of: [UInt64].self) { group in
                for w in 0..<writers {
                    group.addTask {
                        var latencies: [UInt64] = []
                        var i = w
                        while nowNanos() < deadline {
                            let t0 = nowNanos()
                            try await store.put(keys[i % keyCount], value: value)
                            latencies.append(nowNanos() - t0)
                            i += writers
                        }
                        return latencies
                    }
                }
                var all: [[UInt64]] = []
                for try await part in group { all.append(part) }
                return all
            }
            let all = perWriter.flatMap { $0 }
            let after = environment.writeStatistics
            var delta = LMDBWriteStatistics()
            delta.commits = after.commits - before.commits
            delta.writes = after.writes - before.writes
            delta.syncNanoseconds = after.syncNanoseconds - before.syncNanoseconds
            delta.ownNanoseconds = after.ownNanoseconds - before.ownNanoseconds
            return (
                Figures(
                    name: "KV durable put (\(writers) writer\(writers == 1 ? "" : "s"))",
                    ops: all.count,
                    elapsed: Double(nowNanos() - start) / 1e9,
                    latencies: all
                ), delta
            )
        }

        func writerLine(_ label: String, _ s: LMDBWriteStatistics) -> String {
            String(
                format: "%@: %.1f writes/commit, commit (sync) %.0f µs, writer's own cost %.2f µs/write",
                label,
                Double(s.writes) / Double(max(s.commits, 1)),
                Double(s.syncNanoseconds) / Double(max(s.commits, 1)) / 1000,
                s.ownMicrosecondsPerWrite
            )
        }

        func kvLists() async throws -> Figures {
            var latencies: [UInt64] = []
            let deadline = nowNanos() + UInt64(seconds * 1e9)
            let start = nowNanos()
            var n = 0
            while nowNanos() < deadline {
                let t0 = nowNanos()
                let page = try await store.list(
                    prefix: "k",
                    limit: 1000,
                    cursor: n % 2 == 0 ? nil : Base64.encodeURL(Array(keys[50_000 % keyCount].utf8))
                )
                precondition(page.keys.count == min(1000, keyCount))
                latencies.append(nowNanos() - t0)
                n += 1
            }
            return Figures(name: "KV list of 1,000 keys", ops: n, elapsed: Double(nowNanos() - start) / 1e9, latencies: latencies)
        }

        if only == "put64" {
            let rawBatched = rawBatchedPuts()
            let (put64, writer64) = try await kvPuts(writers: 64)
            print(rawBatched.line())
            print(put64.line())
            print(writerLine("64 writers", writer64))
            print(String(format: "64-writer KV put / raw 1,000-per-txn put: %5.1f%%  (target ≥ 20%%)", put64.rate / rawBatched.rate * 100))
            return
        }
        let rawGet = rawGets()
        let kvGet = try await kvGets()
        let rawPut = rawPuts()
        let rawBatched = rawBatchedPuts()
        let (put1, writer1) = try await kvPuts(writers: 1)
        let (put64, writer64) = try await kvPuts(writers: 64)
        let list = try await kvLists()

        print("")
        for f in [rawGet, kvGet, rawPut, rawBatched, put1, put64, list] { print(f.line()) }
        print("")
        print(writerLine("1 writer  ", writer1))
        print(writerLine("64 writers", writer64))
        print("")
        print(String(format: "KV get / raw C get:                  %5.1f%%  (target ≥ 50%%)", kvGet.rate / rawGet.rate * 100))
        print(String(format: "64-writer KV put / raw 1,000-per-txn: %5.1f%%  (target ≥ 20%%)", put64.rate / rawBatched.rate * 100))
        print(String(format: "64-writer / 1-writer durable puts:   %5.1f×", put64.rate / put1.rate))
        print(String(format: "1-writer KV put / raw synced put:    %5.1f%%", put1.rate / rawPut.rate * 100))
        environment.close()
        try? FileManager.default.removeItem(atPath: baseDir)

    }
}
