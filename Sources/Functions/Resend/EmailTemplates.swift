import EdgeRuntime
import Foundation
import Mustache

/// The email templates a function knows: the built-ins, then every `<name>.mustache` in
/// `templates_dir`, then the `templates` config object (a later source replaces an earlier
/// template of the same name). All are compiled at start-up, so a syntax error is a config
/// error; they share one library, so a template may include another as a partial (`{{> name}}`).
struct EmailTemplates: Sendable {
    let library: MustacheLibrary
    let names: Set<String>

    /// Loads the catalogue from a function's config.
    /// - Throws: ``FunctionConfigError`` naming `templates` or `templates_dir` and the template at fault.
    init(config: FunctionConfig) throws(FunctionConfigError) {
        var sources = BuiltinEmailTemplates.all
        if let directory = try config.string("templates_dir") {
            for (name, text) in try Self.loadDirectory(directory, base: config.declarations.baseDirectory) {
                sources[name] = text
            }
        }
        switch config["templates"] {
        case nil, .null?:
            break
        case .object(let templates)?:
            for (name, value) in templates {
                guard let text = value.stringValue else {
                    throw FunctionConfigError("templates", "template \"\(name)\" must be a Mustache string")
                }
                guard Self.isValidName(name) else { throw FunctionConfigError("templates", Self.nameRule(name)) }
                sources[name] = text
            }
        case let other?:
            throw FunctionConfigError("templates", "must be an object of name to Mustache string, not \(other.typeName)")
        }
        var library = MustacheLibrary()
        for (name, text) in sources {
            do { try library.register(text, named: name) } catch {
                let key = config["templates"]?[name] != nil ? "templates" : "templates_dir"
                throw FunctionConfigError(key, "template \"\(name)\" is not valid Mustache: \(error)")
            }
        }
        self.library = library
        self.names = Set(sources.keys)
    }

    /// Renders template `name` with `data` (a JSON object); `{{ }}` HTML-escapes.
    /// - Returns: `nil` when there is no such template.
    func render(_ name: String, data: JSONValue) -> String? {
        guard names.contains(name) else { return nil }
        return library.render(Self.mustacheValue(data), withTemplate: name)
    }

    /// JSON as the plain Swift values Mustache walks: objects as dictionaries (sections push
    /// them), arrays as arrays (sections repeat), `false`/`null`/`[]` falsy; whole numbers print
    /// without a fraction.
    static func mustacheValue(_ value: JSONValue) -> Any {
        switch value {
        case .null: return NSNull()
        case .bool(let b): return b
        case .integer(let i): return Int(i)
        case .number(let d): return d.rounded() == d && abs(d) < 1e15 ? Int(d) : d
        case .string(let s): return s
        case .array(let a): return a.map(mustacheValue)
        case .object(let o): return o.mapValues(mustacheValue)
        }
    }

    /// Every `<name>.mustache` file of `directory` (relative paths from the manifest's folder).
    private static func loadDirectory(_ directory: String, base: String) throws(FunctionConfigError) -> [String: String] {
        let path = directory.hasPrefix("/") ? directory : URL(fileURLWithPath: base).appendingPathComponent(directory).path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FunctionConfigError("templates_dir", "\"\(directory)\" is not a directory")
        }
        let files: [String]
        do { files = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw FunctionConfigError("templates_dir", "cannot list \"\(directory)\": \(error.localizedDescription)")
        }
        var out: [String: String] = [:]
        for file in files.sorted() where file.hasSuffix(".mustache") {
            let name = String(file.dropLast(".mustache".count))
            guard isValidName(name) else { throw FunctionConfigError("templates_dir", nameRule(name)) }
            guard let data = FileManager.default.contents(atPath: path + "/" + file), let text = String(data: data, encoding: .utf8) else {
                throw FunctionConfigError("templates_dir", "cannot read \(file) as UTF-8 text")
            }
            out[name] = text
        }
        return out
    }

    /// Template names: 1…64 ASCII letters, digits, `_`, `-` and `.`.
    static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D || c == 0x2E
            }
    }

    private static func nameRule(_ name: String) -> String {
        "template name \"\(name)\" must be 1 to 64 ASCII letters, digits, _, - or ."
    }
}
