import ArgumentParser
import EdgeRuntime
import Foundation
import Functions

/// `edge-run tail`: the live events of a running server, one line each (as `wrangler tail`).
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Stream the live events (requests, queue deliveries, cron runs) of a running server.",
        discussion: """
            The admin token is --token, or else the value of the manifest's kv.api/queues.api token_secret, \
            read from the environment or the env file (default: .dev.vars beside the manifest).
            """
    )

    @OptionGroup var source: ManifestSource
    @Option(help: "The server.") var url = "http://127.0.0.1:8787"
    @Option(help: "The admin bearer token (default: the manifest's admin token_secret value).") var token: String?
    @Flag(help: "Print each event as its JSON line.") var json = false
    @Option(help: "Only events of this function.") var function: String?
    @Option(help: "Only requests with this status or class: 500, 5xx, or a comma-separated list.") var status: String?
    @Option(help: "Only deliveries of this queue.") var queue: String?

    func run() async throws {
        let token = try self.token ?? adminToken(source)
        var query: [(String, String)] = []
        if let function { query.append(("function", function)) }
        if let status { query.append(("status", status)) }
        if let queue { query.append(("queue", queue)) }
        let path = "/_edge/tail" + (query.isEmpty ? "" : "?" + FormEncoding.encode(query))
        do {
            let client = try EventStreamClient(url: url, path: path)
            try client.stream(headers: [("Authorization", "Bearer \(token)")]) { line in
                // Unbuffered: each event shows at once, also through a pipe.
                FileHandle.standardOutput.write(Data(((json ? line : TailLine.render(line)) + "\n").utf8))
            }
        } catch let refusal as EventStreamClient.Refusal {
            let message = (try? JSONValue.parse(Data(refusal.body.utf8)))?["error"]?.stringValue ?? refusal.body
            fail("\(url) answered \(refusal.status): \(message)")
        } catch let failure as EventStreamClient.Failure {
            fail(failure.description)
        }
    }
}

/// Prints `edge-run <command>: <message>` to stderr and exits 1.
func fail(_ message: String, command: String = "tail") -> Never {
    FileHandle.standardError.write(Data("edge-run \(command): \(message)\n".utf8))
    Foundation.exit(1)
}

/// The admin token: the value of the first admin function's `token_secret` found in the
/// environment or the env file.
func adminToken(_ source: ManifestSource) throws -> String {
    let (manifest, secrets) = try source.load(registry: BuiltinFunctions.registry(), requireSecrets: false)
    let names = AdminSurface.tokenSecrets(of: manifest)
    guard !names.isEmpty else { fail("\(source.manifest) has no kv.api or queues.api function, so the server has no tail") }
    guard let value = names.lazy.compactMap({ secrets[$0] }).first(where: { !$0.isEmpty }) else {
        fail("set \(names.joined(separator: " or ")) in the environment or the env file, or pass --token")
    }
    return value
}

/// One event as a human line.
enum TailLine {
    static func render(_ line: String) -> String {
        guard let event = try? JSONValue.parse(Data(line.utf8)) else { return line }
        let time = clock(event["time"]?.stringValue)
        let ms = event["duration_ms"]?.doubleValue.map { String(format: "%.1fms", $0) } ?? ""
        switch event["type"]?.stringValue {
        case "request":
            let function = event["function"]?.stringValue.map { " → \($0)" } ?? ""
            return
                "\(time) \(event["method"]?.stringValue ?? "") \(event["path"]?.stringValue ?? "") \(event["status"]?.intValue ?? 0) \(ms)\(function)"
                + " [\(event["request_id"]?.stringValue ?? "")]"
        case "delivery":
            let count = event["count"]?.intValue ?? 0
            var text =
                "\(time) queue \(event["queue"]?.stringValue ?? "") → \(event["function"]?.stringValue ?? "?"): "
                + "\(count) message\(count == 1 ? "" : "s") \(event["outcome"]?.stringValue ?? "") \(ms)"
            if let error = event["error"]?.stringValue { text += " error: \(error)" }
            return text
        case "scheduled":
            var text =
                "\(time) cron \"\(event["cron"]?.stringValue ?? "")\" → \(event["function"]?.stringValue ?? ""): "
                + "\(event["outcome"]?.stringValue ?? "") \(ms)"
            if let error = event["error"]?.stringValue { text += " error: \(error)" }
            return text
        case "dropped":
            return "… \(event["count"]?.intValue ?? 0) events dropped (this tail read too slowly)"
        default:
            return line
        }
    }

    /// `HH:mm:ss.SSS` of an ISO 8601 time.
    private static func clock(_ iso: String?) -> String {
        guard let iso, let t = iso.firstIndex(of: "T") else { return iso ?? "" }
        return String(iso[iso.index(after: t)...].dropLast(iso.hasSuffix("Z") ? 1 : 0))
    }
}
