import EdgeTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The test helpers that hold sockets share one process with every test running beside them:
/// closing a descriptor number twice closes whatever another test opened under it meanwhile.
@Suite("Test support: descriptors")
struct TestSupportTests {
    @Test func aRefusedRawConnectionClosesNoOtherDescriptor() async throws {
        let refusing = try RefusingPort()
        let port = refusing.port
        // One thread keeps opening pipes and using them; another makes connections that are
        // refused. A second close of a refused connection's number breaks one of the pipes.
        let outcome: (refused: Int, broken: Int) = await withCheckedContinuation { continuation in
            Thread {
                let stop = Atomic(false)
                let broken = Atomic(0)
                let done = DispatchSemaphore(value: 0)
                Thread {
                    while !stop.load(ordering: .relaxed) {
                        var fds: [Int32] = [-1, -1]
                        guard pipe(&fds) == 0 else { continue }
                        for fd in fds { _ = fcntl(fd, F_SETFL, O_NONBLOCK) }  // never blocks, even on a stolen number
                        var byte: UInt8 = 7
                        if write(fds[1], &byte, 1) != 1 || read(fds[0], &byte, 1) != 1 { broken.add(1, ordering: .relaxed) }
                        close(fds[0])
                        close(fds[1])
                    }
                    done.signal()
                }.start()
                var refused = 0
                for _ in 0..<100_000 where (try? RawConnection(port: port)) == nil { refused += 1 }
                stop.store(true, ordering: .relaxed)
                done.wait()
                continuation.resume(returning: (refused, broken.load(ordering: .relaxed)))
            }.start()
        }
        #expect(outcome.refused == 100_000)
        #expect(outcome.broken == 0)
        withExtendedLifetime(refusing) {}
    }

    /// NIO accepts connections without close-on-exec: a child that inherited a test server's
    /// connection kept it open after the server closed it, and the client saw no end.
    @Test func aChildProcessInheritsNoDescriptorOfTheTests() async throws {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)  // without close-on-exec, as NIO's accepted sockets
        let child = try ChildProcess(executable: "/bin/sleep", arguments: ["30"], stdoutPath: nil, stderrPath: nil)
        close(fds[1])
        // Our write end was the only one: the read end sees the end at once.
        let readEnd = fds[0]
        let ended = await eventually(timeout: 10) {
            var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            var byte: UInt8 = 0
            return poll(&poller, 1, 0) > 0 && read(readEnd, &byte, 1) == 0
        }
        #expect(ended)
        child.send(SIGKILL)
        _ = await child.exitStatus(within: 10)
        close(fds[0])
    }
}
