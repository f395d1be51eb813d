/// The on-disk layout of one KV value (little-endian):
///
/// ```
/// u8 format (1) | u64 version | i64 expiration (0 = none) | u32 metadata length | metadata | value
/// ```
struct KVRecordView {
    static let format: UInt8 = 1
    static let headerSize = 1 + 8 + 8 + 4

    let version: UInt64
    let expiration: Int64?
    let metadata: UnsafeRawBufferPointer
    let value: UnsafeRawBufferPointer

    /// Parses a stored record; `nil` if it is not one (a foreign or damaged entry).
    init?(_ buffer: UnsafeRawBufferPointer) {
        guard buffer.count >= Self.headerSize, buffer[0] == Self.format else { return nil }
        version = buffer.loadUnaligned(fromByteOffset: 1, as: UInt64.self).littleEndian
        let exp = buffer.loadUnaligned(fromByteOffset: 9, as: Int64.self).littleEndian
        expiration = exp == 0 ? nil : exp
        let metaCount = Int(buffer.loadUnaligned(fromByteOffset: 17, as: UInt32.self).littleEndian)
        guard Self.headerSize + metaCount <= buffer.count else { return nil }
        metadata = UnsafeRawBufferPointer(rebasing: buffer[Self.headerSize..<(Self.headerSize + metaCount)])
        value = UnsafeRawBufferPointer(rebasing: buffer[(Self.headerSize + metaCount)...])
    }

    /// Whether the record is visible at unix second `now`: no expiration, or one still ahead.
    @inline(__always)
    func isLive(at now: Int64) -> Bool {
        guard let expiration else { return true }
        return expiration > now
    }

    static func size(metadataCount: Int, valueCount: Int) -> Int {
        headerSize + metadataCount + valueCount
    }

    /// Writes a record into `out`, which must be exactly `size(...)` bytes.
    static func encode(
        into out: UnsafeMutableRawBufferPointer,
        version: UInt64,
        expiration: Int64?,
        metadata: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer
    ) {
        out[0] = format
        out.storeBytes(of: version.littleEndian, toByteOffset: 1, as: UInt64.self)
        out.storeBytes(of: (expiration ?? 0).littleEndian, toByteOffset: 9, as: Int64.self)
        out.storeBytes(of: UInt32(metadata.count).littleEndian, toByteOffset: 17, as: UInt32.self)
        if !metadata.isEmpty {
            UnsafeMutableRawBufferPointer(rebasing: out[headerSize..<(headerSize + metadata.count)]).copyMemory(from: metadata)
        }
        if !value.isEmpty {
            UnsafeMutableRawBufferPointer(rebasing: out[(headerSize + metadata.count)...]).copyMemory(from: value)
        }
    }

    static func encode(version: UInt64, expiration: Int64?, metadata: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: size(metadataCount: metadata.count, valueCount: value.count)) { buf, count in
            count = buf.count
            encode(into: UnsafeMutableRawBufferPointer(buf), version: version, expiration: expiration, metadata: metadata, value: value)
        }
    }
}
