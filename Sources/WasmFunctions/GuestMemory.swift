import WasmKit

/// A guest's linear memory seen through bounds checks: every `(pointer, length)` a guest hands
/// the host is checked in 64-bit arithmetic against the memory's current size before a byte is
/// touched. WasmKit's own accessors `precondition` on a bad range, which would kill the server;
/// here a bad range is a ``GuestFault`` (the invocation traps, the request is a 500).
struct GuestMemory {
    let memory: Memory

    /// `pointer ..< pointer + length`, or a fault when any of it lies outside the memory.
    private func range(_ pointer: UInt32, _ length: UInt64, _ what: StaticString) throws(GuestFault) -> (offset: UInt, count: Int) {
        // `length` is checked first, so the sum stays below 2^33: no overflow.
        guard length <= UInt64(UInt32.max), UInt64(pointer) + length <= UInt64(memory.byteCount) else {
            throw GuestFault("\(what): \(length) bytes at \(pointer) are outside the guest memory (\(memory.byteCount) bytes)")
        }
        return (UInt(pointer), Int(length))
    }

    /// Copies `length` bytes at `pointer` out of the guest.
    func read(_ pointer: UInt32, _ length: UInt32, _ what: StaticString = "read") throws(GuestFault) -> [UInt8] {
        let (offset, count) = try range(pointer, UInt64(length), what)
        if count == 0 { return [] }
        return memory.withUnsafeBufferPointer(offset: offset, count: count) { Array($0) }
    }

    /// The bytes at `pointer` as UTF-8 text (invalid sequences replaced).
    func string(_ pointer: UInt32, _ length: UInt32, _ what: StaticString = "string") throws(GuestFault) -> String {
        String(decoding: try read(pointer, length, what), as: UTF8.self)
    }

    /// Copies `bytes` into the guest at `pointer`.
    func write(_ bytes: some Collection<UInt8>, at pointer: UInt32, _ what: StaticString = "write") throws(GuestFault) {
        let (offset, count) = try range(pointer, UInt64(bytes.count), what)
        if count == 0 { return }
        memory.withUnsafeMutableBufferPointer(offset: offset, count: count) { buffer in
            _ = buffer.initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    /// Checks that `length` bytes at `pointer` are inside the memory (for a range filled later).
    func check(_ pointer: UInt32, _ length: UInt64, _ what: StaticString) throws(GuestFault) {
        _ = try range(pointer, length, what)
    }

    /// Runs `body` on the guest bytes `pointer ..< pointer + length` without copying them.
    func withBytes<T>(_ pointer: UInt32, _ length: UInt32, _ what: StaticString, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        let (offset, count) = try range(pointer, UInt64(length), what)
        if count == 0 { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try memory.withUnsafeBufferPointer(offset: offset, count: count, body)
    }

    /// Fills the guest bytes `pointer ..< pointer + length` in place.
    func withMutableBytes<T>(
        _ pointer: UInt32,
        _ length: UInt32,
        _ what: StaticString,
        _ body: (UnsafeMutableRawBufferPointer) throws -> T
    ) throws -> T {
        let (offset, count) = try range(pointer, UInt64(length), what)
        if count == 0 { return try body(UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
        return try memory.withUnsafeMutableBufferPointer(offset: offset, count: count, body)
    }

    func readU32(_ pointer: UInt32, _ what: StaticString = "u32") throws(GuestFault) -> UInt32 {
        let b = try read(pointer, 4, what)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }

    func writeU32(_ value: UInt32, at pointer: UInt32, _ what: StaticString = "u32") throws(GuestFault) {
        try write(withUnsafeBytes(of: value.littleEndian) { Array($0) }, at: pointer, what)
    }

    func writeU64(_ value: UInt64, at pointer: UInt32, _ what: StaticString = "u64") throws(GuestFault) {
        try write(withUnsafeBytes(of: value.littleEndian) { Array($0) }, at: pointer, what)
    }

    /// An array of `count` `(pointer, length)` pairs at `pointer` (WASI iovecs), each checked.
    func iovecs(_ pointer: UInt32, _ count: UInt32, _ what: StaticString) throws(GuestFault) -> [(UInt32, UInt32)] {
        guard count <= 1024 else { throw GuestFault("\(what): \(count) buffers is more than 1024") }
        let raw = try read(pointer, count * 8, what)
        var result: [(UInt32, UInt32)] = []
        result.reserveCapacity(Int(count))
        for i in 0..<Int(count) {
            func u32(_ at: Int) -> UInt32 {
                UInt32(raw[at]) | UInt32(raw[at + 1]) << 8 | UInt32(raw[at + 2]) << 16 | UInt32(raw[at + 3]) << 24
            }
            let buffer = u32(i * 8)
            let length = u32(i * 8 + 4)
            try check(buffer, UInt64(length), what)
            result.append((buffer, length))
        }
        return result
    }
}

/// A guest handed the host a pointer or length outside its memory (or another impossible
/// argument): the invocation traps.
struct GuestFault: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The guest called `proc_exit`.
struct GuestExit: Error {
    let code: UInt32
}

/// The invocation was stopped from outside (its deadline passed): host calls refuse to go on.
struct GuestStopped: Error, CustomStringConvertible {
    var description: String { "stopped at the handler timeout" }
}
