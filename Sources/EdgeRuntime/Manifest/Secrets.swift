import Foundation

#if canImport(Glibc)
import Glibc
#endif

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

/// Development secrets: `.dev.vars` beside the manifest, read without `--env-file` only when
/// `serve` listens on a loopback address (as wrangler's file is meant for `wrangler dev`). On any
/// other address a production server must not quietly run on a developer's secrets.
public enum DevelopmentSecrets {
    /// The file's name.
    public static let fileName = ".dev.vars"

    /// `.dev.vars` in the manifest's folder.
    public static func path(besideManifest manifest: String) -> String {
        let dir = (manifest as NSString).deletingLastPathComponent
        return (dir.isEmpty ? "." : dir) + "/" + fileName
    }

    /// Whether `host` is a loopback address: `localhost`, 127.0.0.0/8, `::1` (also bracketed or
    /// as the IPv4-mapped `::ffff:127.x.y.z`). Any other name is treated as public.
    public static func isLoopback(host: String) -> Bool {
        var h = host.trimmingCharacters(in: .whitespaces).lowercased()
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h == "localhost" || h == "localhost." { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, h, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, h, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        let mapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
        return mapped && bytes[12] == 127
    }

    /// The declared secrets that would have to come from the development file: set there and
    /// not in the environment.
    public static func namesNeeded(declared: [String], environment: [String: String], devVars: [String: String]) -> [String] {
        declared.filter { environment[$0] == nil && devVars[$0] != nil }
    }
}
