import Foundation

/// Runs `work` on a thread of its own and waits for it without holding a thread of Swift's
/// cooperative pool (two on a 2-core machine). For synchronous work that may take seconds —
/// validating a manifest compiles its WebAssembly modules — which on the pool would stall every
/// request and timer behind it.
public func runOffThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
