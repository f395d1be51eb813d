import EdgeRuntime
import EdgeTestSupport
import Foundation
import Functions
import KVStore
import Synchronization

/// User-defined handlers, registered beside the built-ins the way a user's own binary does.
enum TestFunctions {
    static func registry() -> FunctionRegistry {
        let registry = BuiltinFunctions.registry()
        registry.register("test.echo", EchoFunction.self)
        registry.register("test.slow", SlowFunction.self)
        registry.register("test.crash", CrashFunction.self)
        registry.register("test.later", LaterFunction.self)
        registry.register("test.hold", HoldFunction.self)
        return registry
    }
}

/// Echoes what it received.
struct EchoFunction: EdgeFunction {
    init(config: FunctionConfig) throws {}
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        .json([
            "method": .string(request.method), "path": .string(request.path), "query": .string(request.query),
            "params": .object(request.params.mapValues { .string($0) }), "body": .string(String(decoding: request.body, as: UTF8.self)),
            "claims": request.claims ?? .null, "greeting": .string(env.variable("GREETING") ?? ""),
            "request_id": .string(request.requestID),
        ])
    }
}

/// Sleeps `config.seconds` before answering.
struct SlowFunction: EdgeFunction {
    let seconds: Double
    init(config: FunctionConfig) throws { seconds = try config.double("seconds", default: 5, in: 0...60) }
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        return .text("finally")
    }
}

/// Fails with an error whose text must never reach the client.
struct CrashFunction: EdgeFunction {
    struct Boom: Error, CustomStringConvertible { var description: String { "database password is hunter2" } }
    init(config: FunctionConfig) throws {}
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse { throw Boom() }
}

/// Answers at once and writes `later` to KV from `waitUntil` a moment afterwards.
struct LaterFunction: EdgeFunction {
    init(config: FunctionConfig) throws {}
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let kv = try env.kv("KV")
        context.waitUntil {
            try? await Task.sleep(for: .milliseconds(300))
            try? await kv.put("later", text: "written after the response")
        }
        return .json(["accepted": true], status: 202)
    }
}

/// Holds each request until the test opens the gate (graceful-shutdown tests).
struct HoldFunction: EdgeFunction {
    static let gate = Gate()
    init(config: FunctionConfig) throws {}
    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        await Self.gate.wait()
        return .text("held and released")
    }
}

/// A one-shot gate: `wait()` suspends until `open()`; `waiting` counts the suspended.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    func wait() async {
        await withCheckedContinuation { c in
            let resumeNow = state.withLock { s -> Bool in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }
    var waiting: Int { state.withLock { $0.waiters.count } }
    func open() {
        for c in state.withLock({ s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }) { c.resume() }
    }
    func reset() { state.withLock { $0.open = false } }
}
