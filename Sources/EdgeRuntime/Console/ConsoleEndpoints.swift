import EdgeCore
import Foundation
import KVStore
import Queues

/// The local console: its page and files (`GET /_edge/console`, embedded in the binary) and the
/// read APIs only the console needs (`/_edge/api/…`). KV and queue data come from the manifest's
/// own `kv.api` / `queues.api` routes, which `GET /_edge/api/routes` names.
///
/// - `GET  /_edge/api/routes` → the manifest's routes, functions, KV bindings, queues and the
///   admin handlers' base paths
/// - `GET  /_edge/api/crons` → each cron with its function and next run
/// - `POST /_edge/api/crons/run?cron=<schedule>` → `{"ran": N}` (only with `--test-scheduled`)
///
/// The caller applies the admin gate (404 / 403 / 401) before asking; the page and its files
/// carry no data, so they are answered without the bearer token (``needsToken(_:)``).
struct ConsoleEndpoints: Sendable {
    let overview: JSONValue
    let crons: [Cron]
    let clock: any QueueClock
    /// Runs the crons with a schedule now; `nil` without `--test-scheduled`.
    let runScheduled: (@Sendable (String?) async throws -> Int)?

    struct Cron: Sendable {
        let spec: CronSpec
        let handler: String
    }

    init(manifest: Manifest, clock: any QueueClock, runScheduled: (@Sendable (String?) async throws -> Int)?) {
        overview = Self.overview(manifest, testScheduled: runScheduled != nil)
        crons = manifest.crons.map { Cron(spec: $0, handler: manifest.function(named: $0.function)?.handler ?? "") }
        self.clock = clock
        self.runScheduled = runScheduled
    }

    /// Whether `path` is the console's or its API's.
    static func handles(_ path: String) -> Bool {
        path == "/_edge/console" || path.hasPrefix("/_edge/console/") || path.hasPrefix("/_edge/api/")
    }

    /// The page and its files are public (no data); every `/_edge/api/` call needs the token.
    static func needsToken(_ path: String) -> Bool { path.hasPrefix("/_edge/api/") }

    /// Answers a console path (``handles(_:)``); 404 for one it does not know.
    func respond(method: String, path: String, query: String) async throws -> EdgeResponse {
        switch path {
        case "/_edge/console", "/_edge/console/":
            return try Self.file(method, ConsoleAssets.html, type: "text/html; charset=utf-8")
        case "/_edge/console/console.css":
            return try Self.file(method, ConsoleAssets.css, type: "text/css; charset=utf-8")
        case "/_edge/console/console.js":
            return try Self.file(method, ConsoleAssets.javascript, type: "text/javascript; charset=utf-8")
        case "/_edge/api/routes":
            try Self.allow(method, "GET")
            return Self.data(overview)
        case "/_edge/api/crons":
            try Self.allow(method, "GET")
            return Self.data(cronList())
        case "/_edge/api/crons/run":
            try Self.allow(method, "POST")
            guard let runScheduled else {
                throw EdgeHTTPError(.notFound, "crons run on demand only when serve runs with --test-scheduled")
            }
            let cron = FormEncoding.decode(query).first { $0.name == "cron" }?.value
            guard let cron, !cron.isEmpty else { throw EdgeHTTPError(.badRequest, "cron is required: the schedule to run, e.g. cron=*/5 * * * *") }
            guard crons.contains(where: { Self.sameSchedule($0.spec.schedule, cron) }) else {
                throw EdgeHTTPError(.notFound, "no cron with schedule \"\(cron)\"")
            }
            return Self.data(.object(["ran": .integer(Int64(try await runScheduled(cron)))]))
        default:
            throw EdgeHTTPError(.notFound, "no console endpoint \(path)")
        }
    }

    /// `{"crons": [{schedule, function, handler, next_run}], "test_scheduled"}`.
    func cronList() -> JSONValue {
        let now = Int64(clock.now().rounded(.down))
        return .object([
            "test_scheduled": .bool(runScheduled != nil),
            "crons": .array(
                crons.map { cron in
                    let next = cron.spec.expression.next(afterUnixSeconds: now)
                    return .object([
                        "schedule": .string(cron.spec.schedule), "function": .string(cron.spec.function), "handler": .string(cron.handler),
                        "next_run": next.map { .string(ISO8601Millis.format(Date(timeIntervalSince1970: Double($0)))) } ?? .null,
                    ])
                }
            ),
        ])
    }

