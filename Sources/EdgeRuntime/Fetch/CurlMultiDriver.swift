import CCurl
import Foundation
import Synchronization

/// Runs every libcurl transfer of a fetcher on one dedicated thread through the multi
/// interface, so no blocking curl call ever runs on a NIO event loop or the cooperative pool.
///
/// Callers hand requests over through a locked inbox and `curl_multi_wakeup`; the thread adds
/// them, drives `curl_multi_perform`/`curl_multi_poll`, and resumes each caller's continuation
/// when its transfer ends. Easy handles never leave the thread.
final class CurlMultiDriver: Sendable {
    /// A request waiting for the thread, with the continuation to resume.
    private struct Job: Sendable {
        let id: UInt64
        let request: FetchRequest
        let host: String
        let continuation: CheckedContinuation<CurlResult, any Error>
    }

    private struct Inbox: Sendable {
        var jobs: [Job] = []
        var cancelled: [UInt64] = []
        var stopping = false
        /// Set by the thread, under the lock, before it frees the multi handle.
        var closed = false
    }

    /// The `CURLM*`. `@unchecked Sendable` because other threads only call
    /// `curl_multi_wakeup` on it (documented thread-safe), and only under the inbox lock while
    /// `closed` is false; every other use happens on the driver thread, which sets `closed`
    /// under that lock before `curl_multi_cleanup`.
    private struct MultiHandle: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
    }

    /// Per-call cancellation state, shared by the submit path and the cancellation handler.
    private final class CallState: Sendable {
        enum Phase { case pending, submitted, cancelled }
        let phase = Mutex(Phase.pending)
    }

    private let multi: MultiHandle
    private let inbox = Mutex(Inbox())
    private let nextID = Atomic<UInt64>(1)
    private let finished = Mutex(false)

    /// Creates the multi handle and starts the thread.
    init(name: String = "edge-curl") {
        CurlGlobal.initialize()
        guard let pointer = curl_multi_init() else { fatalError("curl_multi_init failed") }
        multi = MultiHandle(pointer: pointer)
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.start()
    }

    /// Performs one attempt of `request` to `host` on the driver thread.
    /// - Throws: ``FetchError`` for transport failures, `CancellationError` if cancelled.
    func perform(_ request: FetchRequest, host: String) async throws -> CurlResult {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let call = CallState()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CurlResult, any Error>) in
                let alreadyCancelled = call.phase.withLock { phase in
                    if phase == .cancelled { return true }
                    phase = .submitted
                    return false
                }
                if alreadyCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                enqueue(Job(id: id, request: request, host: host, continuation: continuation))
            }
        } onCancel: {
            let wasSubmitted = call.phase.withLock { phase in
                defer { phase = .cancelled }
                return phase == .submitted
            }
            if wasSubmitted {
                inbox.withLock { inbox in
                    guard !inbox.closed else { return }
                    inbox.cancelled.append(id)
                    curl_multi_wakeup(multi.pointer)
                }
            }
        }
    }

    /// Stops the thread: transfers in flight and queued fail with `.shutdown`. Idempotent.
    func shutdown() {
        inbox.withLock { inbox in
            guard !inbox.closed, !inbox.stopping else { return }
            inbox.stopping = true
            curl_multi_wakeup(multi.pointer)
        }
    }

    /// Whether the thread has exited (after ``shutdown()``).
    var hasFinished: Bool { finished.withLock { $0 } }

    private func enqueue(_ job: Job) {
        let accepted = inbox.withLock { inbox in
            guard !inbox.closed, !inbox.stopping else { return false }
            inbox.jobs.append(job)
            curl_multi_wakeup(multi.pointer)
            return true
        }
        if !accepted { job.continuation.resume(throwing: FetchError(.shutdown, "the fetcher is shut down")) }
    }

    // MARK: - The driver thread

    private func run() {
        var active: [UInt64: CurlTransfer] = [:]
        var byHandle: [UnsafeMutableRawPointer: UInt64] = [:]

        func finish(_ id: UInt64, with result: Result<CurlResult, any Error>) {
            guard let transfer = active.removeValue(forKey: id) else { return }
            byHandle[transfer.easy] = nil
            curl_multi_remove_handle(multi.pointer, transfer.easy)
            transfer.continuation.resume(with: result)
        }

        while true {
            let (jobs, cancelled, stopping) = inbox.withLock { inbox in
                defer {
                    inbox.jobs.removeAll(keepingCapacity: true)
                    inbox.cancelled.removeAll()
                }
                return (inbox.jobs, inbox.cancelled, inbox.stopping)
            }
            if stopping { break }
            for job in jobs {
                do {
                    let transfer = try CurlTransfer(id: job.id, request: job.request, host: job.host, continuation: job.continuation)
                    guard curl_multi_add_handle(multi.pointer, transfer.easy) == CURLM_OK else {
                        job.continuation.resume(throwing: FetchError(.connection, "curl_multi_add_handle failed"))
                        continue
                    }
                    active[job.id] = transfer
                    byHandle[transfer.easy] = job.id
                } catch {
                    job.continuation.resume(throwing: error)
                }
            }
            for id in cancelled { finish(id, with: .failure(CancellationError())) }

            var running: Int32 = 0
            curl_multi_perform(multi.pointer, &running)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(multi.pointer, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = message.pointee.data.result
                guard let id = byHandle[easy], let transfer = active[id] else { continue }
                finish(id, with: transfer.result(code).mapError { $0 })
            }
            curl_multi_poll(multi.pointer, nil, 0, 1000, nil)
        }

        let leftovers = inbox.withLock { inbox in
            inbox.closed = true
            defer { inbox.jobs.removeAll() }
            return inbox.jobs
        }
        let shutdownError = FetchError(.shutdown, "the fetcher is shut down")
        for id in Array(active.keys) { finish(id, with: .failure(shutdownError)) }
        for job in leftovers { job.continuation.resume(throwing: shutdownError) }
        curl_multi_cleanup(multi.pointer)
        finished.withLock { $0 = true }
    }
}

/// `curl_global_init`, exactly once per process before any handle exists.
enum CurlGlobal {
    private static let once: Void = {
        _ = curl_global_init(Int(CURL_GLOBAL_ALL))
    }()

    static func initialize() { _ = once }
}
