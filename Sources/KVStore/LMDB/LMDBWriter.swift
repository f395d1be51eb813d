import CLMDB
import Dispatch
import Foundation
import Synchronization

/// What applying one write inside the shared transaction came to.
enum WriteApplyOutcome { case applied, failed, mapFull }

/// One write waiting for the writer thread.
protocol PendingWrite: AnyObject, Sendable {
    /// Runs the write in `txn` (its own nested transaction) and remembers the outcome.
    func apply(_ txn: LMDBTransaction) -> WriteApplyOutcome
    /// Resumes the caller: with the remembered outcome, or `commitError` if the commit failed.
    func finish(commitError: (any Error)?)
}

/// A write returning `T`.
///
/// `@unchecked Sendable`: `continuation` is set before the operation is submitted (ordered by the
/// writer's mutex), and `outcome` is read and written only on the writer thread.
final class TypedWrite<T: Sendable>: PendingWrite, @unchecked Sendable {
    private let body: @Sendable (LMDBTransaction) throws -> T
    var continuation: CheckedContinuation<T, any Error>?
    private var outcome: Result<T, any Error>?

    init(_ body: @escaping @Sendable (LMDBTransaction) throws -> T) { self.body = body }

    func apply(_ txn: LMDBTransaction) -> WriteApplyOutcome {
        do {
            outcome = .success(try body(txn))
            return .applied
        } catch let error as LMDBError where error.isMapFull {
            return .mapFull
        } catch {
            outcome = .failure(error)
            return .failed
        }
    }

    func finish(commitError: (any Error)?) {
        guard let continuation else { return }
        self.continuation = nil
        switch (outcome, commitError) {
        case (.failure(let error)?, _): continuation.resume(throwing: error)
        case (_, let error?): continuation.resume(throwing: error)
        case (.success(let value)?, nil): continuation.resume(returning: value)
        case (nil, nil): continuation.resume(throwing: LMDBError(code: EIO, operation: "write was not applied"))
        }
    }
}

/// What the writer thread did since the environment opened.
public struct LMDBWriteStatistics: Sendable, Equatable {
    /// Transactions committed (each one synced).
    public var commits = 0
    /// Writes those transactions carried.
    public var writes = 0
    /// Time spent inside `mdb_txn_commit`, the sync included.
    public var syncNanoseconds: UInt64 = 0
    /// The writer's own time: applying the writes, beginning the transaction and resuming the
    /// callers (a turn of the loop minus the commit; waiting for work is not counted).
    public var ownNanoseconds: UInt64 = 0

    public init() {}

    /// The writer's own cost per write, in microseconds.
    public var ownMicrosecondsPerWrite: Double { writes == 0 ? 0 : Double(ownNanoseconds) / Double(writes) / 1000 }
}

/// The single writer thread of an environment: group commit.
///
/// Writes that arrive while a commit is syncing wait in `pending`; the next loop turn applies
/// all of them (up to `maxBatch`) in one transaction, each in a nested transaction of its own,
/// and commits once. `@unchecked Sendable` only because it holds an `unowned` reference back
/// to its environment; its state is behind a `Mutex`.
final class LMDBWriter: @unchecked Sendable {
    private struct State {
        var pending: [any PendingWrite] = []
        var sleeping = false
        var stopped = false
        var statistics = LMDBWriteStatistics()
    }
    private let state = Mutex(State())
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private unowned let environment: LMDBEnvironment
    private let maxBatch: Int
    private var thread: Thread?

    init(environment: LMDBEnvironment, maxBatch: Int) {
        self.environment = environment
        self.maxBatch = maxBatch
        let thread = Thread { [self] in self.run() }
        thread.name = "lmdb-writer"
        self.thread = thread
        thread.start()
    }

    func submit(_ op: any PendingWrite) {
        let (accepted, wake) = state.withLock { s -> (Bool, Bool) in
            if s.stopped { return (false, false) }
            s.pending.append(op)
            let wake = s.sleeping
            s.sleeping = false
            return (true, wake)
        }
        if !accepted {
            op.finish(commitError: LMDBError(code: EINVAL, operation: "environment closed"))
            return
        }
        if wake { wakeup.signal() }
    }

    /// Stops after the queued writes commit; waits for the thread to end.
    func stop() {
        let wasRunning = state.withLock { s -> Bool in
            if s.stopped { return false }
            s.stopped = true
            if s.sleeping { s.sleeping = false; return true }
            return true
        }
        guard wasRunning else { return }
        wakeup.signal()
        finished.wait()
    }

