import CEdgeCrypto

/// An OpenSSL public key (`EVP_PKEY`) built from a JWK, able to verify JWS signatures.
///
/// `@unchecked Sendable` because the wrapped `EVP_PKEY` is never mutated after construction:
/// OpenSSL 3 allows one key to be used for verification from several threads at once as long
/// as each operation has its own context, which ``verify(_:signature:signingInput:)`` creates.
/// The key is freed exactly once, in `deinit`.
final class JWKPublicKey: @unchecked Sendable {
    /// Smallest RSA modulus accepted (RFC 7518 §3.3 requires 2048 bits).
    static let minimumRSABits = 2048

    private let pointer: OpaquePointer
    /// The key size in bits (RSA modulus, EC field size, 256 for Ed25519).
    let bits: Int

    private init?(_ pointer: OpaquePointer?) {
        guard let pointer else { return nil }
        self.pointer = pointer
        bits = Int(edge_pkey_bits(pointer))
    }

    deinit { edge_pkey_free(pointer) }

    /// An RSA key from the big-endian modulus and exponent; `nil` when OpenSSL refuses them or
    /// the modulus is under 2048 bits.
    static func rsa(modulus: [UInt8], exponent: [UInt8]) -> JWKPublicKey? {
        let key = modulus.withUnsafeBufferPointer { n in
            exponent.withUnsafeBufferPointer { e in
                JWKPublicKey(edge_pkey_rsa_public(n.baseAddress, n.count, e.baseAddress, e.count))
            }
        }
        guard let key, key.bits >= minimumRSABits else { return nil }
        return key
    }

    /// An EC key on P-256 or P-384 from affine coordinates; `nil` when the point is not on the curve.
    static func ec(curve: String, x: [UInt8], y: [UInt8]) -> JWKPublicKey? {
        let bits: Int32
        switch curve {
        case "P-256": bits = 256
        case "P-384": bits = 384
        default: return nil
        }
        return x.withUnsafeBufferPointer { xs in
            y.withUnsafeBufferPointer { ys in
                JWKPublicKey(edge_pkey_ec_public(bits, xs.baseAddress, xs.count, ys.baseAddress, ys.count))
            }
        }
    }

    /// An Ed25519 key from its 32 raw bytes.
    static func ed25519(_ raw: [UInt8]) -> JWKPublicKey? {
        raw.withUnsafeBufferPointer { JWKPublicKey(edge_pkey_ed25519_public($0.baseAddress, $0.count)) }
    }

    /// Whether `signature` (as carried in the JWS, e.g. raw R‖S for ECDSA) is valid for
    /// `signingInput` under `algorithm`.
    func verify(_ algorithm: JWTAlgorithm, signature: [UInt8], signingInput: [UInt8]) -> Bool {
        guard !signature.isEmpty else { return false }
        return signingInput.withUnsafeBufferPointer { message in
            signature.withUnsafeBufferPointer { sig in
                edge_jws_verify(
                    pointer,
                    algorithm.signatureKind,
                    algorithm.hashBits,
                    message.baseAddress,
                    message.count,
                    sig.baseAddress,
                    sig.count
                ) == 1
            }
        }
    }
}
