import Foundation

extension KVListResult {
    /// The Workers KV list shape: `{"keys":[{"name","expiration"?,"metadata"?}],"list_complete",
    /// "cursor"?}`; metadata appears as the JSON value it was stored as.
    public func jsonObject() throws -> [String: Any] {
        var object: [String: Any] = [
            "keys": try keys.map { key -> [String: Any] in
                var entry: [String: Any] = ["name": key.name]
                if let expiration = key.expiration { entry["expiration"] = expiration }
                if let metadata = key.metadata {
                    entry["metadata"] = try JSONSerialization.jsonObject(with: metadata, options: .fragmentsAllowed)
                }
                return entry
            },
            "list_complete": listComplete,
        ]
        if let cursor { object["cursor"] = cursor }
        return object
    }

    /// ``jsonObject()`` serialised.
    public func jsonData() throws -> Data {
        try JSONSerialization.data(withJSONObject: try jsonObject(), options: [.sortedKeys, .withoutEscapingSlashes])
    }
}
