import CEdgeCrypto

/// The JWS algorithms edge-run verifies: asymmetric only.
///
/// `none` and the HMAC family (`HS256`…) are deliberately absent, so a token can never be
/// "verified" with a public key used as an HMAC secret (the HS/RS confusion attack).
public enum JWTAlgorithm: String, Sendable, CaseIterable, Hashable {
    case rs256 = "RS256"
    case rs384 = "RS384"
    case rs512 = "RS512"
    case ps256 = "PS256"
    case es256 = "ES256"
    case es384 = "ES384"
    case edDSA = "EdDSA"

    /// The JWK `kty` a key must have to verify this algorithm.
    public var keyType: String {
        switch self {
        case .rs256, .rs384, .rs512, .ps256: "RSA"
        case .es256, .es384: "EC"
        case .edDSA: "OKP"
        }
    }

    /// The JWK `crv` a key must have (`nil` for RSA).
    public var curve: String? {
        switch self {
        case .es256: "P-256"
        case .es384: "P-384"
        case .edDSA: "Ed25519"
        default: nil
        }
    }

    /// The signature scheme, as ``edge_jws_verify`` expects it.
    var signatureKind: Int32 {
        switch self {
        case .rs256, .rs384, .rs512: EDGE_JWS_RSA_PKCS1
        case .ps256: EDGE_JWS_RSA_PSS
        case .es256, .es384: EDGE_JWS_ECDSA
        case .edDSA: EDGE_JWS_EDDSA
        }
    }

    /// The SHA-2 size in bits (EdDSA hashes internally; the value is unused there).
    var hashBits: Int32 {
        switch self {
        case .rs256, .ps256, .es256, .edDSA: 256
        case .rs384, .es384: 384
        case .rs512: 512
        }
    }
}
