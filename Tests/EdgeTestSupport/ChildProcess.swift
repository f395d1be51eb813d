import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, its output in files.
///
/// The tests do not use Foundation's `Process`: on Linux its `run()` reads `/proc/self/fd` with a
/// 256-byte copy of each directory entry and crashes now and then (SIGSEGV in `memmove`) when an
/// entry sits at the end of a mapped page, which a suite that starts many processes meets.
public final class ChildProcess: Sendable {
    public let pid: pid_t
    /// The exit status once reaped (a signal's number + 128 for a killed process).
    private let exit = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`; stdout and stderr are appended to the files at
    /// `stdoutPath` and `stderrPath` (`/dev/null` when nil; both may name the same file).
    /// - Parameter environment: the whole environment (`nil`: this process's).
    public init(executable: String, arguments: [String], environment: [String: String]? = nil, stdoutPath: String?, stderrPath: String?) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let flags = O_WRONLY | O_CREAT | O_APPEND
        // Nothing else of ours: NIO accepts connections without close-on-exec, and a child holding
        // a test server's connection keeps it open after the server closed it (no FIN reaches
        // the client until the child exits).
        guard let closeFrom = Self.addCloseFrom, closeFrom(&actions, 3) == 0 else {
            throw TestFailure("posix_spawn_file_actions_addclosefrom_np is not available (glibc 2.34 or later)")
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath ?? "/dev/null", flags, 0o644)
        if let stderrPath, stderrPath == stdoutPath {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderrPath ?? "/dev/null", flags, 0o644)
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let environmentLines = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let envp = environmentLines.map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw TestFailure("cannot start \(executable): \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34), which Swift's Glibc module
    /// does not import (it is declared only with `_GNU_SOURCE`).
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        // RTLD_DEFAULT (a null handle): the symbol as the process already resolves it.
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Whether the process still runs (reaps it when it has exited).
    public var isRunning: Bool { reap(blocking: false) == nil }

    /// The exit status (a signal's number + 128 when killed); `nil` while it runs.
    public var terminationStatus: Int32? { reap(blocking: false) }

    /// Sends `signal` unless the process was reaped already.
    public func send(_ signal: Int32) {
        exit.withLock { status in
            if status == nil { _ = kill(pid, signal) }
        }
    }

    /// Blocks until the process exits; returns its status.
    @discardableResult
    public func waitUntilExit() -> Int32 { reap(blocking: true) ?? -1 }

    /// Polls (without blocking a thread) until the process exits or `timeout` passes.
    /// - Returns: the exit status, or `nil` when it still runs after `timeout` seconds.
    public func exitStatus(within timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let status = reap(blocking: false) { return status }
            guard Date() < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func reap(blocking: Bool) -> Int32? {
        exit.withLock { status in
            if let status { return status }
            var raw: Int32 = 0
            var got: pid_t
            repeat { got = waitpid(pid, &raw, blocking ? 0 : WNOHANG) } while got == -1 && errno == EINTR
            guard got == pid else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as functions.
            let signal = raw & 0x7f
            status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
            return status
        }
    }
}
