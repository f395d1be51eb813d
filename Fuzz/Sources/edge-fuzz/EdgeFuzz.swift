import Foundation
import Synchronization

/// The libFuzzer entry point of `edge-fuzz`: one binary, one target per run, chosen with the
/// `EDGE_FUZZ_TARGET` environment variable (`scripts/fuzz` sets it; see ``FuzzTarget``).
///
/// A target returns normally for any input it refuses; a crash, a sanitizer report or a
/// failed `fuzzCheck` (an invariant that must hold for every input) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func edgeFuzzTestOneInput(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
    selectedTarget.run(bytes)
    return 0
}

/// The target named by `EDGE_FUZZ_TARGET`, resolved once.
let selectedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["EDGE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget.all.first(where: { $0.name == name }) else {
        let names = FuzzTarget.all.map(\.name).joined(separator: " ")
        FileHandle.standardError.write(Data("edge-fuzz: set EDGE_FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    return target
}()

/// One fuzz target: a name (also its corpus folder, `Fuzz/Corpus/<name>`) and what it does with an input.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "json", run: Targets.json),
        FuzzTarget(name: "manifest", run: Targets.manifest),
        FuzzTarget(name: "cron", run: Targets.cron),
        FuzzTarget(name: "route", run: Targets.route),
        FuzzTarget(name: "jwt", run: Targets.jwt),
        FuzzTarget(name: "jwk", run: Targets.jwk),
        FuzzTarget(name: "signature", run: Targets.signature),
        FuzzTarget(name: "form", run: Targets.form),
        FuzzTarget(name: "kvcursor", run: Targets.kvCursor),
        FuzzTarget(name: "message", run: Targets.message),
        FuzzTarget(name: "numbers", run: Targets.numbers),
    ]
}

/// Stops the run with a message when an invariant fails (libFuzzer keeps the input as a crash).
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        FileHandle.standardError.write(Data("edge-fuzz invariant failed: \(message())\n".utf8))
        abort()
    }
}

/// The input split at its first `\n` (or all of it and an empty tail).
func splitLine(_ bytes: [UInt8]) -> (String, String) {
    guard let newline = bytes.firstIndex(of: 0x0A) else { return (String(decoding: bytes, as: UTF8.self), "") }
    return (String(decoding: bytes[..<newline], as: UTF8.self), String(decoding: bytes[(newline + 1)...], as: UTF8.self))
}

/// Runs `body` to completion from the fuzzer's synchronous callback.
func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.set(await body())
        done.signal()
    }
    done.wait()
    return box.get()
}

/// A value handed from a task to the thread waiting for it.
final class ResultBox<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    func set(_ v: T) { value.withLock { $0 = v } }
    func get() -> T { value.withLock { $0! } }
}

/// libFuzzer's driver, run from `main`. SwiftPM links an executable target with `main` aliased
/// to `edge_fuzz_main` unless it is told `--sanitize=fuzzer` (and that flag cannot be combined
/// with ASan, see scripts/fuzz), so this module provides that entry point itself.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafeRawPointer?, Int) -> CInt
) -> CInt

@_cdecl("edge_fuzz_main")
func edgeFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { start, size in edgeFuzzTestOneInput(start, size) }
}
