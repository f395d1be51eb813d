/// The storage server cannot be reached right now (PostgreSQL down or refusing connections).
/// Nothing was written; the request may be repeated once the storage is back (HTTP 503).
public struct StorageUnavailableError: Error, CustomStringConvertible, Sendable {
    /// Why, without credentials.
    public let reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { "storage unavailable: \(reason)" }
}
