import EdgeCore
import Foundation

/// The limits a KV namespace enforces (Workers KV's, with the minimum TTL configurable).
public struct KVLimits: Sendable, Equatable {
    /// The smallest `expirationTtl` (and the nearest `expiration`) accepted, in seconds.
    public var minTTLSeconds: Int64 = 60
    public var maxKeyBytes = 512
    public var maxValueBytes = 25 << 20
    public var maxMetadataBytes = 1024
    public var maxListLimit = 1000
    public var maxBulkKeys = 100

    public init(minTTLSeconds: Int64 = 60) { self.minTTLSeconds = minTTLSeconds }

    /// Checks a key: 1–512 UTF-8 bytes, not `.` or `..`.
    public func validate(key: String) throws(KVError) {
        let count = key.utf8.count
        if count == 0 { throw KVError(.invalidKey, "key must not be empty") }
        if count > maxKeyBytes { throw KVError(.keyTooLong, "key is \(count) bytes; the limit is \(maxKeyBytes)") }
        if key == "." || key == ".." { throw KVError(.invalidKey, "key must not be \"\(key)\"") }
    }

    /// Checks a value's size.
    public func validate(valueSize: Int) throws(KVError) {
        if valueSize > maxValueBytes {
            throw KVError(.valueTooLarge, "value is \(valueSize) bytes; the limit is \(maxValueBytes)")
        }
    }

    /// Checks metadata: JSON text of at most 1024 bytes.
    public func validate(metadata: Data?) throws(KVError) {
        guard let metadata else { return }
        if metadata.count > maxMetadataBytes {
            throw KVError(.metadataTooLarge, "metadata is \(metadata.count) bytes; the limit is \(maxMetadataBytes)")
        }
        guard (try? JSONValue.parse(metadata)) != nil else {
            throw KVError(.invalidMetadata, "metadata must be valid JSON")
        }
    }

    /// The longest `expirationTtl` (and the farthest `expiration`), in seconds: 100 years.
    public static let maxTTLSeconds: Int64 = 3_153_600_000

    /// The accepted `expirationTtl` values: the minimum TTL … 100 years.
    public var ttlRange: ClosedRange<Int64> { min(minTTLSeconds, Self.maxTTLSeconds)...Self.maxTTLSeconds }

    /// The accepted absolute `expiration` values at unix second `now`: the TTL window from now.
    public func expirationRange(now: Int64) -> ClosedRange<Int64> {
        CheckedInteger.saturatingAdd(now, ttlRange.lowerBound)...CheckedInteger.saturatingAdd(now, ttlRange.upperBound)
    }

    /// The absolute expiration `options` ask for at unix second `now`, or `nil`.
    /// - Throws: ``KVError/Code/invalidExpiration`` naming `expiration_ttl` or `expiration`
    ///   and its range when the value is outside ``ttlRange`` / ``expirationRange(now:)``.
    public func expiration(for options: KVPutOptions, now: Int64) throws(KVError) -> Int64? {
        switch (options.expiration, options.expirationTtl) {
        case (nil, nil):
            return nil
        case (_?, _?):
            throw KVError(.invalidExpiration, "give either expiration or expiration_ttl, not both")
        case (nil, let ttl?):
            try validate(ttl: ttl)
            return CheckedInteger.saturatingAdd(now, ttl)
        case (let at?, nil):
            let window = expirationRange(now: now)
            guard window.contains(at) else {
                throw KVError(.invalidExpiration, NumberFieldError(field: "expiration", range: window).description)
            }
            return at
        }
    }

    /// Checks an `expirationTtl` (`expiration_ttl` over HTTP).
    public func validate(ttl: Int64) throws(KVError) {
        guard ttlRange.contains(ttl) else {
            throw KVError(.invalidExpiration, NumberFieldError(field: "expiration_ttl", range: ttlRange).description)
        }
    }

    /// Checks a list limit.
    public func validate(listLimit: Int) throws(KVError) {
        do { try CheckedInteger.check(listLimit, field: "limit", in: 1...Int64(maxListLimit)) } catch {
            throw KVError(.invalidListLimit, error.description)
        }
    }
}
