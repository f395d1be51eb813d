import EdgeRuntime
import EdgeTestSupport
import Foundation
import Functions
import Testing

/// `/_edge/openapi.json` and `edge-run openapi`: an OpenAPI 3.1 document that covers every
/// mounted route, for the bundled manifest and for one mounting every built-in handler.
@Suite("OpenAPI document")
struct OpenAPITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let bundled = root.appendingPathComponent("functions.json").path
    static let everyHandler = root.appendingPathComponent("Tests/FunctionsTests/Fixtures/every-handler.json").path

    static func load(_ path: String) throws -> Manifest {
        try ManifestLoader(registry: BuiltinFunctions.registry()).load(path: path, environment: [:], requireSecrets: false).manifest
    }

    static func document(_ manifest: Manifest, testScheduled: Bool = false) throws -> JSONValue {
        let data = OpenAPIDocument.data(manifest: manifest, registry: BuiltinFunctions.registry(), options: .init(testScheduled: testScheduled))
        return try JSONValue.parse(data)
    }

    /// Every documented operation as (method, path).
    static func operations(_ document: JSONValue) -> [(method: String, path: String, operation: JSONValue)] {
        (document["paths"]?.objectValue ?? [:]).flatMap { path, item in
            (item.objectValue ?? [:]).map { (method: $0.key.uppercased(), path: path, operation: $0.value) }
        }
    }

    /// `/admin/kv/{namespace}/values/{key}` → segments with a sample value per parameter.
    static func concreteSegments(_ path: String) -> [String] {
        path.split(separator: "/").map { $0.hasPrefix("{") ? "x" : String($0) }
    }

    @Test(arguments: [bundled, everyHandler])
    func theDocumentIsOpenAPI31ShapedAndCoversEveryMountedRoute(_ path: String) throws {
        let manifest = try Self.load(path)
        let document = try Self.document(manifest)
        #expect(document["openapi"] == "3.1.0")
        #expect(document["info"]?["title"]?.stringValue == manifest.name)
        #expect(document["info"]?["version"]?.stringValue?.isEmpty == false)
        #expect(document["components"]?["schemas"]?["Error"]?["required"] == ["error", "request_id"])
        let operations = Self.operations(document)
        var ids = Set<String>()
        for (method, path, operation) in operations {
            let label = "\(method) \(path)"
            #expect(path.hasPrefix("/"), "\(label)")
            #expect(RoutePatternMethods.contains(method), "\(label)")
            let id = operation["operationId"]?.stringValue ?? ""
            #expect(ids.insert(id).inserted, "\(label): operationId \(id) is not unique")
            let responses = operation["responses"]?.objectValue ?? [:]
            #expect(!responses.isEmpty, "\(label) has no responses")
            for (status, response) in responses {
                #expect(status == "default" || Int(status).map { (100...599).contains($0) } == true, "\(label): status \(status)")
                #expect(response["description"]?.stringValue != nil, "\(label) \(status) has no description")
                if let code = Int(status), code >= 400, status != "503" || path != "/_edge/health" {
                    #expect(response["content"]?["application/json"]?["schema"]?["$ref"] == "#/components/schemas/Error", "\(label) \(status)")
                }
            }
            // Every {param} of the path is declared as a required path parameter, and nothing else is.
            let declared = (operation["parameters"]?.arrayValue ?? []).filter { $0["in"] == "path" }
            #expect(Set(declared.compactMap { $0["name"]?.stringValue }) == Set(OpenAPIDocument.pathParameterNames(path)), "\(label)")
            #expect(declared.allSatisfy { $0["required"] == true }, "\(label)")
            if let security = operation["security"]?.arrayValue {
                for requirement in security {
                    for scheme in requirement.objectValue?.keys.sorted() ?? [] {
                        #expect(document["components"]?["securitySchemes"]?[scheme] != nil, "\(label): scheme \(scheme) is not declared")
                    }
                }
                #expect(responses["401"] != nil, "\(label) needs credentials but does not document 401")
            }
        }
        // Every mounted route has a documented operation that reaches it, and every documented
        // function operation is reached by a mounted route.
        let routes = manifest.functions.flatMap(\.routes)
        for route in routes {
            let covered = operations.contains { $0.method == route.method && route.match(Self.concreteSegments($0.path)) != nil }
            #expect(covered, "route \(route) is not in the document")
        }
        #expect(operations.contains { $0.path == "/_edge/tail" } == manifest.functions.contains { ["kv.api", "queues.api"].contains($0.handler) })
        for (method, path, _) in operations where !path.hasPrefix("/_edge/") && path != "/__scheduled" {
            #expect(routes.contains { $0.method == method && $0.match(Self.concreteSegments(path)) != nil }, "\(method) \(path) is not mounted")
        }
        #expect(operations.contains { $0.method == "GET" && $0.path == "/_edge/openapi.json" })
        #expect(!operations.contains { $0.path == "/__scheduled" })
        #expect(try Self.operations(Self.document(manifest, testScheduled: true)).contains { $0.path == "/__scheduled" })
    }

    @Test func adminSubPathsWebhookHeadersAndSecurityAreSpelledOut() throws {
        let document = try Self.document(try Self.load(Self.everyHandler))
        let paths = document["paths"]!
        for (method, path) in [
            ("get", "/admin/kv/{namespace}/values/{key}"), ("put", "/admin/kv/{namespace}/values/{key}"),
            ("delete", "/admin/kv/{namespace}/values/{key}"), ("get", "/admin/kv/{namespace}/keys"),
            ("get", "/admin/queues"), ("get", "/admin/queues/{queue}/messages"), ("post", "/admin/queues/{queue}/messages"),
            ("post", "/admin/queues/{queue}/messages/batch"), ("post", "/admin/queues/{queue}/redrive"),
        ] {
            #expect(paths[path]?[method]?["security"] == [["admin_token": []]], "\(method) \(path)")
        }
        func headers(_ path: String) -> [String: JSONValue] {
            let parameters = paths[path]?["post"]?["parameters"]?.arrayValue ?? []
            return Dictionary(parameters.filter { $0["in"] == "header" }.map { ($0["name"]!.stringValue!, $0["required"] ?? false) }) { a, _ in a }
        }
        #expect(headers("/webhooks/stripe") == ["Stripe-Signature": true])
        #expect(headers("/sms/status") == ["X-Twilio-Signature": true])
        #expect(headers("/webhooks/clerk")["svix-signature"] != nil && headers("/webhooks/resend")["svix-id"] != nil)
        #expect(paths["/sms/status"]?["post"]?["requestBody"]?["content"]?["application/x-www-form-urlencoded"] != nil)
        #expect(paths["/me"]?["get"]?["security"] == [["jwt_clerk": []]])
        // The developer endpoints exist with an admin function, behind its token.
        #expect(paths["/_edge/tail"]?["get"]?["security"] == [["admin_token": []]])
        #expect(paths["/_edge/tail"]?["get"]?["responses"]?["200"]?["content"]?["text/event-stream"] != nil)
        #expect(paths["/sms"]?["post"]?["responses"]?["429"]?["headers"]?["Retry-After"] != nil)
    }

    @Test func everyBuiltinHandlerThatServesHTTPDescribesItself() {
        let registry = BuiltinFunctions.registry()
        for name in registry.handlerNames {
            guard let type = registry.type(for: name), type.kinds.contains(.fetch) else { continue }
            #expect(type is any OpenAPIDescribed.Type, "\(name) serves HTTP but does not describe its operations")
        }
    }

    @Test func serveAndTheCLIGiveTheSameBytesAndABadManifestExits1() async throws {
        let folder = TemporaryFolder("openapi")
        defer { folder.cleanup() }
        let secrets = try Self.load(Self.everyHandler).secrets.map { "\($0)=whsec_dGVzdHNlY3JldA==" }.joined(separator: "\n")
        let envFile = folder.path + "/secrets.env"
        try Data(secrets.utf8).write(to: URL(fileURLWithPath: envFile))
        let printed = try runEdgeRun(["openapi", "--manifest", Self.everyHandler, "--test-scheduled"])
        #expect(printed.status == 0, "\(printed.stderr)")
        let server = try await ServeProcess.start([
            "--manifest", Self.everyHandler, "--env-file", envFile, "--port", "0",
            "--data", folder.path + "/data", "--test-scheduled",
        ])
        let served = try await TestClient(base: server.base).get("/_edge/openapi.json")
        await server.stop()
        #expect(served.status == 200)
        #expect(served.headers["Content-Type"] == "application/json")
        #expect(Data(served.body) == printed.stdout)

        let bad = folder.path + "/bad.json"
        try Data(#"{"functions": [{"name": "x", "handler": "no.such", "routes": ["GET /x"]}]}"#.utf8).write(to: URL(fileURLWithPath: bad))
        let refused = try runEdgeRun(["openapi", "--manifest", bad])
        #expect(refused.status == 1)
        #expect(refused.stdout.isEmpty)
        #expect(refused.stderr.contains("unknown handler \"no.such\""))
    }
}

private let RoutePatternMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
