import EdgeCore
import Foundation
import Functions
import KVStore
import LMDBStorage

@testable import EdgeRuntime
@testable import Queues

/// The fuzz targets. Each parses outside input the way the runtime does and checks what must
/// hold for every input (round trips, bounds); refusing an input is fine, trapping is not.
enum Targets {
    /// The JSON parser: anything it accepts serializes to JSON it accepts again, unchanged
    /// after the first round (numbers may change form once: `1.0` → `1`).
    static func json(_ bytes: [UInt8]) {
        guard let value = try? JSONValue.parse(Data(bytes)) else { return }
        let once = value.serialized()
        guard let again = try? JSONValue.parse(once) else {
            fuzzCheck(false, "serialized JSON does not parse: \(String(decoding: once, as: UTF8.self))")
            return
        }
        fuzzCheck(again.serialized() == once, "JSON serialization is not stable")
    }

    static let registry = BuiltinFunctions.registry()

    /// The manifest loader on any JSON document: problems are reported, never a trap.
    static func manifest(_ bytes: [UInt8]) {
        guard let json = try? JSONValue.parse(Data(bytes)) else { return }
        _ = try? ManifestLoader(registry: registry).validate(
            json,
            file: "functions.json",
            baseDirectory: "/nonexistent-edge-fuzz",
            environment: ["ADMIN_TOKEN": "x"],
            envFile: [:],
            requireSecrets: false
        )
    }

    /// Cron expressions (first line) and their next fire time after a time from the rest.
    static func cron(_ bytes: [UInt8]) {
        let (text, rest) = splitLine(bytes)
        guard let expression = try? CronExpression(text) else { return }
        // Any time from 1970 to 9999, chosen by the input.
        let seed = rest.utf8.reduce(UInt64(1_469_598_103_934_665_603)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        let after = Int64(seed % 253_402_300_799)
        if let next = expression.next(afterUnixSeconds: after) {
            fuzzCheck(next > after && next % 60 == 0, "next fire \(next) is not a minute after \(after)")
            fuzzCheck(expression.matches(Date(timeIntervalSince1970: Double(next))), "next fire does not match")
        }
    }

    /// Route patterns (first line) matched against a path (the rest).
    static func route(_ bytes: [UInt8]) {
        let (text, path) = splitLine(bytes)
        guard let pattern = try? RoutePattern(parsing: text) else { return }
        _ = pattern.basePath
        fuzzCheck(pattern.clashes(with: pattern), "a route does not clash with itself")
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        _ = pattern.match(segments)
        _ = pattern.match(Array(segments.dropFirst()))
        if let again = try? RoutePattern(parsing: pattern.source) {
            fuzzCheck(again == pattern, "a route does not parse back from its source")
        }
    }

    /// The fixture JWKS (RSA, EC P-256/P-384, Ed25519 keys) the JWT target verifies against.
    static let fixtureKeys: JWKSet? = {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/EdgeRuntimeTests/Fixtures/jwt/jwt-fixtures.json")
        guard let data = FileManager.default.contents(atPath: file.path), let json = try? JSONValue.parse(data),
            let jwks = json["jwks"]
        else { return nil }
        return JWKSet.parse(Array(jwks.serialized()))
    }()

    /// Compact JWS tokens: split, decode, read the claims, verify against the fixture keys.
    static func jwt(_ bytes: [UInt8]) {
        guard let token = try? JWTToken.parse(String(decoding: bytes, as: UTF8.self)) else { return }
        _ = try? TimeClaims(token.claims)
        let validator = JWTClaimsValidator(issuer: "https://issuer.test", audiences: ["edge-api"], clockTolerance: 5)
        _ = try? validator.validate(token.claims, now: 1_800_000_000)
        guard let algorithm = JWTAlgorithm(rawValue: token.algorithmName), let keys = fixtureKeys,
            let key = keys.key(id: token.keyID, for: algorithm), key.accepts(algorithm)
        else { return }
        _ = key.publicKey.verify(algorithm, signature: token.signature, signingInput: token.signingInput)
    }

    /// JWKS documents: every usable key is built with OpenSSL (under ASan) and tried once.
    static func jwk(_ bytes: [UInt8]) {
        guard let set = JWKSet.parse(bytes) else { return }
        for key in set.keys {
            for algorithm in JWTAlgorithm.allCases where key.accepts(algorithm) {
                _ = key.publicKey.verify(algorithm, signature: Array(bytes.prefix(64)), signingInput: bytes)
            }
        }
    }

    /// Stripe, Standard Webhooks (Svix) and Twilio signature headers, as received.
    static func signature(_ bytes: [UInt8]) {
        let (header, rest) = splitLine(bytes)
        let payload = Array(rest.utf8)
        let now: Int64 = 1_800_000_000
        _ = try? StripeSignature.parse(header)
        _ = try? StripeSignature.verify(payload: payload, header: header, secret: "whsec_fuzz", now: now)
        // A header signed with the secret, with the fuzzed timestamp: the checks after the HMAC run too.
        if let parsed = try? StripeSignature.parse(header) {
            let signed = StripeSignature.sign(payload: payload, secret: "whsec_fuzz", timestamp: parsed.timestamp)
            _ = try? StripeSignature.verify(payload: payload, header: signed, secret: "whsec_fuzz", now: now)
            _ = try? StripeSignature.verify(payload: payload, header: signed, secret: "whsec_fuzz", tolerance: .max, now: now)
        }
        let fields = header.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        let headers = StandardWebhookSignature.Headers(
            id: fields.first,
            timestamp: fields.count > 1 ? fields[1] : nil,
            signature: fields.count > 2 ? fields[2] : nil
        )
        for secret in ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", header, "whsec_" + rest] {
            _ = try? StandardWebhookSignature.verify(payload: payload, headers: headers, secret: secret, now: now)
            _ = try? StandardWebhookSignature.verify(payload: payload, headers: headers, secret: secret, tolerance: .max, now: now)
        }
        _ = TwilioSignature.urlVariants(header)
        _ = try? TwilioSignature.verify(url: header, parameters: FormEncoding.decode(rest), signature: rest, authToken: "fuzz")
    }

