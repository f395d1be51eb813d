// The baseline of scripts/bench-runtime: a bare Hummingbird 2 hello-world on the same machine.
//
//   .build/release/hello-hummingbird [port]
import Hummingbird
import Logging

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8081 : 8081
let router = Router()
router.get("/hello") { _, _ in "hello" }
var logger = Logger(label: "hello")
logger.logLevel = .warning
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
try await app.runService()
