/// An `auth_providers.<name>` entry is invalid: the offending key and what is wrong with it.
///
/// The manifest loader prefixes the key with the provider's JSON path, giving lines such as
/// `auth_providers.clerk.jwks_url: must be an https URL`.
public struct AuthConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The config key at fault (`jwks_url`, `algorithms[1]`, …).
    public let key: String
    /// What is wrong, in a phrase.
    public let message: String

    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "\(key): \(message)" }
}
