// A user-defined function served beside the built-ins:
//
//   swift run my-edge functions.json        (then: curl localhost:8787/hello/ada)
import EdgeRuntime
import Foundation
import Functions
import KVStore
import Logging

/// `GET /hello/:name` → a greeting and how many times this name was greeted (a KV counter).
struct GreetFunction: EdgeFunction {
    let binding: String

    init(config: FunctionConfig) throws {
        binding = try config.kvBinding()  // config.kv, or the only declared binding
    }

    func fetch(_ request: EdgeRequest, env: Env, context: ExecutionContext) async throws -> EdgeResponse {
        let name = request.params["name"] ?? "world"
        let count = try await env.kv(binding).increment("greetings:\(name)", by: 1, expirationTtl: nil)
        let greeting = env.variable("GREETING", default: "Hello")!
        return .json(["message": .string("\(greeting), \(name)!"), "times": .integer(count)])
    }
}

LoggingSystem.bootstrap(StreamLogHandler.standardError)
let registry = BuiltinFunctions.registry()  // kv.api, queues.api, webhooks.deliver, …
registry.register("my.greet", GreetFunction.self)

let manifestPath = CommandLine.arguments.dropFirst().first ?? "functions.json"
do {
    let (manifest, secrets) = try ManifestLoader(registry: registry).load(path: manifestPath)
    var options = ServeOptions()
    options.dataDirectory = ".edge-data"
    let server = try await EdgeServer(
        manifest: manifest,
        secrets: secrets,
        registry: registry,
        options: options,
        logger: Logger(label: "my-edge")
    )
    try await server.run()
} catch let error as ManifestError {
    for line in error.lines { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    exit(1)
}
