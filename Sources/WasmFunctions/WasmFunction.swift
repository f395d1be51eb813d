import EdgeRuntime
import Foundation
import Logging
import Queues
import Synchronization

/// The `wasm` handler: a user function compiled to `wasm32-wasi`, run on WasmKit.
///
/// Config: `module` (path, relative to the manifest), `kv` and `queues` (the bindings and queues
/// its host calls may use), `memory_limit_mb` (64), `env` (extra environment variables),
/// `max_output_bytes` (stdout limit, 8 MiB), `max_fuel` (the instruction budget of one
/// invocation; default: ``GuestEngine/fuelBudget(seconds:)`` of the handler timeout). The module is read, checked and validated here, at
/// start-up; every invocation instantiates it afresh on a guest thread.
public struct WasmFunction: EdgeFunction {
    public static var kinds: FunctionKinds { [.fetch, .queue, .scheduled] }

    let name: String
    let program: WasmProgram
    let kvBindings: Set<String>
    let queues: Set<String>
    let extraEnvironment: [(String, String)]
    let outputLimit: Int
    let timeoutSeconds: Double
    /// `max_fuel`: the fuel budget of one invocation (nil: derived from the timeout).
    let maxFuel: UInt64?

    public init(config: FunctionConfig) throws {
        name = config.functionName
        let path = try config.requiredString("module")
        let resolved = path.hasPrefix("/") ? path : (config.declarations.baseDirectory as NSString).appendingPathComponent(path)
        let memoryMB = try config.int("memory_limit_mb", default: 64, in: 1...4096)
        kvBindings = Set(try Self.names(config, "kv", declared: config.declarations.kvBindings, what: "KV binding", list: "kv_namespaces"))
        queues = Set(try Self.names(config, "queues", declared: config.declarations.queues, what: "queue", list: "queues"))
        outputLimit = try config.int("max_output_bytes", default: 8 << 20, in: 1024...(256 << 20))
        var extra: [(String, String)] = []
        if let env = config["env"], !env.isNull {
            guard let object = env.objectValue else { throw FunctionConfigError("env", "must be an object of strings") }
            for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                guard let string = value.stringValue else { throw FunctionConfigError("env.\(key)", "must be a string") }
                guard !key.isEmpty, !key.contains("=") else { throw FunctionConfigError("env.\(key)", "is not a valid variable name") }
                extra.append((key, string))
            }
        }
        extraEnvironment = extra
        timeoutSeconds = config.limits.handlerTimeoutSeconds
        let fuel = try config.int("max_fuel", default: 0, in: 0...Int(Int64.max))
        maxFuel = fuel == 0 ? nil : UInt64(fuel)
        do {
            program = try WasmProgram(path: resolved, memoryLimitBytes: memoryMB << 20)
        } catch {
            throw FunctionConfigError("module", "\(path): \(error)")
        }
    }

    /// A list of declared names under `key` (a single string is a list of one).
    private static func names(_ config: FunctionConfig, _ key: String, declared: [String], what: String, list: String) throws -> [String] {
        guard let value = config[key], !value.isNull else { return [] }
        let names: [String]
        if let one = value.stringValue {
            names = [one]
        } else if let many = value.arrayValue {
            names = try many.map {
                guard let s = $0.stringValue else { throw FunctionConfigError(key, "must be a list of names") }
                return s
            }
        } else {
            throw FunctionConfigError(key, "must be a list of names")
        }
        for name in names where !declared.contains(name) {
            throw FunctionConfigError(key, "\(what) \"\(name)\" is not declared in \(list)")
        }
        return names
    }

    // MARK: Entry points

    public func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let environment = WAGI.environment(for: request, functionName: name)
        let outcome = await invoke(
            requestID: request.requestID,
            environment: environment,
            stdin: Array(request.body),
            env: env,
            ownDeadline: false
        )
        switch outcome {
        case .exited(0, let stdout):
            do { return try WAGI.response(from: stdout) } catch {
                log(env, request.requestID, "\(error)")
                throw EdgeHTTPError(.internalError, "the function's response is not valid CGI output")
            }
        case .exited(let code, _):
            log(env, request.requestID, "exited with code \(code)")
            throw EdgeHTTPError(.internalError, "the function failed")
        case .failed(let reason):
            log(env, request.requestID, "trapped: \(reason)")
            throw EdgeHTTPError(.internalError, "the function failed")
        case .stopped:
            throw EdgeHTTPError(.gatewayTimeout, "handler timed out after \(timeoutSeconds) s")
        }
    }

    public func queue(_ batch: MessageBatch, env: Env) async throws {
        let id = "queue-\(batch.queue)-\(batch.messages.first?.id ?? "")"
        let environment = [("EDGE_EVENT", "queue"), ("EDGE_QUEUE", batch.queue), ("EDGE_REQUEST_ID", id), ("EDGE_FUNCTION", name)]
        let outcome = await invoke(
            requestID: id,
            environment: environment,
            stdin: Array(WasmEvents.batchJSON(batch)),
            env: env,
            ownDeadline: true
        )
        let stdout = try check(outcome, env: env, id: id)
        do { try WasmEvents.applyDecisions(stdout, to: batch) } catch {
            log(env, id, "\(error)")
            throw FunctionInvocationError("the wasm consumer's output is not valid")
        }
    }

    public func scheduled(_ event: ScheduledEvent, env: Env) async throws {
        let id = "cron-\(Int64(event.scheduledTime))"
        let environment = WasmEvents.scheduledEnvironment(event) + [("EDGE_REQUEST_ID", id), ("EDGE_FUNCTION", name)]
        _ = try check(await invoke(requestID: id, environment: environment, stdin: [], env: env, ownDeadline: true), env: env, id: id)
    }

    /// The stdout of a successful queue or cron invocation; otherwise logs and throws.
    private func check(_ outcome: GuestOutcome, env: Env, id: String) throws -> [UInt8] {
        switch outcome {
        case .exited(0, let stdout): return stdout
        case .exited(let code, _):
            log(env, id, "exited with code \(code)")
            throw FunctionInvocationError("the wasm function exited with code \(code)")
        case .failed(let reason):
            log(env, id, "trapped: \(reason)")
            throw FunctionInvocationError("the wasm function trapped: \(reason)")
        case .stopped:
            log(env, id, "stopped at the handler timeout (\(timeoutSeconds) s)")
            throw FunctionInvocationError("the wasm function timed out after \(timeoutSeconds) s")
        }
    }

    private func log(_ env: Env, _ requestID: String, _ message: String) {
        env.logger.error("wasm function \(name): \(message)", metadata: ["function": "\(name)", "request_id": "\(requestID)"])
    }

    // MARK: Running a guest

    /// Runs the module once on a guest thread. The guest stops at the handler timeout in its
    /// next host call, or when its fuel runs out. With `ownDeadline` the caller gets `.stopped`
    /// at the timeout even while the guest computes on (queue and cron events); otherwise the
    /// HTTP pipeline answers 504 at the deadline and counts the guest as a runaway handler
    /// until its thread is done.
    func invoke(requestID: String, environment: [(String, String)], stdin: [UInt8], env: Env, ownDeadline: Bool) async -> GuestOutcome {
        let stop = StopSignal(seconds: timeoutSeconds)
        let (maxFuel, timeoutSeconds) = (maxFuel, timeoutSeconds)
        let variables = (environment + extraEnvironment).map { "\($0.0)=\($0.1)" }
        let host = HostAccess(env: env, kvBindings: kvBindings, queues: queues)
        let (program, name, outputLimit, logger) = (program, name, outputLimit, env.logger)
        let once = OnceContinuation()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<GuestOutcome, Never>) in
                once.set(continuation)
                GuestThreads.shared.submit { thread in
                    // On the guest thread: the first budget measures this machine's fuel rate
                    // (a busy loop), which must never hold a thread of the cooperative pool.
                    let fuel = maxFuel ?? GuestEngine.fuelBudget(seconds: timeoutSeconds)
                    let invocation = GuestInvocation(
                        functionName: name,
                        requestID: requestID,
                        args: [name],
                        environment: variables,
                        stdin: stdin,
                        stdoutLimit: outputLimit,
                        logger: logger,
                        stop: stop,
                        host: host
                    )
                    once.resume(program.run(invocation, fuel: fuel, on: thread))
                }
                if ownDeadline {
                    once.setTimer(
                        Task {
                            try? await Task.sleep(nanoseconds: stop.remainingNanoseconds)
                            if Task.isCancelled { return }
                            stop.stopNow()
                            once.resume(.stopped)
                        }
                    )
                }
            }
        } onCancel: {
            stop.stopNow()
        }
    }
}

