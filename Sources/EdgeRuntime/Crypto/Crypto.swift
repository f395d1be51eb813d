import COpenSSL
import EdgeCore

/// The one place handlers get their cryptographic primitives from, all on OpenSSL's libcrypto:
/// HMAC, SHA-256, constant-time comparison and randomness.
///
/// Inputs and outputs are byte arrays; use ``Hex`` and ``Base64`` to encode them.
public enum Crypto {
    /// The HMAC-SHA256 of `data` keyed with `key` (32 bytes).
    public static func hmacSHA256(key: some Collection<UInt8>, data: some Collection<UInt8>) -> [UInt8] {
        hmac(EVP_sha256(), size: 32, key: key, data: data)
    }

    /// The HMAC-SHA256 of a string's UTF-8 bytes keyed with a string's UTF-8 bytes.
    public static func hmacSHA256(key: String, data: String) -> [UInt8] {
        hmacSHA256(key: Array(key.utf8), data: Array(data.utf8))
    }

    /// The HMAC-SHA1 of `data` keyed with `key` (20 bytes). Only for schemes that mandate it
    /// (Twilio request signatures).
    public static func hmacSHA1(key: some Collection<UInt8>, data: some Collection<UInt8>) -> [UInt8] {
        hmac(EVP_sha1(), size: 20, key: key, data: data)
    }

    /// The SHA-256 digest of `data` (32 bytes).
    public static func sha256(_ data: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = withContiguousBytes(of: data) { input in
            out.withUnsafeMutableBufferPointer { digest in
                var length: UInt32 = 0
                return EVP_Digest(input.baseAddress, input.count, digest.baseAddress, &length, EVP_sha256(), nil) == 1
                    && length == 32
            }
        }
        precondition(ok, "EVP_Digest(SHA-256) failed")
        return out
    }

    /// The SHA-256 digest of a string's UTF-8 bytes.
    public static func sha256(_ text: String) -> [UInt8] {
        var text = text
        return text.withUTF8 { sha256(UnsafeRawBufferPointer($0)) }
    }

    /// Whether `a` and `b` hold the same bytes, in time that depends only on their length
    /// (`CRYPTO_memcmp`). Different lengths compare unequal at once: lengths are not secret.
    public static func constantTimeEquals(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return withContiguousBytes(of: a) { pa in
            withContiguousBytes(of: b) { pb in
                CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, pa.count) == 0
            }
        }
    }

    /// Whether two strings hold the same UTF-8 bytes, compared in constant time.
    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        constantTimeEquals(a.utf8, b.utf8)  // in place: a native string's UTF-8 is contiguous
    }

    /// `count` bytes from OpenSSL's CSPRNG (`RAND_bytes`).
    ///
    /// A CSPRNG that cannot produce bytes leaves nothing safe to do, so a failure stops the
    /// process rather than returning weak randomness.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        precondition(count >= 0, "randomBytes: negative count")
        var out = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return out }
        let rc = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(rc == 1, "RAND_bytes failed: the CSPRNG is unavailable")
        return out
    }

    /// A random identifier: `prefix` followed by `byteCount` random bytes in lowercase hex
    /// (the default, 16 bytes, gives 128 bits and 32 hex digits).
    public static func randomID(prefix: String = "", byteCount: Int = 16) -> String {
        prefix + Hex.encode(randomBytes(byteCount))
    }

    /// One-shot HMAC; the key is copied into a non-empty buffer so an empty key is never NULL.
    private static func hmac(
        _ md: OpaquePointer?,
        size: Int,
        key: some Collection<UInt8>,
        data: some Collection<UInt8>
    ) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        let keyBytes = Array(key) + [0]  // trailing byte keeps the pointer valid for an empty key
        let ok = keyBytes.withUnsafeBufferPointer { k in
            withContiguousBytes(of: data) { d in
                out.withUnsafeMutableBufferPointer { o in
                    var length: UInt32 = 0
                    // An empty buffer may have no base address; give OpenSSL a valid pointer anyway.
                    return withUnsafePointer(to: UInt8(0)) { empty in
                        let dataPointer = d.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? empty
                        let result = HMAC(md, k.baseAddress, Int32(keyBytes.count - 1), dataPointer, d.count, o.baseAddress, &length)
                        return result != nil && Int(length) == size
                    }
                }
            }
        }
        precondition(ok, "HMAC failed")
        return out
    }

    /// Calls `body` with the collection's bytes in contiguous memory (copying only when needed).
    private static func withContiguousBytes<R>(
        of bytes: some Collection<UInt8>,
        _ body: (UnsafeRawBufferPointer) -> R
    ) -> R {
        if let result = bytes.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes(body)
    }
}
