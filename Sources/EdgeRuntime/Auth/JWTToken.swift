import EdgeCore
import Foundation

/// A compact-serialised JWS split and decoded, before any trust is placed in it.
///
/// Parsing is strict: exactly three base64url segments without padding, a JSON object header
/// with a string `alg` and no `crit`, a JSON object payload. Size limits are checked on the raw
/// text first, so an oversized token costs nothing to refuse.
struct JWTToken: Sendable {
    /// Longest token accepted (bytes of the compact serialisation).
    static let maxTokenBytes = 16 * 1024
    /// Longest encoded header accepted.
    static let maxHeaderBytes = 4 * 1024

    /// The header's `alg`, as written.
    let algorithmName: String
    /// The header's `kid`, when present.
    let keyID: String?
    /// The payload's claims.
    let claims: [String: JSONValue]
    /// `base64url(header) + "." + base64url(payload)`: the bytes the signature covers.
    let signingInput: [UInt8]
    /// The decoded signature.
    let signature: [UInt8]

    /// Splits and decodes `token`.
    /// - Throws: ``AuthError`` `.tooLarge` or `.malformed`.
    static func parse(_ token: String) throws(AuthError) -> JWTToken {
        let bytes = Array(token.utf8)
        guard bytes.count <= maxTokenBytes else { throw AuthError(.tooLarge) }
        let dot = UInt8(ascii: ".")
        guard let first = bytes.firstIndex(of: dot) else { throw AuthError(.malformed) }
        guard first <= maxHeaderBytes else { throw AuthError(.tooLarge) }
        guard let second = bytes[(first + 1)...].firstIndex(of: dot),
            !bytes[(second + 1)...].contains(dot)
        else { throw AuthError(.malformed) }

        let headerBytes = try decodeSegment(bytes[..<first])
        let payloadBytes = try decodeSegment(bytes[(first + 1)..<second])
        let signature = try decodeSegment(bytes[(second + 1)...])

        guard let header = try? JSONValue.parse(Data(headerBytes)).objectValue,
            let alg = header["alg"]?.stringValue
        else { throw AuthError(.malformed) }
        // No extension is understood, so any critical one makes the token unusable (RFC 7515 §4.1.11).
        guard header["crit"] == nil else { throw AuthError(.malformed) }
        let kid: String?
        switch header["kid"] {
        case nil: kid = nil
        case .string(let value)?: kid = value
        default: throw AuthError(.malformed)
        }
        guard let claims = try? JSONValue.parse(Data(payloadBytes)).objectValue else { throw AuthError(.malformed) }
        return JWTToken(
            algorithmName: alg,
            keyID: kid,
            claims: claims,
            signingInput: Array(bytes[..<second]),
            signature: signature
        )
    }

    /// Decodes one segment: unpadded base64url only (JWS forbids `=`), canonical.
    private static func decodeSegment(_ segment: ArraySlice<UInt8>) throws(AuthError) -> [UInt8] {
        guard !segment.contains(UInt8(ascii: "=")) else { throw AuthError(.malformed) }
        guard let bytes = Base64.decodeURL(String(decoding: segment, as: UTF8.self)) else { throw AuthError(.malformed) }
        return bytes
    }
}
