import Foundation
import WasmKit

/// Our own WASI preview 1 (`wasi_snapshot_preview1`), the small subset a function needs:
/// argv, the environment the runtime hands over, stdin/stdout/stderr, clocks, randomness,
/// `proc_exit`, `sched_yield` and a `poll_oneoff` that can sleep. No preopened directories,
/// no files, no sockets: every other preview 1 function answers `ENOSYS`.
///
/// WasmKit ships a WASI layer, but 0.4.2 does not bounds-check the pointers a guest passes
/// (a hostile `fd_write` crashes the host), so every pointer here goes through ``GuestMemory``.
enum WASIPreview1 {
    static let moduleName = "wasi_snapshot_preview1"

    enum Errno: UInt32 {
        case success = 0
        case badf = 8
        case fault = 21
        case inval = 28
        case nosys = 52
        case spipe = 70
    }

    /// The type of every preview 1 function (from the witx), so that any of them can be linked.
    static let signatures: [String: FunctionType] = {
        let i = ValueType.i32
        let l = ValueType.i64
        func t(_ p: [ValueType], _ r: [ValueType] = [.i32]) -> FunctionType { FunctionType(parameters: p, results: r) }
        return [
            "args_get": t([i, i]), "args_sizes_get": t([i, i]), "environ_get": t([i, i]), "environ_sizes_get": t([i, i]),
            "clock_res_get": t([i, i]), "clock_time_get": t([i, l, i]),
            "fd_advise": t([i, l, l, i]), "fd_allocate": t([i, l, l]), "fd_close": t([i]), "fd_datasync": t([i]),
            "fd_fdstat_get": t([i, i]), "fd_fdstat_set_flags": t([i, i]), "fd_fdstat_set_rights": t([i, l, l]),
            "fd_filestat_get": t([i, i]), "fd_filestat_set_size": t([i, l]), "fd_filestat_set_times": t([i, l, l, i]),
            "fd_pread": t([i, i, i, l, i]), "fd_prestat_get": t([i, i]), "fd_prestat_dir_name": t([i, i, i]),
            "fd_pwrite": t([i, i, i, l, i]), "fd_read": t([i, i, i, i]), "fd_readdir": t([i, i, i, l, i]),
            "fd_renumber": t([i, i]), "fd_seek": t([i, l, i, i]), "fd_sync": t([i]), "fd_tell": t([i, i]),
            "fd_write": t([i, i, i, i]),
            "path_create_directory": t([i, i, i]), "path_filestat_get": t([i, i, i, i, i]),
            "path_filestat_set_times": t([i, i, i, i, l, l, i]), "path_link": t([i, i, i, i, i, i, i]),
            "path_open": t([i, i, i, i, i, l, l, i, i]), "path_readlink": t([i, i, i, i, i, i]),
            "path_remove_directory": t([i, i, i]), "path_rename": t([i, i, i, i, i, i]), "path_symlink": t([i, i, i, i, i]),
            "path_unlink_file": t([i, i, i]),
            "poll_oneoff": t([i, i, i, i]), "proc_exit": t([i], []), "proc_raise": t([i]), "sched_yield": t([]),
            "random_get": t([i, i]),
            "sock_accept": t([i, i, i]), "sock_recv": t([i, i, i, i, i, i]), "sock_send": t([i, i, i, i, i]),
            "sock_shutdown": t([i, i]),
        ]
    }()

    typealias Body = @Sendable (GuestInvocation, [Value]) throws -> [Value]

    /// The implementation of `name` (nil: answers `ENOSYS`).
    static func implementation(_ name: String) -> Body? {
        switch name {
        case "args_sizes_get": return { inv, a in try sizes(inv.args, inv, a) }
        case "args_get": return { inv, a in try strings(inv.args, inv, a) }
        case "environ_sizes_get": return { inv, a in try sizes(inv.environment, inv, a) }
        case "environ_get": return { inv, a in try strings(inv.environment, inv, a) }
        case "fd_write": return fdWrite
        case "fd_read": return fdRead
        case "fd_close": return { _, a in [errno(a[0].i32 <= 2 ? .success : .badf)] }
        case "fd_fdstat_get": return fdstat
        case "fd_prestat_get", "fd_prestat_dir_name": return { _, _ in [errno(.badf)] }
        case "fd_seek", "fd_tell": return { _, a in [errno(a[0].i32 <= 2 ? .spipe : .badf)] }
        case "clock_time_get": return clockTime
        case "clock_res_get":
            return { inv, a in
                guard a[0].i32 <= 3 else { return [errno(.inval)] }
                try inv.guestMemory().writeU64(1_000, at: a[1].i32, "clock_res_get")
                return [errno(.success)]
            }
        case "random_get":
            return { inv, a in
                try inv.guestMemory().withMutableBytes(a[0].i32, a[1].i32, "random_get") { buffer in
                    var rng = SystemRandomNumberGenerator()
                    for i in buffer.indices { buffer[i] = UInt8.random(in: 0...255, using: &rng) }
                }
                return [errno(.success)]
            }
        case "proc_exit": return { _, a in throw GuestExit(code: a[0].i32) }
        case "sched_yield":
            return { inv, _ in
                try inv.checkRunning()
                return [errno(.success)]
            }
        case "poll_oneoff": return pollOneoff
        default: return nil
        }
    }

    static func errno(_ e: Errno) -> Value { .i32(e.rawValue) }

    /// `*_sizes_get`: the count and the bytes the NUL-terminated strings need.
    private static func sizes(_ list: [String], _ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        let memory = try inv.guestMemory()
        try memory.writeU32(UInt32(list.count), at: a[0].i32, "sizes_get count")
        try memory.writeU32(UInt32(list.reduce(0) { $0 + $1.utf8.count + 1 }), at: a[1].i32, "sizes_get size")
        return [errno(.success)]
    }

