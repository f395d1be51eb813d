/// A queue operation or configuration refused with a reason users can act on.
///
/// A struct around a private code so new cases do not break clients; compare with the static
/// members (`error.code == .messageTooLarge`).
public struct QueueError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case messageTooLarge, batchTooLarge, invalidBatchSize, invalidDelay, invalidBody
            case invalidConfiguration, unknownQueue, invalidLimit
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A message body over 128 KB (HTTP 413).
        public static let messageTooLarge = Code(.messageTooLarge)
        /// A batch whose bodies add up to more than 256 KB (HTTP 413).
        public static let batchTooLarge = Code(.batchTooLarge)
        /// A batch of 0 or more than 100 messages (HTTP 400).
        public static let invalidBatchSize = Code(.invalidBatchSize)
        /// A delay outside 0…86400 seconds (HTTP 400).
        public static let invalidDelay = Code(.invalidDelay)
        /// A `json` body that is not JSON, or a `text` body that is not UTF-8 (HTTP 400).
        public static let invalidBody = Code(.invalidBody)
        /// A queue or consumer setting out of range, a bad name, a queue that is its own
        /// dead-letter queue, a duplicate declaration.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// No queue of that name is declared (HTTP 404).
        public static let unknownQueue = Code(.unknownQueue)
        /// A peek limit outside 1…1000 (HTTP 400).
        public static let invalidLimit = Code(.invalidLimit)

        public var description: String { "\(base)" }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
