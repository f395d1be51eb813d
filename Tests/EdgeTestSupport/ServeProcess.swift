import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `edge-run serve` as a child process (the real binary, real signals): its port is read from
/// its log, it can be signalled, and its exit awaited with a deadline.
public final class ServeProcess {
    private let process: Process
    private let log: ServeLog
    /// The bound port (from the `edge-run serving … port=N` log line).
    public let port: Int

    /// Starts `edge-run serve` with `arguments` (add `--port 0`) and `environment` added to a
    /// minimal one; waits until it serves.
    /// - Throws: ``TestFailure`` when it exits or does not serve within `timeout` seconds.
    public static func start(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 20) async throws -> ServeProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try edgeRunExecutable())
        process.arguments = ["serve"] + arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        env.merge(environment) { $1 }
        process.environment = env
        let log = ServeLog()
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        err.fileHandleForReading.readabilityHandler = { handle in log.append(handle.availableData) }
        try process.run()
        var port: Int?
        let deadline = Date().addingTimeInterval(timeout)
        while port == nil, Date() < deadline, process.isRunning {
            port = log.port
            if port == nil { try? await Task.sleep(for: .milliseconds(20)) }
        }
        guard let port = port ?? log.port else {
            if process.isRunning { process.terminate() }
            throw TestFailure("edge-run serve did not start: \(log.text)")
        }
        return ServeProcess(process: process, log: log, port: port)
    }

    private init(process: Process, log: ServeLog, port: Int) {
        self.process = process
        self.log = log
        self.port = port
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    /// `http://127.0.0.1:<port>`.
    public var base: String { "http://127.0.0.1:\(port)" }

    /// Everything it logged so far.
    public var stderr: String { log.text }

    /// Sends `signal` (e.g. `SIGTERM`).
    public func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit. - Returns: its exit status, or `nil` if it still runs after `timeout` seconds.
    public func waitForExit(timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        if process.isRunning { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// The child's standard error, collected as it arrives.
final class ServeLog: Sendable {
    private let data = Mutex(Data())

    func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }

    var text: String { String(decoding: data.withLock { $0 }, as: UTF8.self) }

    var port: Int? {
        let text = self.text
        guard let line = text.split(separator: "\n").first(where: { $0.contains("edge-run serving") }),
              let range = line.range(of: #"port=\d+"#, options: .regularExpression) else { return nil }
        return Int(line[range].dropFirst("port=".count))
    }
}