/// A continuation resumed by whichever comes first: the guest's outcome or its deadline.
private final class OnceContinuation: Sendable {
    private struct State {
        var continuation: CheckedContinuation<GuestOutcome, Never>?
        var timer: Task<Void, Never>?
        var done = false
    }
    private let state = Mutex(State())

    func set(_ continuation: CheckedContinuation<GuestOutcome, Never>) { state.withLock { $0.continuation = continuation } }

    /// The deadline timer, cancelled when the outcome arrives first.
    func setTimer(_ timer: Task<Void, Never>) {
        let done = state.withLock { s -> Bool in
            if !s.done { s.timer = timer }
            return s.done
        }
        if done { timer.cancel() }
    }

    func resume(_ outcome: GuestOutcome) {
        let (continuation, timer) = state.withLock { s in
            defer {
                s.continuation = nil
                s.timer = nil
                s.done = true
            }
            return (s.continuation, s.timer)
        }
        timer?.cancel()
        continuation?.resume(returning: outcome)
    }
}

extension WasmFunction: OpenAPIDescribed {
    /// The module decides its answers (CGI `Status:` and headers): its route, any body, any
    /// answer; a trap or a non-zero exit is 500, past the handler timeout 504.
    public static func openAPIOperations(_ mount: OpenAPIMount) -> [OpenAPIOperation] {
        var operation = OpenAPIDocument.generic(mount)
        operation.summary = "WebAssembly module \(mount.function.config["module"]?.stringValue ?? "") (WAGI)"
        operation.errors = [500, 504]
        return [operation]
    }
}
