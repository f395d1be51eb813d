import CLMDB
import Dispatch
import Foundation
import Synchronization

/// What applying one write inside the shared transaction came to.
enum WriteApplyOutcome { case applied, failed, mapFull }

/// One write waiting for the writer thread.
protocol PendingWrite: AnyObject, Sendable {
    /// Runs the write in `txn` and remembers the outcome, replacing the one of an earlier run
    /// (a write runs again when its transaction is replayed).
    func apply(_ txn: LMDBTransaction) -> WriteApplyOutcome
    /// Resumes the caller: with the remembered outcome, or `commitError` if the commit failed.
    func finish(commitError: (any Error)?)
}

/// A write returning `T`.
///
/// `@unchecked Sendable`: `continuation` is set before the operation is submitted (ordered by the
/// writer's mutex), and `outcome` is read and written only on the writer thread.
///
/// The continuation is unchecked: ``finish(commitError:)`` is its only resume and clears it
/// first, and the writer finishes each submitted write exactly once (after its batch's commit,
/// or at once when the environment is closed). A checked one costs an allocation and atomic
/// bookkeeping per write on the writer thread, which every queued writer waits behind.
final class TypedWrite<T: Sendable>: PendingWrite, @unchecked Sendable {
    private let body: @Sendable (LMDBTransaction) throws -> T
    var continuation: UnsafeContinuation<T, any Error>?
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
    /// Transactions aborted and replayed without a write that failed in them.
    public var replays = 0

    public init() {}

    /// The writer's own cost per write, in microseconds.
    public var ownMicrosecondsPerWrite: Double { writes == 0 ? 0 : Double(ownNanoseconds) / Double(writes) / 1000 }
}

