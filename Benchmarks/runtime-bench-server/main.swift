// The edge-run side of scripts/bench-runtime: the stock built-ins plus its own benchmark handlers,
// registered the way a user's own binary registers its functions.
//
//   ADMIN_TOKEN=… .build/release/runtime-bench-server --manifest Benchmarks/runtime-bench-server/functions.json --port 8082 --data DIR
//
// (`ADMIN_TOKEN` is the bearer token of the manifest's `kv.api` route.)
import EdgeRuntime
import Foundation
import Functions
import KVStore
import Logging
import Queues

/// (a) A trivial handler (it waits on nothing, so it declares itself ``InlineAnswering``).
struct HelloFunction: EdgeFunction, InlineAnswering {
    init(config: FunctionConfig) throws {}
    func answersInline(_ request: EdgeRequest) -> Bool { true }
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse { .text("hello") }
}

/// (a′) The same answer from a handler that does not declare itself inline: it runs in a task
/// of its own racing the route's deadline, as every handler that waits on I/O does.
struct HelloTaskFunction: EdgeFunction {
    init(config: FunctionConfig) throws {}
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse { .text("hello") }
}

/// (b) One KV get (an LMDB read: ``InlineAnswering``).
struct KVGetFunction: EdgeFunction, InlineAnswering {
    init(config: FunctionConfig) throws {}
    func answersInline(_ request: EdgeRequest) -> Bool { true }
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        guard let value = try await env.kv("KV").get("bench-key") else { throw EdgeHTTPError(.notFound, "seed the key first") }
        return EdgeResponse(status: 200, headers: ["Content-Type": "application/octet-stream"], body: value)
    }
}

/// (c) One durable queue send.
struct EnqueueFunction: EdgeFunction {
    init(config: FunctionConfig) throws {}
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let id = try await env.queue("bench").send(body: Data(#"{"event":"bench"}"#.utf8), contentType: .json)
        return .json(["id": .string(id)], status: 202)
    }
}

/// Serves a JWKS file (`config.path`, relative to the working directory) for the bench's own auth provider.
struct JWKSFileFunction: EdgeFunction {
    let body: Data
    init(config: FunctionConfig) throws {
        let path = try config.requiredString("path")
        guard let data = FileManager.default.contents(atPath: path) else { throw FunctionConfigError("path", "cannot read \(path)") }
        body = try JSONValue.parse(data)["jwks"]?.serialized() ?? data
    }
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        EdgeResponse(status: 200, headers: ["Content-Type": "application/json"], body: body)
    }
}

var arguments = CommandLine.arguments.dropFirst().makeIterator()
var manifestPath = "Benchmarks/runtime-bench-server/functions.json"
var port = 8082
var data = ".build/bench-runtime-data"
while let arg = arguments.next() {
    switch arg {
    case "--manifest": manifestPath = arguments.next()!
    case "--port": port = Int(arguments.next()!)!
    case "--data": data = arguments.next()!
    default: fatalError("unknown argument \(arg)")
    }
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .notice
    return handler
}
let registry = BuiltinFunctions.registry()
registry.register("bench.hello", HelloFunction.self)
registry.register("bench.hello-task", HelloTaskFunction.self)
registry.register("bench.kvget", KVGetFunction.self)
registry.register("bench.enqueue", EnqueueFunction.self)
registry.register("bench.jwks", JWKSFileFunction.self)
let (manifest, secrets) = try ManifestLoader(registry: registry).load(path: manifestPath)
var options = ServeOptions()
options.port = port
options.dataDirectory = data
let server = try await EdgeServer(manifest: manifest, secrets: secrets, registry: registry, options: options, logger: Logger(label: "edge-run"))
try await server.kvStores["KV"]!.put("bench-key", value: Data(repeating: 0x61, count: 100))
try await server.run()
