import EdgeCore
import Foundation

/// One public key of a JWKS, ready to verify (RFC 7517; RSA, EC P-256/P-384, OKP Ed25519).
struct JWK: Sendable {
    /// `kid`, when the key has one.
    let keyID: String?
    /// `kty`: `RSA`, `EC` or `OKP`.
    let keyType: String
    /// `crv` for EC and OKP keys.
    let curve: String?
    /// The key's own `alg`, when it pins one.
    let algorithm: String?
    let publicKey: JWKPublicKey

    /// Whether this key may verify a token whose header says `algorithm`: the key type and
    /// curve must fit, and a key that names its own `alg` accepts only that one.
    func accepts(_ algorithm: JWTAlgorithm) -> Bool {
        guard keyType == algorithm.keyType, curve == algorithm.curve else { return false }
        if let pinned = self.algorithm, pinned != algorithm.rawValue { return false }
        if keyType == "EC", let curve, publicKey.bits != (curve == "P-256" ? 256 : 384) { return false }
        return true
    }

    /// Builds a key from one JWKS entry; `nil` for keys edge-run cannot or must not use
    /// (other key types or curves, `use` other than `sig`, private or malformed members).
    static func parse(_ value: JSONValue) -> JWK? {
        guard let object = value.objectValue, let kty = object["kty"]?.stringValue else { return nil }
        if let use = object["use"], use.stringValue != "sig" { return nil }
        if let ops = object["key_ops"]?.arrayValue, !ops.contains(.string("verify")) { return nil }
        // A JWKS publishes public keys only; anything private in it is a provider mistake.
        if object["d"] != nil { return nil }
        let kid = object["kid"]?.stringValue
        let alg = object["alg"]?.stringValue
        let crv = object["crv"]?.stringValue
        func bytes(_ name: String) -> [UInt8]? {
            guard let text = object[name]?.stringValue, !text.contains("=") else { return nil }
            return Base64.decodeURL(text)
        }
        let key: JWKPublicKey?
        switch kty {
        case "RSA":
            guard crv == nil, let n = bytes("n"), let e = bytes("e") else { return nil }
            key = JWKPublicKey.rsa(modulus: n, exponent: e)
        case "EC":
            guard let crv, let x = bytes("x"), let y = bytes("y") else { return nil }
            key = JWKPublicKey.ec(curve: crv, x: x, y: y)
        case "OKP":
            guard crv == "Ed25519", let x = bytes("x") else { return nil }
            key = JWKPublicKey.ed25519(x)
        default:
            return nil
        }
        guard let key else { return nil }
        return JWK(keyID: kid, keyType: kty, curve: crv, algorithm: alg, publicKey: key)
    }
}

/// The usable keys of a JWKS document, indexed by `kid`.
struct JWKSet: Sendable {
    let keys: [JWK]

    /// Parses a JWKS document (`{"keys": [...]}`); keys that cannot be used are skipped.
    /// - Returns: `nil` when the document is not a JWKS or has no usable key.
    static func parse(_ data: [UInt8]) -> JWKSet? {
        guard let document = try? JSONValue.parse(Data(data)),
            let entries = document["keys"]?.arrayValue
        else { return nil }
        let keys = entries.compactMap(JWK.parse)
        return keys.isEmpty ? nil : JWKSet(keys: keys)
    }

    /// The key for a token: by `kid` when the header has one, otherwise the only key that
    /// accepts the algorithm.
    func key(id: String?, for algorithm: JWTAlgorithm) -> JWK? {
        if let id { return keys.first { $0.keyID == id } }
        let candidates = keys.filter { $0.accepts(algorithm) }
        return candidates.count == 1 ? candidates[0] : nil
    }

    /// Whether a key with this `kid` exists (or, without a kid, a key could be chosen).
    func contains(id: String?, for algorithm: JWTAlgorithm) -> Bool { key(id: id, for: algorithm) != nil }
}
