import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A loopback TCP forwarder to another loopback port that a test can cut and restore: a
/// network between a node and its PostgreSQL server that fails on demand.
///
/// `cut()` stops listening (new connections are refused) and closes every forwarded
/// connection; `restore()` listens again on the same port. Its blocking socket calls run on
/// threads of its own, never on the cooperative pool.
public final class TCPForwarder: Sendable {
    /// The port to connect to.
    public let port: Int
    private let target: Int
    private struct State {
        var listener: Int32 = -1
        var open: Set<Int32> = []
        /// Signalled when the current listener's accept thread closed it.
        var acceptStopped = DispatchSemaphore(value: 0)
    }
    private let state = Mutex(State())

    /// Forwards 127.0.0.1:`port` (a free one) to 127.0.0.1:`target`.
    /// - Throws: ``TestFailure`` when no socket can be bound.
    public init(to target: Int) throws {
        self.target = target
        let (fd, port) = try Self.listen(port: 0)
        self.port = port
        state.withLock { $0.listener = fd }
        startAccepting(fd)
    }

    deinit { cut() }

    /// Refuses new connections and closes the forwarded ones.
    ///
    /// Descriptors are closed only by the thread that uses them (the accept thread its
    /// listener, the second pump of a pair both sockets), and shut down here under the lock
    /// while still open: a `close` here could race a thread still calling `accept` or `recv`
    /// on the number, which by then may name another test's socket.
    public func cut() {
        let stopped = state.withLock { s -> DispatchSemaphore? in
            for fd in s.open { shutdown(fd, Int32(SHUT_RDWR)) }
            guard s.listener >= 0 else { return nil }
            shutdown(s.listener, Int32(SHUT_RDWR))  // wakes the accept thread, which closes it
            s.listener = -1
            return s.acceptStopped
        }
        // The port is free again once the accept thread closed the listener (`restore`).
        _ = stopped?.wait(timeout: .now() + 10)
    }

    /// Listens again on the same port.
    /// - Throws: ``TestFailure`` when the port cannot be bound again.
    public func restore() throws {
        let (fd, _) = try Self.listen(port: port)
        state.withLock { $0.listener = fd }
        startAccepting(fd)
    }

    private static func listen(port: Int) throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard let bound = bindLoopback(fd, port: port), Glibc.listen(fd, 64) == 0 else {
            close(fd)
            throw TestFailure("cannot listen on 127.0.0.1:\(port)")
        }
        return (fd, bound)
    }

    private func startAccepting(_ listener: Int32) {
        let stopped = DispatchSemaphore(value: 0)
        state.withLock { $0.acceptStopped = stopped }
        let thread = Thread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    close(listener)
                    stopped.signal()
                    return
                }
                let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                guard server >= 0, connectLoopback(server, port: target) else {
                    close(client)
                    if server >= 0 { close(server) }
                    continue
                }
                let kept = state.withLock { s -> Bool in
                    guard s.listener == listener else { return false }  // cut meanwhile
                    s.open.formUnion([client, server])
                    return true
                }
                guard kept else {
                    close(client)
                    close(server)
                    continue
                }
                let pair = PumpPair()
                pump(from: client, to: server, pair)
                pump(from: server, to: client, pair)
            }
        }
        thread.start()
    }

    /// Copies `from` to `to` on a thread until either side ends, then ends both.
    private func pump(from: Int32, to: Int32, _ pair: PumpPair) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(from, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { break }
                var sent = 0
                while sent < n {
                    let m = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                    guard m > 0 else { break }
                    sent += m
                }
                guard sent == n else { break }
            }
            shutdown(from, Int32(SHUT_RDWR))
            shutdown(to, Int32(SHUT_RDWR))
            // The second pump of the pair to finish closes both descriptors.
            if pair.finished.add(1, ordering: .sequentiallyConsistent).newValue == 2 {
                state.withLock { s in
                    s.open.remove(from)
                    s.open.remove(to)
                }
                close(from)
                close(to)
            }
        }
        thread.start()
    }
}

/// The two directions of one forwarded connection.
private final class PumpPair: Sendable {
    let finished = Atomic(0)
}
