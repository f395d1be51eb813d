import EdgeCore
import Foundation

/// A function's `config` object with typed, validating accessors.
///
/// Every accessor throws ``FunctionConfigError`` naming the key, so a bad manifest is reported
/// as `functions[2].config.queue: queue "pay" is not declared`.
public struct FunctionConfig: Sendable {
    /// The function's `name` in the manifest.
    public let functionName: String
    /// The raw `config` object.
    public let values: [String: JSONValue]
    /// What the manifest declares, for reference checks.
    public let declarations: ManifestDeclarations
    /// The function's `"auth"` provider name, if any.
    public let authProvider: String?
    /// That provider's `auth_providers` entry, as the manifest parsed it.
    public let authProviderConfig: AuthProviderConfig?
    /// The function's effective limits (its own `limits`, else the manifest's).
    public let limits: RuntimeLimits

    public init(
        functionName: String,
        values: [String: JSONValue],
        declarations: ManifestDeclarations,
        authProvider: String? = nil,
        authProviderConfig: AuthProviderConfig? = nil,
        limits: RuntimeLimits = RuntimeLimits()
    ) {
        self.limits = limits
        self.functionName = functionName
        self.values = values
        self.declarations = declarations
        self.authProvider = authProvider
        self.authProviderConfig = authProviderConfig
    }

    public subscript(key: String) -> JSONValue? { values[key] }

    /// An optional string.
    public func string(_ key: String) throws(FunctionConfigError) -> String? {
        guard let value = values[key], !value.isNull else { return nil }
        guard let s = value.stringValue else { throw FunctionConfigError(key, "must be a string, not \(value.typeName)") }
        return s
    }

    /// A string that must be present.
    public func requiredString(_ key: String) throws(FunctionConfigError) -> String {
        guard let s = try string(key) else { throw FunctionConfigError(key, "is required") }
        return s
    }

    /// An integer within `range`, or `defaultValue` when absent.
    public func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(FunctionConfigError) -> Int {
        guard let value = values[key], !value.isNull else { return defaultValue }
        guard let i = value.intValue, let n = Int(exactly: i) else { throw FunctionConfigError(key, "must be an integer, not \(value.typeName)") }
        guard range.contains(n) else { throw FunctionConfigError(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(n)") }
        return n
    }

    /// A number within `range`, or `defaultValue` when absent.
    public func double(_ key: String, default defaultValue: Double, in range: ClosedRange<Double>) throws(FunctionConfigError) -> Double {
        guard let value = values[key], !value.isNull else { return defaultValue }
        guard let d = value.doubleValue else { throw FunctionConfigError(key, "must be a number, not \(value.typeName)") }
        guard range.contains(d) else { throw FunctionConfigError(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(d)") }
        return d
    }

    /// The queue named by `key`, which must be declared in `queues`.
    public func queue(_ key: String, required: Bool = true) throws(FunctionConfigError) -> String? {
        guard let name = try string(key) else {
            if required { throw FunctionConfigError(key, "is required: the name of a declared queue") }
            return nil
        }
        guard declarations.queues.contains(name) else { throw FunctionConfigError(key, "queue \"\(name)\" is not declared") }
        return name
    }

    /// The KV binding named by `key`; when absent, the only declared binding.
    public func kvBinding(_ key: String = "kv") throws(FunctionConfigError) -> String {
        if let name = try string(key) {
            guard declarations.kvBindings.contains(name) else {
                throw FunctionConfigError(key, "KV binding \"\(name)\" is not declared in kv_namespaces")
            }
            return name
        }
        switch declarations.kvBindings.count {
        case 1: return declarations.kvBindings[0]
        case 0: throw FunctionConfigError(key, "is required: declare a KV binding in kv_namespaces")
        default:
            throw FunctionConfigError(key, "is required when several KV bindings are declared (\(declarations.kvBindings.joined(separator: ", ")))")
        }
    }

    /// The name of a secret given under `key`, which must be declared in `secrets`.
    public func secretName(_ key: String, default defaultName: String? = nil) throws(FunctionConfigError) -> String {
        guard let name = try string(key) ?? defaultName else { throw FunctionConfigError(key, "is required: the name of a declared secret") }
        guard declarations.secrets.contains(name) else { throw FunctionConfigError(key, "secret \"\(name)\" is not declared in secrets") }
        return name
    }

    /// Checks that the handler's own secret `name` is declared.
    public func requireSecret(_ name: String) throws(FunctionConfigError) {
        guard declarations.secrets.contains(name) else {
            throw FunctionConfigError(nil, "this handler needs secret \"\(name)\": declare it in secrets")
        }
    }
}

/// The names a manifest declares.
public struct ManifestDeclarations: Sendable {
    public var queues: [String]
    public var kvBindings: [String]
    public var secrets: [String]
    public var vars: [String: String]
    public var authProviders: [String]
    /// The folder the manifest is in (relative paths in configs are resolved against it).
    public var baseDirectory: String
    /// The consumer function of each queue that has one, by queue name (so a producer can check
    /// what its consumer accepts). Complete once the whole manifest is read.
    public var queueConsumers: [String: FunctionSpec] = [:]

    public init(
        queues: [String] = [],
        kvBindings: [String] = [],
        secrets: [String] = [],
        vars: [String: String] = [:],
        authProviders: [String] = [],
        baseDirectory: String = "."
    ) {
        self.queues = queues
        self.kvBindings = kvBindings
        self.secrets = secrets
        self.vars = vars
        self.authProviders = authProviders
        self.baseDirectory = baseDirectory
    }
}

/// A bad function config: the key (nil for the config as a whole) and what is wrong.
public struct FunctionConfigError: Error, CustomStringConvertible, Sendable {
    public let key: String?
    public let message: String

    public init(_ key: String?, _ message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { key.map { "\($0): \(message)" } ?? message }
}
