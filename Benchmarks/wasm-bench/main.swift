// The edge-run side of scripts/bench-wasm.
//
//   wasm-bench serve [--port 8083] [--data DIR]       the routes of functions.json beside this file
//   wasm-bench invoke --module M [--iterations N] [--instantiate-only]
//                                                     µs per invocation of M, p50/p99 (parsed once)
import Dispatch
import EdgeRuntime
import Foundation
import Functions
import KVStore
import Logging
@_spi(Benchmarks) import WasmFunctions

/// The trivial native handler (the normal path, with the deadline, like the wasm route).
struct HelloFunction: EdgeFunction {
    init(config: FunctionConfig) throws {}
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse { .text("hello") }
}

/// The KV counter in Swift: what `Examples/wasm/counter.c` does for POST.
struct CounterFunction: EdgeFunction {
    init(config: FunctionConfig) throws {}
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let name = request.params["name"] ?? ""
        let count = try await env.kv("KV").increment("count:\(name)", by: 1, expirationTtl: nil)
        return .json(["name": .string(name), "count": .integer(count)])
    }
}

var arguments = CommandLine.arguments.dropFirst().makeIterator()
let mode = arguments.next() ?? "serve"
var port = 8083
var data = ".build/bench-wasm-data"
var module = "Examples/wasm/dist/echo-unstripped.wasm"
var iterations = 2000
var runStart = true
while let arg = arguments.next() {
    switch arg {
    case "--port": port = Int(arguments.next()!)!
    case "--data": data = arguments.next()!
    case "--module": module = arguments.next()!
    case "--iterations": iterations = Int(arguments.next()!)!
    case "--instantiate-only": runStart = false
    default: fatalError("unknown argument \(arg)")
    }
}

switch mode {
case "invoke":
    _ = try WasmBenchmarks.invocationMicros(path: module, iterations: 50, runStart: runStart)  // warm-up
    let samples = try WasmBenchmarks.invocationMicros(path: module, iterations: iterations, runStart: runStart).sorted()
    let size = (try? FileManager.default.attributesOfItem(atPath: module)[.size] as? Int) ?? 0
    func pct(_ p: Double) -> Double { samples[min(samples.count - 1, Int(Double(samples.count) * p))] }
    print(String(format: "module=%@ bytes=%d iterations=%d p50_us=%.1f p99_us=%.1f", module, size, iterations, pct(0.5), pct(0.99)))
default:
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .notice
        return handler
    }
    let registry = BuiltinFunctions.registry()
    registry.register("bench.hello", HelloFunction.self)
    registry.register("bench.counter", CounterFunction.self)
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("functions.json").path
    let (manifest, secrets) = try ManifestLoader(registry: registry).load(path: path)
    var options = ServeOptions()
    options.port = port
    options.dataDirectory = data
    let server = try await EdgeServer(manifest: manifest, secrets: secrets, registry: registry, options: options, logger: Logger(label: "edge-run"))
    try await server.run()
}
