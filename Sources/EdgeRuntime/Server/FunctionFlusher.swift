import Foundation
import Logging
import ServiceLifecycle

/// Flushes every ``FunctionLifecycle`` handler on its interval, and once more on graceful shutdown.
struct FunctionFlusher: Service {
    let functions: [any FunctionLifecycle]
    let env: Env
    let logger: Logger

    func run() async throws {
        await periodic()
        // The HTTP server stopped before this service (see EdgeServer's service order): flush what it accepted.
        await flushAll()
    }

    /// Flushes each function on its interval until graceful shutdown or cancellation.
    func periodic() async {
        await withTaskGroup(of: Void.self) { group in
            for function in functions {
                group.addTask {
                    let interval = max(function.flushIntervalSeconds, 0.01)
                    while !Task.isShuttingDownGracefully && !Task.isCancelled {
                        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int64(interval * 1000))) }
                        // Cancelled (a reload retiring these functions): the final flush runs outside this task.
                        if Task.isCancelled { return }
                        await function.flush(env: env)
                    }
                }
            }
        }
    }

    /// Flushes every function once.
    func flushAll() async {
        for function in functions { await function.flush(env: env) }
    }
}
