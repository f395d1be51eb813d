import Dispatch
import EdgeRuntime
import Foundation
import Logging
import Synchronization
import WasmKit

/// Everything one invocation of a guest owns: its argv and environment, stdin, the captured
/// stdout (capped), stderr going to the log line by line, its deadline, and what its host calls
/// may reach. Lives on the guest's own thread; only ``StopSignal`` is shared.
final class GuestInvocation {
    let functionName: String
    let requestID: String
    let args: [String]
    /// `NAME=value` pairs, in this order.
    let environment: [String]
    let stdin: [UInt8]
    private(set) var stdinOffset = 0
    private(set) var stdout: [UInt8] = []
    let stdoutLimit: Int
    let logger: Logger
    let stop: StopSignal
    /// What `edge_run` host calls may reach.
    let host: HostAccess
    /// Set once the instance exists; cleared when the invocation ends (it references the store).
    var memory: GuestMemory?
    /// Responses of `edge_run.fetch`, by handle.
    var responses: [FetchResponse] = []
    var responseBytes = 0
    private var stderrLine: [UInt8] = []
    private var stderrLines = 0

    /// Lines of stderr logged per invocation; the rest are counted, not logged.
    static let maxStderrLines = 200
    /// The longest stderr line logged (longer lines are cut).
    static let maxStderrLineBytes = 4096

    init(
        functionName: String,
        requestID: String,
        args: [String],
        environment: [String],
        stdin: [UInt8],
        stdoutLimit: Int,
        logger: Logger,
        stop: StopSignal,
        host: HostAccess
    ) {
        self.functionName = functionName
        self.requestID = requestID
        self.args = args
        self.environment = environment
        self.stdin = stdin
        self.stdoutLimit = stdoutLimit
        self.logger = logger
        self.stop = stop
        self.host = host
    }

    /// The guest's memory, or a fault when the module has none (it cannot pass pointers then).
    func guestMemory() throws(GuestFault) -> GuestMemory {
        guard let memory else { throw GuestFault("the module exports no memory named \"memory\"") }
        return memory
    }

    /// Throws ``GuestStopped`` once the invocation was stopped or its deadline passed.
    func checkRunning() throws(GuestStopped) {
        if stop.isStopped { throw GuestStopped() }
    }

    /// Up to `count` bytes of stdin.
    func readStdin(max count: Int) -> ArraySlice<UInt8> {
        let end = stdinOffset + min(count, stdin.count - stdinOffset)
        defer { stdinOffset = end }
        return stdin[stdinOffset..<end]
    }

    /// Appends to stdout; past ``stdoutLimit`` the invocation traps (host memory stays bounded).
    func writeStdout(_ bytes: UnsafeRawBufferPointer) throws(GuestFault) {
        guard stdout.count + bytes.count <= stdoutLimit else {
            throw GuestFault("stdout is over its limit of \(stdoutLimit) bytes")
        }
        stdout.append(contentsOf: bytes)
    }

    /// Splits stderr into lines, each logged with the request id.
    func writeStderr(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes {
            if byte == 0x0A { flushStderr() } else if stderrLine.count < Self.maxStderrLineBytes { stderrLine.append(byte) }
        }
    }

    /// Logs what is left of stderr (a last line without a newline).
    func flushStderr() {
        defer { stderrLine.removeAll(keepingCapacity: true) }
        stderrLines += 1
        if stderrLines <= Self.maxStderrLines {
            logger.warning(
                "\(String(decoding: stderrLine, as: UTF8.self))",
                metadata: ["function": "\(functionName)", "request_id": "\(requestID)", "stream": "stderr"]
            )
        } else if stderrLines == Self.maxStderrLines + 1 {
            logger.warning(
                "further stderr lines of this invocation are dropped",
                metadata: ["function": "\(functionName)", "request_id": "\(requestID)", "stream": "stderr"]
            )
        }
    }

    func finishStderr() { if !stderrLine.isEmpty { flushStderr() } }

    /// Runs an async host operation from the guest's thread, waiting at most until the deadline.
    /// The guest thread is a dedicated thread, never one of the cooperative pool, so blocking it
    /// here stalls nothing else.
    func blocking<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
        try checkRunning()
        let box = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            let result: Result<T, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            box.withLock { $0 = result }
            done.signal()
        }
        while done.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
            if stop.isStopped {
                task.cancel()
                throw GuestStopped()
            }
        }
        return try box.withLock { $0! }.get()
    }
}

/// Shared between a guest's thread and the task waiting for it: set at the deadline (or when
/// the waiting task is cancelled), read by every host call.
final class StopSignal: Sendable {
    private let stopped = Atomic<Bool>(false)
    /// Uptime nanoseconds after which the invocation counts as stopped.
    let deadline: UInt64

    init(seconds: Double) {
        let now = DispatchTime.now().uptimeNanoseconds
        deadline = now + UInt64(min(max(seconds, 0), 86_400) * 1e9)
    }

    func stopNow() { stopped.store(true, ordering: .relaxed) }

    var isStopped: Bool {
        if stopped.load(ordering: .relaxed) { return true }
        if DispatchTime.now().uptimeNanoseconds >= deadline {
            stopped.store(true, ordering: .relaxed)
            return true
        }
        return false
    }

    /// Nanoseconds left before the deadline.
    var remainingNanoseconds: UInt64 {
        let now = DispatchTime.now().uptimeNanoseconds
        return now >= deadline ? 0 : deadline - now
    }
}
