import EdgeCore

/// Collects manifest problems with typed accessors that report wrong types at their path.
struct Problems {
    var items: [(path: String, message: String)] = []

    mutating func add(_ path: String, _ message: String) { items.append((path, message)) }

    mutating func unknownKeys(_ object: [String: JSONValue], at path: String, allowed: Set<String>) {
        for key in object.keys.sorted() where !allowed.contains(key) {
            add(
                path.isEmpty ? key : "\(path).\(key)",
                "unknown key (expected one of: \(allowed.filter { !$0.hasPrefix("$") }.sorted().joined(separator: ", ")))"
            )
        }
    }

    mutating func string(_ value: JSONValue?, at path: String, required: Bool = false) -> String? {
        guard let value, !value.isNull else {
            if required { add(path, "is required") }
            return nil
        }
        guard let s = value.stringValue else {
            add(path, "must be a string, not \(value.typeName)")
            return nil
        }
        if required && s.isEmpty {
            add(path, "must not be empty")
            return nil
        }
        return s
    }

    mutating func bool(_ value: JSONValue?, at path: String) -> Bool? {
        guard let value, !value.isNull else { return nil }
        guard case .bool(let b) = value else {
            add(path, "must be true or false, not \(value.typeName)")
            return nil
        }
        return b
    }

    mutating func object(_ value: JSONValue?, at path: String) -> [String: JSONValue]? {
        guard let value, !value.isNull else { return nil }
        guard let o = value.objectValue else {
            add(path, "must be an object, not \(value.typeName)")
            return nil
        }
        return o
    }

    mutating func array(_ value: JSONValue?, at path: String) -> [JSONValue]? {
        guard let value, !value.isNull else { return nil }
        guard let a = value.arrayValue else {
            add(path, "must be an array, not \(value.typeName)")
            return nil
        }
        return a
    }

    mutating func int(_ value: JSONValue, at path: String, in range: ClosedRange<Int>) -> Int? {
        guard let i = value.intValue, let n = Int(exactly: i) else {
            add(path, "must be an integer, not \(value.typeName)")
            return nil
        }
        guard range.contains(n) else {
            add(path, "must be between \(range.lowerBound) and \(range.upperBound), got \(n)")
            return nil
        }
        return n
    }

    mutating func double(_ value: JSONValue, at path: String, in range: ClosedRange<Double>) -> Double? {
        guard let d = value.doubleValue else {
            add(path, "must be a number, not \(value.typeName)")
            return nil
        }
        guard range.contains(d) else {
            add(path, "must be between \(range.lowerBound) and \(range.upperBound), got \(d)")
            return nil
        }
        return d
    }
}
