import Foundation

/// The `edge-run` executable built beside this test bundle.
public func edgeRunExecutable() throws -> String {
    var candidates: [URL] = []
    let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    candidates.append(bundleDir.appendingPathComponent("edge-run"))
    // `swift test` runs the bundle from inside `.build/<triple>/debug`.
    candidates.append(bundleDir.deletingLastPathComponent().appendingPathComponent("edge-run"))
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    candidates.append(packageRoot.appendingPathComponent(".build/debug/edge-run"))
    for url in candidates where FileManager.default.isExecutableFile(atPath: url.path) { return url.path }
    throw CLIRunError(message: "edge-run executable not found near \(bundleDir.path); build it with `swift build`")
}

public struct CLIRunError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Runs `edge-run` with `arguments` (and `environment` added to this process's); returns
/// (exit status, stdout, stderr).
public func runEdgeRun(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: Data, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try edgeRunExecutable())
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, stdout, String(decoding: stderr, as: UTF8.self))
}