    /// Query strings and form bodies: decoding what encoding produced gives the pairs back.
    static func form(_ bytes: [UInt8]) {
        let pairs = FormEncoding.decode(String(decoding: bytes, as: UTF8.self))
        let encoded = FormEncoding.encode(pairs.map { ($0.name, $0.value) })
        let again = FormEncoding.decode(encoded)
        fuzzCheck(
            again.map(\.name) == pairs.map(\.name) && again.map(\.value) == pairs.map(\.value),
            "form decode(encode(pairs)) differs for \(encoded)"
        )
    }

    /// A KV namespace on a scratch LMDB environment, with short, 511- and 512-byte keys.
    static let kvStore: LMDBKVStore = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edge-fuzz-kv-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let environment = try! LMDBEnvironment(path: dir)
        return blocking {
            let store = try! await LMDBKVStore.open(environment: environment, binding: "KV")
            let long = String(repeating: "k", count: 511)
            for key in ["a", "a/b", "b", "k", "z\u{FFFD}", long, long + "a", long + "b", String(repeating: "l", count: 512)] {
                try! await store.put(key, value: Data(key.utf8))
            }
            return store
        }
    }()

    /// List cursors (first line) and prefixes (the rest) as a client sends them.
    static func kvCursor(_ bytes: [UInt8]) {
        let (cursor, prefix) = splitLine(bytes)
        let store = kvStore
        let result = blocking { try? await store.list(KVListOptions(prefix: prefix.isEmpty ? nil : prefix, limit: 3, cursor: cursor)) }
        guard let result else { return }
        let after = Base64.decodeURL(cursor) ?? []
        for key in result.keys {
            fuzzCheck(key.name.utf8.starts(with: prefix.utf8), "listed key outside the prefix")
            if !cursor.isEmpty { fuzzCheck(after.lexicographicallyPrecedes(Array(key.name.utf8)), "listed key not after the cursor") }
        }
        if let next = result.cursor {
            let page = blocking { try? await store.list(KVListOptions(limit: 1, cursor: next)) }
            fuzzCheck(page != nil, "a returned cursor is refused")
        }
    }

    /// Stored message records (a second process, or a damaged file, may have written them).
    static func message(_ bytes: [UInt8]) {
        let record = bytes.withUnsafeBytes { MessageRecord($0) }
        guard let record else { return }
        let encoded = record.encoded()
        let decoded = encoded.withUnsafeBytes { MessageRecord($0) }
        fuzzCheck(decoded != nil, "an encoded record does not decode")
        fuzzCheck(decoded.map { $0.encoded() } == encoded, "record encoding is not stable")
        let id = MessageID(high: UInt64(truncatingIfNeeded: record.sentMillis), low: UInt64(record.attempts))
        _ = PeekedMessage(id: id, record: record).jsonLine
    }

    /// Integers and `Retry-After` values as they arrive in queries, headers and flags.
    static func numbers(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let reference = Int64(text)
        let parsed = try? CheckedInteger.parse(text, field: "n", in: Int64.min...Int64.max)
        if let reference { fuzzCheck(parsed == reference, "CheckedInteger disagrees with Int64(\(text))") }
        if let parsed, parsed != .min, parsed != .max { fuzzCheck(reference == parsed, "CheckedInteger accepted \(text)") }
        if let clamped = CheckedInteger.clamped(text, to: 0...86_400) { fuzzCheck((0...86_400).contains(clamped), "clamp out of range") }
        if let delay = RetryAfter.delay(text, now: 1_800_000_000) {
            fuzzCheck(delay >= 0 && delay <= 86_400, "Retry-After delay \(delay) outside 0…86400")
        }
        var limits = KVLimits()
        limits.minTTLSeconds = 60
        if let ttl = CheckedInteger.saturating(text) {
            _ = try? limits.expiration(for: KVPutOptions(expirationTtl: ttl), now: 1_800_000_000)
            _ = try? limits.expiration(for: KVPutOptions(expiration: ttl), now: 1_800_000_000)
        }
    }
}
