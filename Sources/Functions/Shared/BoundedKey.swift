import EdgeRuntime
import KVStore

/// KV keys that embed a value from outside (a delivery id, a provider URL).
enum BoundedKey {
    /// `prefix + id`, or `prefix + "sha256:" + <hex SHA-256 of id>` when that would pass KV's
    /// 512-byte key limit. Every writer and reader of such a key goes through here, so a write
    /// and its later delete or rewrite never name different keys.
    static func make(prefix: String, id: String) -> String {
        let plain = prefix + id
        if plain.utf8.count <= KVLimits().maxKeyBytes { return plain }
        return prefix + "sha256:" + Hex.encode(Crypto.sha256(id))
    }
}
