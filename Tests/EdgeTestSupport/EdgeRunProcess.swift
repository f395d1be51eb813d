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
    let folder = NSTemporaryDirectory() + "edge-run-cli-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let process = try ChildProcess(
        executable: try edgeRunExecutable(),
        arguments: arguments,
        environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
        stdoutPath: folder + "/stdout",
        stderrPath: folder + "/stderr"
    )
    let status = process.waitUntilExit()
    let stdout = FileManager.default.contents(atPath: folder + "/stdout") ?? Data()
    let stderr = FileManager.default.contents(atPath: folder + "/stderr") ?? Data()
    return (status, stdout, String(decoding: stderr, as: UTF8.self))
}
