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
        guard (try? JSONSerialization.jsonObject(with: metadata, options: [.fragmentsAllowed])) != nil else {
            throw KVError(.invalidMetadata, "metadata must be valid JSON")
        }
    }

    /// The absolute expiration `options` ask for at unix second `now`, or `nil`.
    public func expiration(for options: KVPutOptions, now: Int64) throws(KVError) -> Int64? {
        switch (options.expiration, options.expirationTtl) {
        case (nil, nil):
            return nil
        case (_?, _?):
            throw KVError(.invalidExpiration, "give either expiration or expirationTtl, not both")
        case (nil, let ttl?):
            try validate(ttl: ttl)
            return now + ttl
        case (let at?, nil):
            if at - now < minTTLSeconds {
                throw KVError(.invalidExpiration, "expiration \(at) must be at least \(minTTLSeconds) seconds in the future (now \(now))")
            }
            return at
        }
    }

    /// Checks an `expirationTtl`.
    public func validate(ttl: Int64) throws(KVError) {
        if ttl < minTTLSeconds {
            throw KVError(.invalidExpiration, "expirationTtl \(ttl) is below the minimum of \(minTTLSeconds) seconds")
        }
    }

    /// Checks a list limit.
    public func validate(listLimit: Int) throws(KVError) {
        if listLimit < 1 || listLimit > maxListLimit {
            throw KVError(.invalidListLimit, "limit must be between 1 and \(maxListLimit), got \(listLimit)")
        }
    }
}
