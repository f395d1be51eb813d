import EdgeRuntime
import EdgeTestSupport
import Foundation
import Testing

@testable import WasmFunctions

@Suite("wasm: limits and hostile guests")
struct WasmLimitsTests {
    /// Calls a guest can make with pointers or lengths outside its 64 KiB memory. Each must trap
    /// the invocation (500), never crash the host.
    static let hostileCalls: [String] = [
        // an iovec whose buffer runs past the end (WasmKit's own WASI crashes the host on this one)
        "(i32.store (i32.const 0) (i32.const 65000)) (i32.store (i32.const 4) (i32.const 10000)) (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))",
        // the iovec array itself outside memory
        "(drop (call $fd_write (i32.const 1) (i32.const 0xfffffff0) (i32.const 2) (i32.const 8)))",
        // a huge iovec count
        "(drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0x7fffffff) (i32.const 8)))",
        // nwritten outside memory
        "(drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 65535)))",
        // a buffer length that wraps around 2^32
        "(i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 0xfffffff8)) (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))",
        // reading stdin into memory that is not there
        "(i32.store (i32.const 0) (i32.const 65530)) (i32.store (i32.const 4) (i32.const 100)) (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))",
        "(drop (call $args_get (i32.const 65534) (i32.const 0)))",
        "(drop (call $args_sizes_get (i32.const 0x80000000) (i32.const 0)))",
        "(drop (call $environ_get (i32.const 0) (i32.const 65530)))",
        "(drop (call $random_get (i32.const 60000) (i32.const 10000)))",
        "(drop (call $clock_time_get (i32.const 0) (i64.const 0) (i32.const 65533)))",
        "(drop (call $fd_fdstat_get (i32.const 1) (i32.const 65530)))",
        "(drop (call $poll_oneoff (i32.const 65500) (i32.const 0) (i32.const 4) (i32.const 8)))",
        "(drop (call $kv_get (i32.const 65535) (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 16) (i32.const 32)))",
        "(drop (call $kv_get (i32.const 100) (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 65530) (i32.const 16) (i32.const 32)))",
        "(drop (call $kv_put (i32.const 100) (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0xffffffff) (i64.const 0)))",
        "(drop (call $queue_send (i32.const 200) (i32.const 4) (i32.const 65000) (i32.const 4096) (i32.const 1) (i32.const 0)))",
        "(drop (call $fetch (i32.const 0xffffff00) (i32.const 512) (i32.const 0) (i32.const 0)))",
        "(call $log (i32.const 1) (i32.const 65500) (i32.const 1000))",
    ]

    static let hostileImports = """
          (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
          (import "edge_run" "kv_get" (func $kv_get (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
          (import "edge_run" "kv_put" (func $kv_put (param i32 i32 i32 i32 i32 i32 i64) (result i32)))
          (import "edge_run" "queue_send" (func $queue_send (param i32 i32 i32 i32 i32 i32) (result i32)))
          (import "edge_run" "fetch" (func $fetch (param i32 i32 i32 i32) (result i32)))
          (import "edge_run" "log" (func $log (param i32 i32 i32)))
          (data (i32.const 100) "KV")
          (data (i32.const 200) "jobs")
        """

    @Test func hostilePointersTrapTheGuestNeverTheHost() async throws {
        var modules: [String: [UInt8]] = [:]
        var functions: [JSONValue] = []
        for (i, call) in Self.hostileCalls.enumerated() {
            modules["h\(i).wasm"] = try Modules.compile(Modules.start(call, extra: Self.hostileImports))
            functions.append([
                "name": .string("h\(i)"), "handler": "wasm", "routes": [.string("POST /h/\(i)")],
                "config": ["module": .string("h\(i).wasm"), "kv": ["KV"], "queues": ["jobs"]],
            ])
        }
        let s = try await WasmServer.start(
            modules: modules,
            manifest: [
                "kv_namespaces": [["binding": "KV"]], "queues": [["name": "jobs"]], "functions": .array(functions),
            ]
        )
        for i in Self.hostileCalls.indices {
            let r = try await s.raw("POST", "/h/\(i)", body: "stdin")
            #expect(r.status == 500, "call \(i): \(Self.hostileCalls[i])")
            #expect(r.body.contains("\"error\":\"the function failed\""), "call \(i): \(r.body)")
        }
        #expect(try await s.client.get("/_edge/health").status == 200)
        try await s.stopAndClean()
    }

