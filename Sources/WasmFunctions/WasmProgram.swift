import Foundation
@_spi(Fuzzing) import WasmKit
import WasmParser

/// A module parsed, checked and validated at start-up, with the host functions it imports
/// resolved: what every invocation instantiates afresh.
struct WasmProgram: Sendable {
    /// One import and what satisfies it.
    struct Link: Sendable {
        let module: String
        let name: String
        let type: FunctionType
        let body: WASIPreview1.Body
    }

    let module: Module
    let links: [Link]
    let limiter: GuestLimiter
    /// The module's size in bytes.
    let size: Int

    /// Reads, parses and checks the module at `path`.
    /// - Throws: ``WasmProgramError`` with every problem found, for the manifest check.
    init(path: String, memoryLimitBytes: Int) throws(WasmProgramError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WasmProgramError(["cannot read \(path)"])
        }
        try self.init(bytes: Array(data), memoryLimitBytes: memoryLimitBytes)
    }

    init(bytes: [UInt8], memoryLimitBytes: Int) throws(WasmProgramError) {
        let module: Module
        do { module = try parseWasm(bytes: bytes) } catch {
            throw WasmProgramError(["not a valid WebAssembly module: \(error)"])
        }
        var problems: [String] = []
        var links: [Link] = []
        for entry in module.imports {
            let what = "\(entry.module).\(entry.name)"
            guard case .function(let index) = entry.descriptor else {
                problems.append("imports \(what), which is not a function: edge-run offers only wasi_snapshot_preview1 and edge_run functions")
                continue
            }
            let offered: FunctionType?
            let body: WASIPreview1.Body?
            switch entry.module {
            case WASIPreview1.moduleName:
                offered = WASIPreview1.signatures[entry.name]
                body = WASIPreview1.implementation(entry.name) ?? { _, _ in [WASIPreview1.errno(.nosys)] }
            case EdgeRunHostCalls.moduleName:
                offered = EdgeRunHostCalls.signatures[entry.name]
                body = EdgeRunHostCalls.implementation(entry.name)
            default:
                problems.append("imports \(what): edge-run offers only wasi_snapshot_preview1 (WASI preview 1) and edge_run functions")
                continue
            }
            guard let offered, let body else {
                problems.append("imports \(what), which edge-run does not offer")
                continue
            }
            let wanted = module.functionType(at: index)
            guard wanted == offered else {
                problems.append("imports \(what) as \(Self.describe(wanted)), but edge-run offers \(Self.describe(offered))")
                continue
            }
            links.append(Link(module: entry.module, name: entry.name, type: offered, body: body))
        }
        let exports = Dictionary(module.exports.map { ($0.name, $0.descriptor) }, uniquingKeysWith: { a, _ in a })
        if case .function = exports["_start"] {} else { problems.append("exports no function _start (build it as a WASI command)") }
        if case .memory = exports["memory"] {} else { problems.append("exports no memory named \"memory\"") }
        let limiter = GuestLimiter(maxMemoryBytes: memoryLimitBytes)
        if problems.isEmpty, let problem = Self.validate(module, links: links, limiter: limiter) { problems.append(problem) }
        guard problems.isEmpty else { throw WasmProgramError(problems) }
        self.module = module
        self.links = links
        self.limiter = limiter
        self.size = bytes.count
    }

    /// Instantiates the module once with every function translated (which validates every body)
    /// and its start function dropped (so no guest code runs), with placeholder imports; checks
    /// `_start`'s type and that the initial memory fits the limit.
    private static func validate(_ module: Module, links: [Link], limiter: GuestLimiter) -> String? {
        var module = module
        module.dropStartFunction()
        let store = Store(engine: GuestEngine.validating)
        store.resourceLimiter = limiter
        var imports = Imports()
        for link in links {
            imports.define(
                module: link.module,
                name: link.name,
                Function(store: store, type: link.type) { _, _ in
                    throw GuestFault("not callable during validation")
                }
            )
        }
        do {
            let instance = try module.instantiate(store: store, imports: imports)
            if let start = instance.exports[function: "_start"], start.type != FunctionType(parameters: [], results: []) {
                return "exports _start as \(describe(start.type)), not () -> ()"
            }
            return nil
        } catch {
            let reason = "\(error)"
            if reason.contains("resource limit") {
                return "its initial memory is larger than memory_limit_mb (\(limiter.maxMemoryBytes >> 20) MiB)"
            }
            return "is not valid: \(reason)"
        }
    }

    static func describe(_ type: FunctionType?) -> String {
        guard let type else { return "a non-function type" }
        func list(_ types: [ValueType]) -> String { "(" + types.map { "\($0)" }.joined(separator: ", ") + ")" }
        return "\(list(type.parameters)) -> \(list(type.results))"
    }
}

/// Problems of a module, one line each.
struct WasmProgramError: Error, CustomStringConvertible {
    let problems: [String]
    init(_ problems: [String]) { self.problems = problems }
    var description: String { problems.joined(separator: "; ") }
}
