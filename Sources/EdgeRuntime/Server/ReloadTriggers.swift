import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// What starts a reload: each of `signals` (SIGHUP), and with `serve --watch` a change to one of
/// the watched files, seen by polling (mtime, size and inode every `interval`) and debounced: a
/// change reloads once the files have stayed the same for one more interval, so an editor's
/// write-then-rename is one reload.
struct ReloadTriggers: Service {
    let signals: [UnixSignal]
    let watching: [String]
    let interval: Double
    let logger: Logger
    let reload: @Sendable () async -> Void

    init(signals: [UnixSignal], watching: [String], interval: Double, logger: Logger, reload: @escaping @Sendable () async -> Void) {
        self.signals = signals
        self.watching = watching
        self.interval = interval
        self.logger = logger
        self.reload = reload
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                if !signals.isEmpty {
                    group.addTask {
                        for await signal in await UnixSignalsSequence(trapping: signals) {
                            logger.info("reloading the manifest", metadata: ["signal": "\(signal)"])
                            await reload()
                        }
                    }
                }
                if !watching.isEmpty { group.addTask { await watch() } }
                // Stay up until shutdown even with nothing to do (a service that returns ends the group).
                group.addTask { try? await Task.sleep(for: .seconds(86_400 * 365 * 100)) }
            }
        }
    }

    /// Polls the watched files until cancelled.
    private func watch() async {
        var seen = FileSignature.of(watching)
        var pending: [FileSignature?]?
        while !Task.isCancelled {
            do { try await Task.sleep(for: .milliseconds(Int64(max(interval, 0.01) * 1000))) } catch { return }
            let now = FileSignature.of(watching)
            if let changed = pending {
                if now == changed {
                    pending = nil
                    seen = now
                    logger.info("reloading the manifest", metadata: ["changed": "\(watching.joined(separator: ", "))"])
                    await reload()
                } else {
                    pending = now
                }
            } else if now != seen {
                pending = now
            }
        }
    }
}

/// What `--watch` compares: a file's modification time, size and inode (`nil`: absent).
struct FileSignature: Equatable {
    let modified: Date
    let size: UInt64
    let inode: UInt64

    static func of(_ paths: [String]) -> [FileSignature?] { paths.map(of) }

    static func of(_ path: String) -> FileSignature? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        return FileSignature(
            modified: attributes[.modificationDate] as? Date ?? .distantPast,
            size: (attributes[.size] as? NSNumber)?.uint64Value ?? 0,
            inode: (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
        )
    }
}
