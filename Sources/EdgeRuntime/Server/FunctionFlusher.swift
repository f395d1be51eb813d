import Foundation
import Logging
import ServiceLifecycle

/// Flushes every ``FunctionLifecycle`` handler on its interval, and once more on graceful shutdown.
struct FunctionFlusher: Service {
    let functions: [any FunctionLifecycle]
    let env: Env
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for function in functions {
                group.addTask {
                    let interval = max(function.flushIntervalSeconds, 0.01)
                    while !Task.isShuttingDownGracefully && !Task.isCancelled {
                        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int64(interval * 1000))) }
                        await function.flush(env: env)
                    }
                }
            }
        }
        // The HTTP server stopped before this service (see EdgeServer's service order): flush what it accepted.
        for function in functions { await function.flush(env: env) }
    }
}