    @Test func growingPastTheMemoryLimitFailsTheGrowAndTheGuest() async throws {
        // 1 MiB limit: growing by 32 pages (2 MiB) answers -1, and the module traps on that.
        let wasm = try Modules.compile(
            Modules.start(
                """
                (if (i32.eq (memory.grow (i32.const 32)) (i32.const -1)) (then unreachable))
                """ + Modules.writeHeadersCall,
                extra: Modules.headersData
            )
        )
        let s = try await WasmServer.single(wasm, config: ["memory_limit_mb": 1])
        #expect(try await s.client.get("/fn").status == 500)
        try await s.stopAndClean()
        // Within the limit the same grow succeeds.
        let t = try await WasmServer.single(wasm, config: ["memory_limit_mb": 4])
        #expect(try await t.client.get("/fn").status == 200)
        try await t.stopAndClean()
    }

    @Test func anInitialMemoryOverTheLimitIsAManifestProblem() throws {
        let wasm = try Modules.compile(Modules.start("", memoryPages: 32))  // 2 MiB
        let problems = try WasmServer.problems(
            modules: ["big.wasm": wasm],
            manifest: [
                "functions": [["name": "big", "handler": "wasm", "routes": ["GET /big"], "config": ["module": "big.wasm", "memory_limit_mb": 1]]]
            ]
        )
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("functions[0].config.module: big.wasm: its initial memory is larger than memory_limit_mb") == true)
    }

    @Test func writingAHundredMegabytesToStdoutIsA500WithBoundedMemory() async throws {
        // 1,600 writes of the whole 64 KiB memory: 100 MiB unless the host stops it.
        let wasm = try Modules.compile(
            Modules.start(
                """
                (local $i i32)
                (i32.store (i32.const 0) (i32.const 0))
                (i32.store (i32.const 4) (i32.const 65536))
                (loop $again
                  (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $again (i32.lt_u (local.get $i) (i32.const 1600))))
                """
            )
        )
        let s = try await WasmServer.single(wasm)
        let r = try await s.client.get("/fn")
        #expect(r.status == 500)
        #expect(r.body.count < 1000)
        #expect(try await s.client.get("/_edge/health").status == 200)
        try await s.stopAndClean()
    }

    @Test func aGuestLoopingForeverIsAnswered504AndCountedAsRunawayUntilItsFuelRunsOut() async throws {
        let wasm = try Modules.compile(Modules.start("(loop $forever (br $forever))"))
        // max_fuel: 0.3 s of the fastest code this machine runs. This loop burns fuel more
        // slowly than that, so it outlives the 0.1 s timeout, and stops a few seconds later
        // (the default budget, a multiple of the timeout, would keep a core busy far longer).
        let fuel = Int64(await GuestEngine.measuredOffThePool() * 0.3)
        let s = try await WasmServer.single(wasm, config: ["max_fuel": .integer(fuel)], limits: ["handler_timeout_seconds": 0.1, "max_runaway": 1])
        let r = try await s.client.get("/fn")
        #expect(r.status == 504)
        #expect(r.json["request_id"]?.stringValue?.isEmpty == false)
        // While it burns its fuel on its own thread, the function refuses new work (max_runaway 1)
        // and the rest of the server answers.
        let metrics = try await s.client.get("/_edge/metrics").text
        #expect(metrics.contains("edge_runaway_handlers{function=\"fn\"} 1"))
        #expect(try await s.client.get("/fn").status == 503)
        #expect(try await s.client.get("/_edge/health").status == 200)
        // The fuel budget (a few timeouts' worth of the fastest code) ends it.
        #expect(
            await eventually(timeout: 120) {
                (try? await s.client.get("/_edge/metrics").text.contains("edge_runaway_handlers{function=\"fn\"} 0")) == true
            }
        )
        #expect(try await s.client.get("/fn").status == 504)
        try await s.stopAndClean()
    }

    @Test func aGuestSleepingInAHostCallStopsAtTheDeadline() async throws {
        // poll_oneoff with a one-hour clock subscription: the host call returns at the deadline
        // and the guest is stopped there (no runaway left behind).
        let wasm = try Modules.compile(
            Modules.start(
                """
                (i64.store (i32.const 24) (i64.const 3600000000000))
                (drop (call $poll_oneoff (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200)))
                """,
                extra: "(import \"wasi_snapshot_preview1\" \"poll_oneoff\" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))"
            )
        )
        let s = try await WasmServer.single(wasm, limits: ["handler_timeout_seconds": 0.3])
        #expect(try await s.client.get("/fn").status == 504)
        // The guest stops at its deadline, which the deadline watch (20 ms ticks) may see first
        // or not: either no runaway was ever counted (no series) or its count is back at 0.
        #expect(
            await eventually {
                guard let metrics = try? await s.client.get("/_edge/metrics").text else { return false }
                let series = metrics.split(separator: "\n").filter { $0.hasPrefix("edge_runaway_handlers{function=\"fn\"}") }
                // The exposition writes the gauge as a double ("… 0.0").
                return series.allSatisfy { line in line.split(separator: " ").last.flatMap { Double($0) } == 0 }
            }
        )
        try await s.stopAndClean()
    }

    @Test func importsTheRuntimeCannotSatisfyAreManifestProblemsWithTheirPath() throws {
        let wasm = try Modules.compile(
            """
            (module
              (import "env" "now" (func (result i64)))
              (import "edge_run" "kv_get" (func (param i32 i32) (result i32)))
              (import "edge_run" "teleport" (func))
              (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (func (export "_start")))
            """
        )
        let problems = try WasmServer.problems(
            modules: ["bad.wasm": wasm],
            manifest: [
                "functions": [
                    ["name": "ok", "handler": "wasm", "routes": ["GET /ok"], "config": ["module": "ok.wasm"]],
                    ["name": "bad", "handler": "wasm", "routes": ["GET /bad"], "config": ["module": "bad.wasm"]],
                ]
            ]
        )
        #expect(problems.count == 2)
        #expect(problems.first?.hasPrefix("functions[0].config.module: ok.wasm: cannot read") == true)
        let bad = try #require(problems.last)
        #expect(bad.hasPrefix("functions[1].config.module: bad.wasm: imports env.now: edge-run offers only"))
        #expect(bad.contains("imports edge_run.kv_get as (i32, i32) -> (i32), but edge-run offers (i32, i32, i32, i32, i32, i32, i32) -> (i32)"))
        #expect(bad.contains("imports edge_run.teleport, which edge-run does not offer"))
    }

    @Test func missingExportsAndInvalidBodiesAreManifestProblems() throws {
        let noStart = try Modules.compile("(module (memory (export \"memory\") 1))")
        let noMemory = try Modules.compile("(module (func (export \"_start\")))")
        let wrongStart = try Modules.compile("(module (memory (export \"memory\") 1) (func (export \"_start\") (param i32)))")
        let problems = try WasmServer.problems(
            modules: ["a.wasm": noStart, "b.wasm": noMemory, "c.wasm": wrongStart, "d.wasm": Array("not wasm".utf8)],
            manifest: [
                "functions": .array(
                    ["a", "b", "c", "d"].map { n in
                        ["name": .string(n), "handler": "wasm", "routes": [.string("GET /\(n)")], "config": ["module": .string("\(n).wasm")]]
                    }
                )
            ]
        )
        #expect(problems.count == 4)
        #expect(problems.contains { $0.hasPrefix("functions[0].config.module: a.wasm: exports no function _start") })
        #expect(problems.contains { $0.hasPrefix("functions[1].config.module: b.wasm: exports no memory named \"memory\"") })
        #expect(problems.contains { $0.hasPrefix("functions[2].config.module: c.wasm: exports _start as (i32) -> (), not () -> ()") })
        #expect(problems.contains { $0.hasPrefix("functions[3].config.module: d.wasm: not a valid WebAssembly module") })
    }
}

extension Modules {
    /// Data and a call that write `Content-Type: text/plain` and a blank line.
    static let headersData = "(data (i32.const 3000) \"Content-Type: text/plain\\n\\n\")"
    static let writeHeadersCall = """
        (i32.store (i32.const 0) (i32.const 3000))
        (i32.store (i32.const 4) (i32.const 26))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        """
}
