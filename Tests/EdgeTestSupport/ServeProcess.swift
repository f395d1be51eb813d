import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real `edge-run serve` process (the built executable) with its log in a file, for tests that
/// need a second process, a lock, or a SIGKILL.
public final class ServeProcess: Sendable {
    public let process: ChildProcess
    /// The log (stdout and stderr) of the process.
    public let logPath: String

    /// Starts `edge-run serve <arguments>`; its output goes to `logPath`.
    public init(_ arguments: [String], logPath: String, environment: [String: String]? = nil) throws {
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process = try ChildProcess(
            executable: try edgeRunExecutable(),
            arguments: ["serve"] + arguments,
            environment: environment,
            stdoutPath: logPath,
            stderrPath: logPath
        )
        self.logPath = logPath
    }

    public var pid: Int32 { process.pid }

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
                let port = Int(line[range].dropFirst(5))
            {
                return port
            }
            if let status = process.terminationStatus { throw TestFailure("edge-run serve exited (\(status)) before serving:\n\(text)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("edge-run serve did not start within \(timeout) s:\n\(log)")
    }

    /// Sends `signal` (SIGKILL, SIGTERM…).
    public func send(_ signal: Int32) { process.send(signal) }

    /// Waits for the process to exit and returns its status.
    /// - Throws: ``TestFailure`` when it is still running after `timeout`.
    @discardableResult
    public func waitForExit(timeout: Double = 30) async throws -> Int32 {
        guard let status = await process.exitStatus(within: timeout) else {
            throw TestFailure("edge-run serve still running after \(timeout) s")
        }
        return status
    }

    /// Kills the process if it still runs (cleanup).
    public func stop() async {
        guard process.isRunning else { return }
        send(SIGKILL)
        _ = try? await waitForExit()
    }
}

extension ServeProcess {
    /// Starts `edge-run serve <arguments>` (add `--port 0`) with `environment` added to a minimal
    /// one (`PATH` only), its log in a temporary file, and waits until it serves.
    /// - Throws: ``TestFailure`` when it exits or does not serve within `timeout` seconds.
    public static func start(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 20) async throws -> ServeProcess {
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        env.merge(environment) { $1 }
        let logPath = NSTemporaryDirectory() + "edge-run-serve-\(UUID().uuidString).log"
        let server = try ServeProcess(arguments, logPath: logPath, environment: env)
        do {
            _ = try await server.waitUntilServing(timeout: timeout)
        } catch {
            await server.stop()
            throw error
        }
        return server
    }

    /// The bound port (from the `edge-run serving … port=N` log line); 0 before it serves.
    public var port: Int {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("edge-run serving") }),
            let range = line.range(of: #"port=\d+"#, options: .regularExpression)
        else { return 0 }
        return Int(line[range].dropFirst("port=".count)) ?? 0
    }

    /// `http://127.0.0.1:<port>`.
    public var base: String { "http://127.0.0.1:\(port)" }

    /// Everything it logged so far.
    public var stderr: String { log }

    /// Waits up to `timeout` seconds for the process to exit.
    /// - Returns: its exit status, or `nil` when it still runs then.
    public func exitStatus(within timeout: Double) async -> Int32? {
        try? await waitForExit(timeout: timeout)
    }
}
