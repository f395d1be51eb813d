import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The exclusive claim of `serve` on a data directory: an `flock` on `<data>/serve.lock`, which
/// holds the owner's pid. The kernel drops the lock when its process dies (even by SIGKILL), so a
/// stale file never blocks a new server. `flock` (not `fcntl`) locks belong to the open file, so
/// a second server in the same process is refused too. The `kv`/`queues` CLI commands take no
/// such lock: LMDB is multi-process safe.
public final class DataDirectoryLock: Sendable {
    /// The lock file's name inside the data directory.
    public static let fileName = "serve.lock"

    /// The open lock file, `nil` once released.
    private let descriptor: Mutex<Int32?>

    private init(descriptor: Int32) { self.descriptor = Mutex(descriptor) }

    /// Takes the lock of `directory` (creating the directory and the file when needed) and
    /// writes this process's pid into it. Never waits.
    /// - Throws: ``DataDirectoryInUse`` when another server holds it; ``DataDirectoryLockError``
    ///   when the directory or the file cannot be created or opened.
    public static func acquire(directory: String) throws -> DataDirectoryLock {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DataDirectoryLockError("cannot create data directory \(directory): \(error.localizedDescription)")
        }
        let path = directory + "/" + fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DataDirectoryLockError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            let owner = error == EWOULDBLOCK ? ownerPID(fd) : nil
            close(fd)
            if error == EWOULDBLOCK { throw DataDirectoryInUse(path: directory, pid: owner) }
            throw DataDirectoryLockError("cannot lock \(path): \(String(cString: strerror(error)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        return DataDirectoryLock(descriptor: fd)
    }

    /// Releases the lock (idempotent). The file stays: removing it would let two servers lock
    /// two different files of the same name.
    public func release() {
        guard
            let fd = descriptor.withLock({ d -> Int32? in
                defer { d = nil }
                return d
            })
        else { return }
        _ = ftruncate(fd, 0)
        _ = flock(fd, LOCK_UN)
        close(fd)
    }

    deinit { release() }

    /// The pid the holder wrote, read through our own descriptor. The holder writes it right
    /// after locking, so an empty file is read again for up to 200 ms.
    private static func ownerPID(_ fd: Int32) -> Int32? {
        for _ in 0..<20 {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            if n > 0, let pid = Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) {
                return pid
            }
            usleep(10_000)
        }
        return nil
    }
}

/// Another `edge-run serve` holds the data directory.
public struct DataDirectoryInUse: Error, CustomStringConvertible, Sendable {
    /// The data directory, as given.
    public let path: String
    /// The holder's pid (`nil` if it could not be read).
    public let pid: Int32?

    public var description: String {
        "data directory \(path) is in use by edge-run serve (pid \(pid.map(String.init) ?? "unknown"))"
    }
}

/// The lock file of a data directory could not be created or opened.
public struct DataDirectoryLockError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
