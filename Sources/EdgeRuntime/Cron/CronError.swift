/// A cron expression that cannot be used, with a message naming the field and the reason, e.g.
/// `cron "*/5 * * * 8": day-of-week field "8": 8 is out of range 0-7`.
public struct CronError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of problem.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case fieldCount, invalidField, neverFires
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Not exactly 5 fields (and not a known `@` macro).
        public static let fieldCount = Code(.fieldCount)
        /// A field has a bad value, range, step, list item or name.
        public static let invalidField = Code(.invalidField)
        /// The expression is valid syntax but matches no date (e.g. `0 0 30 2 *`).
        public static let neverFires = Code(.neverFires)

        public var description: String { "\(base)" }
    }

    /// The kind of problem.
    public let code: Code
    /// The field at fault (`minute`, `hour`, `day-of-month`, `month`, `day-of-week`), if one.
    public let field: String?
    /// The full message, quoting the expression, the field and the reason.
    public let message: String

    public init(_ code: Code, field: String?, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String { message }
}
