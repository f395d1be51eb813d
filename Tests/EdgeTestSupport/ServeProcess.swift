import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real `edge-run serve` process (the built executable) with its log in a file, for tests that
/// need a second process, a lock, or a SIGKILL.
public final class ServeProcess: Sendable {
    public let process: Process
    /// The log (stdout and stderr) of the process.
    public let logPath: String

    /// Starts `edge-run serve <arguments>`; its output goes to `logPath`.
    public init(_ arguments: [String], logPath: String, environment: [String: String]? = nil) throws {
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try edgeRunExecutable())
        process.arguments = ["serve"] + arguments
        if let environment { process.environment = environment }
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try? log.close()
        self.process = process
        self.logPath = logPath
    }

    public var pid: Int32 { process.processIdentifier }

    /// The log so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits for the "edge-run serving" log line and returns the bound port.
    /// - Throws: ``TestFailure`` when the process exits first or `timeout` passes.
    public func waitUntilServing(timeout: Double = 30) async throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let text = log
            if let line = text.split(separator: "\n").first(where: { $0.contains("edge-run serving") }),
               let range = line.range(of: #"port=\d+"#, options: .regularExpression),
               let port = Int(line[range].dropFirst(5)) {
                return port
            }
            if !process.isRunning { throw TestFailure("edge-run serve exited (\(process.terminationStatus)) before serving:\n\(text)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("edge-run serve did not start within \(timeout) s:\n\(log)")
    }

    /// Sends `signal` (SIGKILL, SIGTERM…).
    public func send(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit and returns its status.
    /// - Throws: ``TestFailure`` when it is still running after `timeout`.
    @discardableResult
    public func waitForExit(timeout: Double = 30) async throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            guard Date() < deadline else { throw TestFailure("edge-run serve still running after \(timeout) s") }
            try await Task.sleep(for: .milliseconds(10))
        }
        return process.terminationStatus
    }

    /// Kills the process if it still runs (cleanup).
    public func stop() async {
        guard process.isRunning else { return }
        send(SIGKILL)
        _ = try? await waitForExit()
    }
}
