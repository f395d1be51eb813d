/// A KV operation refused with a reason users can act on.
///
/// A struct around a private code so new cases do not break clients; compare with the static
/// members (`error.code == .keyTooLong`).
public struct KVError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidKey, keyTooLong, valueTooLarge, invalidExpiration, invalidMetadata
            case metadataTooLarge, invalidListLimit, invalidCursor, notAnInteger, overflow
            case tooManyKeys, unknownNamespace
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Empty, `.`, `..`, or not valid UTF-8.
        public static let invalidKey = Code(.invalidKey)
        /// Over 512 bytes (HTTP 414).
        public static let keyTooLong = Code(.keyTooLong)
        /// Over 25 MiB (HTTP 413).
        public static let valueTooLarge = Code(.valueTooLarge)
        /// Both forms given, or outside the TTL window (the minimum TTL … 100 years from now).
        public static let invalidExpiration = Code(.invalidExpiration)
        /// Not JSON.
        public static let invalidMetadata = Code(.invalidMetadata)
        /// Over 1024 bytes.
        public static let metadataTooLarge = Code(.metadataTooLarge)
        /// List limit outside 1…1000.
        public static let invalidListLimit = Code(.invalidListLimit)
        /// A list cursor this store did not produce.
        public static let invalidCursor = Code(.invalidCursor)
        /// `increment` on a value that is not a decimal integer.
        public static let notAnInteger = Code(.notAnInteger)
        /// `increment` past Int64.
        public static let overflow = Code(.overflow)
        /// A bulk get of 0 or more than 100 keys.
        public static let tooManyKeys = Code(.tooManyKeys)
        /// No such KV binding.
        public static let unknownNamespace = Code(.unknownNamespace)

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