/// The single writer thread of an environment: group commit.
///
/// Writes that arrive while a commit is syncing wait in `pending`; the next loop turn applies
/// all of them (up to `maxBatch`) directly in one transaction and commits once. A write that
/// throws may have changed the transaction before throwing, so the transaction is aborted and
/// replayed without it: it alone gets its error. Failures are rare, so the common path costs one
/// closure call per write; once the replays of a batch have re-applied as many writes as the
/// batch holds, the rest of the batch runs in nested transactions (one per write), so a flood of
/// failing writes costs at most twice the batch plus the nested transactions, never a replay per
/// failure. `@unchecked Sendable` only because it holds an `unowned` reference back to its
/// environment and loop-local bookkeeping touched only on its own thread; its shared state is
/// behind a `Mutex`.
final class LMDBWriter: @unchecked Sendable {
    private struct State {
        var pending: [any PendingWrite] = []
        /// While the writer waits: how many pending writes wake it (1 when idle, the expected
        /// batch while gathering); `nil` while it runs.
        var wakeAt: Int?
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
            guard let wakeAt = s.wakeAt, s.pending.count >= wakeAt else { return (true, false) }
            s.wakeAt = nil
            return (true, true)
        }
        if !accepted {
            op.finish(commitError: LMDBError(code: EINVAL, operation: "environment closed"))
            return
        }
        if wake { wakeup.signal() }
    }

    /// Stops after the queued writes commit; waits for the thread to end.
    func stop() {
        let (wasRunning, wake) = state.withLock { s -> (Bool, Bool) in
            if s.stopped { return (false, false) }
            s.stopped = true
            let wake = s.wakeAt != nil
            s.wakeAt = nil
            return (true, wake)
        }
        guard wasRunning else { return }
        if wake { wakeup.signal() }
        finished.wait()
    }

    /// Writes submitted and not yet taken into a transaction (tests).
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// The size of the last batch: when fewer writes are waiting than that, the writers of the
    /// last batch are probably still resubmitting, so the next batch waits briefly for them
    /// (PostgreSQL's `commit_delay`) instead of paying a whole fsync for a fraction of them.
    private var lastBatchSize = 0
    private let gatherWindow: UInt64 = 200_000  // nanoseconds

    private enum Next { case batch, stop, sleep, gather }

    /// Moves the next batch into `batch` (empty on entry, its capacity reused); `false` on stop.
    private func takeBatch(into batch: inout [any PendingWrite]) -> Bool {
        var gatherDeadline: DispatchTime?
        while true {
            let target = lastBatchSize
            let next = state.withLock { s -> Next in
                s.wakeAt = nil
                if s.pending.isEmpty {
                    if s.stopped { return .stop }
                    s.wakeAt = 1
                    return .sleep
                }
                let expired = gatherDeadline.map { DispatchTime.now() >= $0 } ?? false
                if s.pending.count >= target || target <= 1 || s.stopped || expired {
                    if s.pending.count <= maxBatch {
                        swap(&batch, &s.pending)  // no copy: `pending` takes the emptied array
                    } else {
                        batch.append(contentsOf: s.pending.prefix(maxBatch))
                        s.pending.removeFirst(maxBatch)
                    }
                    return .batch
                }
                // Woken only when the expected batch is there (or the window ends), not by
                // every write that arrives meanwhile.
                s.wakeAt = target
                return .gather
            }
            switch next {
            case .batch:
                lastBatchSize = batch.count
                return true
            case .stop:
                return false
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

    /// Loop-local bookkeeping of the current batch (writer thread only).
    private var syncNanos: UInt64 = 0
    private var replays = 0

    private func run() {
        var batch: [any PendingWrite] = []
        batch.reserveCapacity(min(maxBatch, 1024))
        while takeBatch(into: &batch) {
            let started = DispatchTime.now().uptimeNanoseconds
            syncNanos = 0
            replays = 0
            let error = commit(batch)
            // Resume every caller outside the lock, after the commit returned.
            for op in batch { op.finish(commitError: error) }
            let count = batch.count
            batch.removeAll(keepingCapacity: true)
            let busy = DispatchTime.now().uptimeNanoseconds - started
            let (sync, replayed) = (syncNanos, replays)
            state.withLock {
                $0.statistics.commits += 1
                $0.statistics.writes += count
                $0.statistics.replays += replayed
                $0.statistics.syncNanoseconds += sync
                $0.statistics.ownNanoseconds += busy - min(busy, sync)
            }
        }
        finished.signal()
    }

    /// Applies `batch` in one transaction and commits it; retries after growing a full map.
    /// - Returns: the commit error, if the transaction as a whole failed.
    private func commit(_ batch: [any PendingWrite]) -> (any Error)? {
        // Indices of the writes that failed: they keep their error and are left out of replays.
        var failed = Set<Int>()
        while true {
            do {
                let full = try environment.gate.withShared { () throws -> Bool in
                    try applyAndCommit(batch, failed: &failed)
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

    /// One attempt at the batch's transaction.
    /// - Returns: `true` when the map is full (the transaction was aborted; grow and retry).
    private func applyAndCommit(_ batch: [any PendingWrite], failed: inout Set<Int>) throws -> Bool {
        var txn = try beginTransaction()
        // Writes from this index on run in nested transactions of their own.
        var nestedFrom = batch.count
        var replayBudget = batch.count
        var i = 0
        while i < batch.count {
            if !failed.isEmpty, failed.contains(i) {
                i += 1
                continue
            }
            if i >= nestedFrom {
                switch try applyNested(batch[i], in: txn) {
                case .applied: break
                case .failed: failed.insert(i)
                case .mapFull:
                    mdb_txn_abort(txn)
                    return true
                }
                i += 1
                continue
            }
            switch batch[i].apply(LMDBTransaction(raw: txn)) {
            case .applied:
                i += 1
            case .mapFull:
                mdb_txn_abort(txn)
                return true
            case .failed:
                // It may have written before throwing: start again without it.
                failed.insert(i)
                mdb_txn_abort(txn)
                replays += 1
                replayBudget -= i
                if replayBudget < 0 { nestedFrom = min(nestedFrom, i + 1) }
                txn = try beginTransaction()
                i = 0
            }
        }
        let syncStarted = DispatchTime.now().uptimeNanoseconds
        let rc = mdb_txn_commit(txn)
        syncNanos += DispatchTime.now().uptimeNanoseconds - syncStarted
        if rc == EDGE_MDB_MAP_FULL { return true }
        try lmdbCheck(rc, "mdb_txn_commit")
        return false
    }

    private func beginTransaction() throws(LMDBError) -> OpaquePointer {
        var txn: OpaquePointer?
        try lmdbCheck(mdb_txn_begin(environment.env, nil, 0, &txn), "mdb_txn_begin(write)")
        guard let txn else { throw LMDBError(code: EIO, operation: "mdb_txn_begin(write)") }
        return txn
    }

    /// Runs `op` in a transaction nested in `txn`, so that its failure is rolled back alone.
    /// On a thrown error `txn` has been aborted.
    private func applyNested(_ op: any PendingWrite, in txn: OpaquePointer) throws -> WriteApplyOutcome {
        var child: OpaquePointer?
        let rc = mdb_txn_begin(environment.env, txn, 0, &child)
        if rc == EDGE_MDB_MAP_FULL { return .mapFull }
        if rc != 0 {
            mdb_txn_abort(txn)
            throw LMDBError(code: rc, operation: "mdb_txn_begin(nested)")
        }
        switch op.apply(LMDBTransaction(raw: child!)) {
        case .applied:
            let rc = mdb_txn_commit(child)
            if rc == EDGE_MDB_MAP_FULL { return .mapFull }
            if rc != 0 {
                mdb_txn_abort(txn)
                throw LMDBError(code: rc, operation: "mdb_txn_commit(nested)")
            }
            return .applied
        case .failed:
            mdb_txn_abort(child)
            return .failed
        case .mapFull:
            mdb_txn_abort(child)
            return .mapFull
        }
    }
}