    /// The size of the last batch: when fewer writes are waiting than that, the writers of the
    /// last batch are probably still resubmitting, so the next batch waits briefly for them
    /// (PostgreSQL's `commit_delay`) instead of paying a whole fsync for a fraction of them.
    private var lastBatchSize = 0
    private let gatherWindow: UInt64 = 200_000  // nanoseconds

    private enum Next { case batch([any PendingWrite]), stop, sleep, gather }

    private func takeBatch() -> [any PendingWrite]? {
        var gatherDeadline: DispatchTime?
        while true {
            let target = lastBatchSize
            let next = state.withLock { s -> Next in
                if s.pending.isEmpty {
                    if s.stopped { return .stop }
                    s.sleeping = true
                    return .sleep
                }
                let expired = gatherDeadline.map { DispatchTime.now() >= $0 } ?? false
                if s.pending.count >= target || target <= 1 || s.stopped || expired {
                    let n = min(s.pending.count, maxBatch)
                    let batch = Array(s.pending.prefix(n))
                    s.pending.removeFirst(n)
                    return .batch(batch)
                }
                s.sleeping = true
                return .gather
            }
            switch next {
            case .batch(let batch):
                lastBatchSize = batch.count
                return batch
            case .stop:
                return nil
            case .sleep:
                gatherDeadline = nil
                wakeup.wait()
            case .gather:
                let deadline = gatherDeadline ?? .now() + .nanoseconds(Int(gatherWindow))
                gatherDeadline = deadline
                _ = wakeup.wait(timeout: deadline)
            }
        }
    }

    /// Transactions committed, the writes they carried and the writer's time, since opening.
    var statistics: LMDBWriteStatistics { state.withLock { $0.statistics } }

    /// Nanoseconds spent inside `mdb_txn_commit` (the sync) during the current batch.
    private var syncNanos: UInt64 = 0

    private func run() {
        while let batch = takeBatch() {
            let started = DispatchTime.now().uptimeNanoseconds
            syncNanos = 0
            let error = commit(batch)
            for op in batch { op.finish(commitError: error) }
            let busy = DispatchTime.now().uptimeNanoseconds - started
            let sync = syncNanos
            state.withLock {
                $0.statistics.commits += 1
                $0.statistics.writes += batch.count
                $0.statistics.syncNanoseconds += sync
                $0.statistics.ownNanoseconds += busy - min(busy, sync)
            }
        }
        finished.signal()
    }

    /// Applies `batch` in one transaction and commits it; retries after growing a full map.
    /// - Returns: the commit error, if the transaction as a whole failed.
    private func commit(_ batch: [any PendingWrite]) -> (any Error)? {
        while true {
            do {
                let full = try environment.gate.withShared { () throws -> Bool in
                    var txn: OpaquePointer?
                    try lmdbCheck(mdb_txn_begin(environment.env, nil, 0, &txn), "mdb_txn_begin(write)")
                    guard let txn else { return false }
                    for op in batch {
                        var child: OpaquePointer?
                        let rc = mdb_txn_begin(environment.env, txn, 0, &child)
                        if rc != 0 {
                            mdb_txn_abort(txn)
                            if rc == EDGE_MDB_MAP_FULL { return true }
                            throw LMDBError(code: rc, operation: "mdb_txn_begin(nested)")
                        }
                        switch op.apply(LMDBTransaction(raw: child!)) {
                        case .applied:
                            let rc = mdb_txn_commit(child)
                            if rc == EDGE_MDB_MAP_FULL { mdb_txn_abort(txn); return true }
                            if rc != 0 { mdb_txn_abort(txn); throw LMDBError(code: rc, operation: "mdb_txn_commit(nested)") }
                        case .failed:
                            mdb_txn_abort(child)
                        case .mapFull:
                            mdb_txn_abort(child)
                            mdb_txn_abort(txn)
                            return true
                        }
                    }
                    let syncStarted = DispatchTime.now().uptimeNanoseconds
                    let rc = mdb_txn_commit(txn)
                    syncNanos += DispatchTime.now().uptimeNanoseconds - syncStarted
                    if rc == EDGE_MDB_MAP_FULL { return true }
                    try lmdbCheck(rc, "mdb_txn_commit")
                    return false
                }
                if !full { return nil }
                try environment.growMap()
            } catch let error as LMDBError where error.isMapResized {
                do { try environment.adoptForeignMapSize() } catch { return error }
            } catch {
                return error
            }
        }
    }
}
