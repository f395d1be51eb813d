/// A number taken from outside (a query parameter, a header, a JSON field, a CLI flag) that
/// is not an integer in the range its field allows.
///
/// Its ``description`` is the message users see, naming the field and the range:
/// `expiration_ttl must be an integer between 60 and 3153600000`. Over HTTP it is a 400; the
/// CLI prints it and exits 1.
public struct NumberFieldError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The field as the user wrote it (`expiration_ttl`, `limit`, `--port`, `messages[2].delay_seconds`).
    public let field: String
    /// The smallest accepted value.
    public let lowerBound: Int64
    /// The largest accepted value.
    public let upperBound: Int64

    public init(field: String, range: ClosedRange<Int64>) {
        self.field = field
        self.lowerBound = range.lowerBound
        self.upperBound = range.upperBound
    }

    public var description: String { "\(field) must be an integer between \(lowerBound) and \(upperBound)" }
}
