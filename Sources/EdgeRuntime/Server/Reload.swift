import Foundation
import Logging
import Synchronization

/// What a reload did.
public enum ReloadOutcome: Sendable, Equatable {
    /// The new manifest serves as generation `number`.
    case reloaded(generation: Int)
    /// The manifest (or a function's config) had problems, each a line; the running one serves on.
    case refused(problems: [String])
    /// A graceful shutdown had begun.
    case stopping
}

extension EdgeServer {
    /// What the log says when a reload is refused.
    public static let reloadRefused = "reload refused; keeping the running manifest"

    /// Reads the manifest and secrets with `source` (as `check` does) and, when valid, serves them.
    /// Every problem is logged at error level with ``reloadRefused``.
    @discardableResult
    public func reload(from source: @escaping @Sendable () throws -> (Manifest, [String: String])) async -> ReloadOutcome {
        let loaded: (Manifest, [String: String])
        do {
            // Reading and validating compiles WebAssembly modules: off the pool, so requests go on.
            loaded = try await runOffThePool(source)
        } catch let error as ManifestError {
            return refuse(error.lines)
        } catch {
            return refuse(["\(error)"])
        }
        return await reload(manifest: loaded.0, secrets: loaded.1)
    }

    /// Serves a validated `manifest` and `secrets` from now on: opens its new KV bindings and
    /// queues in the same environment (removed ones stay on disk, unserved), builds its
    /// functions, swaps them in for new requests (running ones finish on the old), hands queue
    /// consumers and crons over (a consumer's claimed batch settles before its successor starts)
    /// and flushes the old functions once their last request answered. The server-wide `limits`
    /// need a restart: a change is logged as a warning and the running values are kept.
    /// Reloads run one at a time.
    @discardableResult
    public func reload(manifest: Manifest, secrets: [String: String]) async -> ReloadOutcome {
        await reloads.serialized { await self.apply(manifest: manifest, secrets: secrets) }
    }

    private func apply(manifest: Manifest, secrets: [String: String]) async -> ReloadOutcome {
        guard !workers.isStopping else { return .stopping }
        let old = generations.generation
        var manifest = manifest
        let needRestart = Self.restartOnlyChanges(from: serverLimits, to: manifest.serverLimits)
        if !needRestart.isEmpty {
            logger.warning(
                "these settings change only with a restart; keeping the running values",
                metadata: ["settings": "\(needRestart.joined(separator: ", "))"]
            )
            manifest.serverLimits = serverLimits
        }
        let next: Generation
        do {
            next = try await Generation(number: old.number + 1, manifest: manifest, secrets: secrets, shared: shared, previous: old.broker)
        } catch {
            return refuse(["\(error)"])
        }
        _ = generations.replace(with: next)
        guard await workers.handOver(from: old, to: next) else { return .stopping }
        logger.info("reloaded manifest (generation \(next.number)): \(Self.summary(from: old.manifest, to: manifest))")
        return .reloaded(generation: next.number)
    }

    private func refuse(_ problems: [String]) -> ReloadOutcome {
        for problem in problems { logger.error("\(Self.reloadRefused): \(problem)") }
        return .refused(problems: problems)
    }

    /// The `limits` keys that differ between `old` and `new` and only a restart applies.
    static func restartOnlyChanges(from old: ServerLimits, to new: ServerLimits) -> [String] {
        var keys: [String] = []
        if old.shutdownGraceSeconds != new.shutdownGraceSeconds { keys.append("limits.shutdown_grace_seconds") }
        if old.bodyReadTimeoutSeconds != new.bodyReadTimeoutSeconds { keys.append("limits.body_read_timeout_seconds") }
        if old.idleTimeoutSeconds != new.idleTimeoutSeconds { keys.append("limits.idle_timeout_seconds") }
        if old.maxConnections != new.maxConnections { keys.append("limits.max_connections") }
        return keys
    }

    /// `+routes GET /a, -routes POST /b, +queues jobs, …`; "no changes to routes, queues or crons"
    /// when those are the same.
    static func summary(from old: Manifest, to new: Manifest) -> String {
        func routes(_ m: Manifest) -> [String] { m.functions.flatMap { f in f.routes.map(\.source) } }
        var parts: [String] = []
        func diff(_ label: String, _ before: [String], _ after: [String]) {
            let added = after.filter { !before.contains($0) }
            let removed = before.filter { !after.contains($0) }
            if !added.isEmpty { parts.append("+\(label) \(added.joined(separator: ", "))") }
            if !removed.isEmpty { parts.append("-\(label) \(removed.joined(separator: ", "))") }
        }
        diff("routes", routes(old), routes(new))
        diff("functions", old.functions.map(\.name), new.functions.map(\.name))
        diff("queues", old.queues.map(\.name), new.queues.map(\.name))
        diff("crons", old.crons.map { "\($0.schedule) \($0.function)" }, new.crons.map { "\($0.schedule) \($0.function)" })
        diff("kv", old.kvBindings, new.kvBindings)
        return parts.isEmpty ? "no changes to routes, functions, queues, crons or kv" : parts.joined(separator: "; ")
    }
}

/// Runs reloads one after another (an actor alone would interleave them at every `await`).
final class ReloadSequence: Sendable {
    private let last = Mutex<Task<ReloadOutcome, Never>?>(nil)

    func serialized(_ body: @escaping @Sendable () async -> ReloadOutcome) async -> ReloadOutcome {
        let task = last.withLock { previous -> Task<ReloadOutcome, Never> in
            let next = Task { [previous] in
                _ = await previous?.value
                return await body()
            }
            previous = next
            return next
        }
        return await task.value
    }
}