    /// Schedules compare field by field (`+` in a query stands for a space, as `/__scheduled` takes it).
    static func sameSchedule(_ a: String, _ b: String) -> Bool {
        func fields(_ s: String) -> [Substring] { s.split(whereSeparator: { $0 == " " || $0 == "+" }) }
        return fields(a) == fields(b)
    }

    /// `GET /_edge/api/routes`: what the console shows on its Routes tab and where it finds the
    /// admin APIs.
    static func overview(_ manifest: Manifest, testScheduled: Bool) -> JSONValue {
        var routes: [JSONValue] = []
        var functions: [JSONValue] = []
        for function in manifest.functions {
            for route in function.routes {
                routes.append(
                    .object([
                        "method": .string(route.method), "path": .string(route.path), "function": .string(function.name),
                        "handler": .string(function.handler), "auth": function.auth.map(JSONValue.string) ?? .null,
                    ])
                )
            }
            let consumes = manifest.queues.filter { $0.consumer?.function == function.name }.map { JSONValue.string($0.name) }
            let crons = manifest.crons.filter { $0.function == function.name }.map { JSONValue.string($0.schedule) }
            functions.append(
                .object([
                    "name": .string(function.name), "handler": .string(function.handler),
                    "routes": .array(function.routes.map { .string($0.source) }), "consumes": .array(consumes), "crons": .array(crons),
                ])
            )
        }
        let queues = manifest.queues.map { queue -> JSONValue in
            .object([
                "name": .string(queue.name), "consumer": queue.consumer?.function.map(JSONValue.string) ?? .null,
                "dead_letter_queue": queue.consumer?.deadLetterQueue.map(JSONValue.string) ?? .null,
            ])
        }
        return .object([
            "name": .string(manifest.name), "routes": .array(routes), "functions": .array(functions),
            "kv_namespaces": .array(manifest.kvBindings.map(JSONValue.string)), "queues": .array(queues),
            "admin": .object([
                "kv": adminBase(manifest, handler: "kv.api").map(JSONValue.string) ?? .null,
                "queues": adminBase(manifest, handler: "queues.api").map(JSONValue.string) ?? .null,
            ]),
            "test_scheduled": .bool(testScheduled),
        ])
    }

    /// The `<route>` of the first function with `handler` that has a GET route: its path up to
    /// the first `:param` or `*` segment (`/admin/kv` for `GET /admin/kv/*`).
    static func adminBase(_ manifest: Manifest, handler: String) -> String? {
        for function in manifest.functions where function.handler == handler {
            guard let route = function.routes.first(where: { $0.method == "GET" }) else { continue }
            var literals: [String] = []
            for segment in route.segments {
                guard case .literal(let text) = segment else { break }
                literals.append(text)
            }
            return "/" + literals.joined(separator: "/")
        }
        return nil
    }

    /// Security headers of every console answer: nothing but this origin's own files may run or
    /// load, and no other site may frame the page.
    static let securityHeaders: [(String, String)] = [
        (
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ]

    private static func file(_ method: String, _ text: String, type: String) throws -> EdgeResponse {
        try allow(method, "GET")
        var headers: EdgeHeaders = ["Content-Type": type]
        for (name, value) in securityHeaders { headers[name] = value }
        return EdgeResponse(status: 200, headers: headers, body: Data(text.utf8))
    }

    private static func data(_ value: JSONValue) -> EdgeResponse {
        var headers = EdgeHeaders()
        for (name, value) in securityHeaders { headers[name] = value }
        return .json(value, headers: headers)
    }

    private static func allow(_ method: String, _ allowed: String) throws {
        guard method == allowed || (allowed == "GET" && method == "HEAD") else {
            throw EdgeHTTPError(.methodNotAllowed, "use \(allowed)", headers: ["Allow": allowed])
        }
    }
}
