// Emails per second through resend.send → the email queue → resend.batch → a local fake Resend,
// at consumer batch size 100. Everything runs in this process on loopback: the edge-run
// server, a Hummingbird fake of `POST /emails/batch`, and a libcurl client keeping
// `--connections` requests in flight.
//
//   swift build -c release --product messaging-bench
//   .build/release/messaging-bench [--emails 50000] [--connections 64] [--concurrency 2] [--data DIR]
import EdgeRuntime
import Foundation
import Functions
import HTTPTypes
import Hummingbird
import KVStore
import Logging
import Queues
import ServiceLifecycle
import Synchronization

var arguments = CommandLine.arguments.dropFirst().makeIterator()
var emails = 50_000
var connections = 64
var consumerConcurrency = 2
var dataRoot = FileManager.default.temporaryDirectory.path
while let arg = arguments.next() {
    switch arg {
    case "--emails": emails = Int(arguments.next()!)!
    case "--connections": connections = Int(arguments.next()!)!
    case "--concurrency": consumerConcurrency = Int(arguments.next()!)!
    case "--data": dataRoot = arguments.next()!
    default: fatalError("unknown argument \(arg)")
    }
}

let emailCount = emails
let connectionCount = connections

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .notice
    return handler
}

/// What the fake Resend saw.
final class Received: Sendable {
    let state = Mutex((emails: 0, calls: 0, largest: 0, nextID: 0))
}
let received = Received()

// The fake Resend: counts emails and answers one id per email, as Resend does.
let fakeReady = AsyncStream<Int>.makeStream()
let fakeRouter = Router()
fakeRouter.post("/emails/batch") { request, context -> Response in
    let body = try await request.body.collect(upTo: 16 << 20)
    let count = (try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [Any])?.count ?? 0
    let first = received.state.withLock { s -> Int in
        s.emails += count
        s.calls += 1
        s.largest = max(s.largest, count)
        s.nextID += count
        return s.nextID - count
    }
    let ids = (0..<count).map { #"{"id":"em_\#(first + $0)"}"# }.joined(separator: ",")
    return Response(
        status: .ok,
        headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(string: #"{"data":[\#(ids)]}"#))
    )
}
let fake = Application(
    router: fakeRouter,
    configuration: .init(address: .hostname("127.0.0.1", port: 0)),
    onServerRunning: { channel in
        fakeReady.continuation.yield(channel.localAddress?.port ?? 0)
        fakeReady.continuation.finish()
    },
    logger: Logger(label: "fake-resend")
)
let fakeGroup = ServiceGroup(configuration: .init(services: [fake], gracefulShutdownSignals: [], logger: Logger(label: "fake")))
let fakeTask = Task { try await fakeGroup.run() }
var fakePort = 0
for await port in fakeReady.stream { fakePort = port }

// The edge-run server: resend.send → "emails" (batch 100) → resend.batch.
let manifestJSON: JSONValue = [
    "vars": ["RESEND_API_BASE": .string("http://127.0.0.1:\(fakePort)"), "FROM_EMAIL": "Bench <bench@example.com>"],
    "secrets": ["RESEND_API_KEY"],
    "kv_namespaces": [["binding": "KV"]],
    "queues": [
        [
            "name": "emails",
            "consumer": [
                "function": "email-batch", "max_batch_size": 100, "max_batch_timeout": 0.05,
                "max_concurrency": .integer(Int64(consumerConcurrency)),
            ],
        ]
    ],
    "functions": [
        ["name": "send", "handler": "resend.send", "routes": ["POST /emails"], "config": ["queue": "emails"]],
        ["name": "email-batch", "handler": "resend.batch"],
    ],
]
let data = dataRoot + "/messaging-bench-\(UUID().uuidString)"
try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: data) }
let registry = BuiltinFunctions.registry()
let (manifest, secrets) = try ManifestLoader(registry: registry).validate(
    manifestJSON,
    file: "bench.json",
    baseDirectory: data,
    environment: ["RESEND_API_KEY": "re_bench"],
    envFile: [:]
)
var options = ServeOptions()
options.port = 0
options.dataDirectory = data
options.shutdownSignals = []
var serverLogger = Logger(label: "edge-run")
serverLogger.logLevel = .notice
let server = try await EdgeServer(manifest: manifest, secrets: secrets, registry: registry, options: options, logger: serverLogger)
let edgeReady = AsyncStream<Int>.makeStream()
let serverTask = Task {
    try await server.run(onReady: {
        edgeReady.continuation.yield($0)
        edgeReady.continuation.finish()
    })
}
var edgePort = 0
for await port in edgeReady.stream { edgePort = port }

// The client: `connections` loops, each POSTing its share of the emails one after another.
let client = CurlFetcher()
let url = "http://127.0.0.1:\(edgePort)/emails"
func post(_ i: Int) async throws -> Int {
    let body =
        #"{"to":"user\#(i)@example.com","subject":"Welcome","template":"welcome","data":{"name":"User \#(i)","product":"Bench"},"tags":[{"name":"run","value":"bench"}]}"#
    var request = FetchRequest(method: "POST", url: url, headers: ["Content-Type": "application/json"], body: body)
    request.maxAttempts = 1
    return try await client.fetch(request).status
}
// Warm-up: one email end to end (connections, templates, the first commit).
guard try await post(-1) == 202 else { fatalError("resend.send did not answer 202") }
while received.state.withLock({ $0.emails }) < 1 { try await Task.sleep(for: .milliseconds(5)) }
received.state.withLock { $0 = (0, 0, 0, $0.nextID) }

print(
    "messaging-bench: \(emails) emails, \(connections) connections, consumer batch 100 × concurrency \(consumerConcurrency), \(ProcessInfo.processInfo.activeProcessorCount) cores"
)
let clock = ContinuousClock()
let start = clock.now
let failures = try await withThrowingTaskGroup(of: Int.self) { group in
    for worker in 0..<connectionCount {
        group.addTask {
            var failed = 0
            var i = worker
            while i < emailCount {
                if try await post(i) != 202 { failed += 1 }
                i += connectionCount
            }
            return failed
        }
    }
    var total = 0
    for try await failed in group { total += failed }
    return total
}
let accepted = clock.now - start
while received.state.withLock({ $0.emails }) < emails - failures { try await Task.sleep(for: .milliseconds(1)) }
let delivered = clock.now - start
// Drained: every batch finished, so every `email:<id>` record is written.
while true {
    let stats = try await server.broker.stats("emails")
    if stats.pending == 0 && stats.inFlight == 0 && stats.delayed == 0 { break }
    try await Task.sleep(for: .milliseconds(1))
}
let drained = clock.now - start
let seen = received.state.withLock { $0 }

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
func rate(_ d: Duration) -> String { String(format: "%8.0f /s", Double(emailCount) / seconds(d)) }
print(String(format: "accepted by resend.send (202, durable):   %7.2f s  %@", seconds(accepted), rate(accepted)))
print(String(format: "received by the fake Resend:              %7.2f s  %@", seconds(delivered), rate(delivered)))
print(String(format: "queue drained, email:<id> records logged: %7.2f s  %@", seconds(drained), rate(drained)))
print(
    "batch calls: \(seen.calls), emails: \(seen.emails), largest call: \(seen.largest), average \(seen.calls > 0 ? seen.emails / seen.calls : 0) per call, non-202: \(failures)"
)

client.shutdown()
await server.shutdown()
try await serverTask.value
await fakeGroup.triggerGracefulShutdown()
try await fakeTask.value
