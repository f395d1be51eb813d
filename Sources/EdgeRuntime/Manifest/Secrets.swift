import Foundation

/// Secret values: the process environment, overridden by nothing, completed by an env file.
///
/// The env file holds `KEY=VALUE` lines; `#` starts a comment line; blank lines are skipped;
/// a value may be wrapped in single or double quotes; `export KEY=VALUE` is accepted.
/// The process environment wins over the file (as with wrangler's `.dev.vars` vs. real vars).
public enum SecretSource {
    /// Parses an env file.
    /// - Throws: ``ManifestError`` naming the file and line of a malformed entry.
    public static func parseEnvFile(at path: String) throws -> [String: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ManifestError(file: path, problems: [("", "cannot read the env file")])
        }
        var values: [String: String] = [:]
        var problems: [(path: String, message: String)] = []
        for (i, rawLine) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            guard let eq = line.firstIndex(of: "=") else {
                problems.append(("line \(i + 1)", "expected KEY=VALUE"))
                continue
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                problems.append(("line \(i + 1)", "bad variable name"))
                continue
            }
            values[key] = value
        }
        if !problems.isEmpty { throw ManifestError(file: path, problems: problems) }
        return values
    }

    /// The value of secret `name`: the environment's, else the env file's.
    public static func value(of name: String, environment: [String: String], envFile: [String: String]) -> String? {
        environment[name] ?? envFile[name]
    }

    /// The values of `names` (see ``value(of:environment:envFile:)``); missing names are left out.
    public static func resolve(_ names: [String], environment: [String: String], envFile: [String: String]) -> [String: String] {
        var out: [String: String] = [:]
        for name in names {
            if let v = value(of: name, environment: environment, envFile: envFile) { out[name] = v }
        }
        return out
    }
}