    /// `args_get`/`environ_get`: the pointer array at `a[0]`, the strings at `a[1]`.
    private static func strings(_ list: [String], _ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        let memory = try inv.guestMemory()
        let total = list.reduce(0) { $0 + $1.utf8.count + 1 }
        try memory.check(a[0].i32, UInt64(list.count) * 4, "string pointers")
        try memory.check(a[1].i32, UInt64(total), "string buffer")
        var offset = a[1].i32
        for (index, string) in list.enumerated() {
            try memory.writeU32(offset, at: a[0].i32 &+ UInt32(index) &* 4)
            let bytes = Array(string.utf8) + [0]
            try memory.write(bytes, at: offset)
            offset &+= UInt32(bytes.count)
        }
        return [errno(.success)]
    }

    private static func fdWrite(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        let fd = a[0].i32
        guard fd == 1 || fd == 2 else { return [errno(.badf)] }
        let memory = try inv.guestMemory()
        try memory.check(a[3].i32, 4, "fd_write nwritten")
        var written: UInt32 = 0
        for (pointer, length) in try memory.iovecs(a[1].i32, a[2].i32, "fd_write iovecs") {
            try memory.withBytes(pointer, length, "fd_write") { bytes in
                if fd == 1 { try inv.writeStdout(bytes) } else { inv.writeStderr(bytes) }
            }
            written &+= length
        }
        try memory.writeU32(written, at: a[3].i32, "fd_write nwritten")
        return [errno(.success)]
    }

    private static func fdRead(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        guard a[0].i32 == 0 else { return [errno(.badf)] }
        let memory = try inv.guestMemory()
        try memory.check(a[3].i32, 4, "fd_read nread")
        var read: UInt32 = 0
        for (pointer, length) in try memory.iovecs(a[1].i32, a[2].i32, "fd_read iovecs") {
            let chunk = inv.readStdin(max: Int(length))
            try memory.write(chunk, at: pointer, "fd_read")
            read &+= UInt32(chunk.count)
            if chunk.count < Int(length) { break }
        }
        try memory.writeU32(read, at: a[3].i32, "fd_read nread")
        return [errno(.success)]
    }

    /// `fd_fdstat_get` for stdio: a character device with the rights to read (0) or write (1, 2).
    private static func fdstat(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        let fd = a[0].i32
        guard fd <= 2 else { return [errno(.badf)] }
        var stat = [UInt8](repeating: 0, count: 24)
        stat[0] = 2  // filetype: character_device
        let rights: UInt64 = fd == 0 ? 1 << 1 : 1 << 6  // fd_read / fd_write
        withUnsafeBytes(of: rights.littleEndian) { for i in 0..<8 { stat[8 + i] = $0[i] } }
        try inv.guestMemory().write(stat, at: a[1].i32, "fd_fdstat_get")
        return [errno(.success)]
    }

    private static func clockTime(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        let nanos: UInt64
        switch a[0].i32 {
        case 0:  // realtime
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            nanos = UInt64(max(0, ts.tv_sec)) &* 1_000_000_000 &+ UInt64(max(0, ts.tv_nsec))
        case 1, 2, 3:  // monotonic, process and thread CPU time: the monotonic clock
            nanos = DispatchTime.now().uptimeNanoseconds
        default:
            return [errno(.inval)]
        }
        try inv.guestMemory().writeU64(nanos, at: a[2].i32, "clock_time_get")
        return [errno(.success)]
    }

    /// `poll_oneoff`: clock subscriptions sleep (never past the deadline); stdio is always ready.
    private static func pollOneoff(_ inv: GuestInvocation, _ a: [Value]) throws -> [Value] {
        let count = a[2].i32
        guard count > 0, count <= 64 else { return [errno(.inval)] }
        let memory = try inv.guestMemory()
        let subscriptions = try memory.read(a[0].i32, count * 48, "poll_oneoff subscriptions")
        try memory.check(a[1].i32, UInt64(count) * 32, "poll_oneoff events")
        try memory.check(a[3].i32, 4, "poll_oneoff nevents")
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(subscriptions[at + $1]) << (8 * UInt64($1)) } }
        var sleepNanos = UInt64.max
        var ready: [(userdata: UInt64, type: UInt8)] = []
        for i in 0..<Int(count) {
            let base = i * 48
            let type = subscriptions[base + 8]
            if type == 0 {
                let timeout = u64(base + 24)
                let absolute = subscriptions[base + 40] & 1 == 1
                var wait = timeout
                if absolute { wait = timeout > DispatchTime.now().uptimeNanoseconds ? timeout - DispatchTime.now().uptimeNanoseconds : 0 }
                sleepNanos = min(sleepNanos, wait)
                ready.append((u64(base), 0))
            } else {
                ready = [(u64(base), type)]
                sleepNanos = 0
                break
            }
        }
        if sleepNanos > 0, sleepNanos != .max {
            let nanos = min(sleepNanos, inv.stop.remainingNanoseconds)
            Thread.sleep(forTimeInterval: Double(nanos) / 1e9)
        }
        try inv.checkRunning()
        var events = [UInt8](repeating: 0, count: ready.count * 32)
        for (i, event) in ready.enumerated() {
            withUnsafeBytes(of: event.userdata.littleEndian) { for j in 0..<8 { events[i * 32 + j] = $0[j] } }
            events[i * 32 + 10] = event.type
        }
        try memory.write(events, at: a[1].i32, "poll_oneoff events")
        try memory.writeU32(UInt32(ready.count), at: a[3].i32, "poll_oneoff nevents")
        return [errno(.success)]
    }
}
