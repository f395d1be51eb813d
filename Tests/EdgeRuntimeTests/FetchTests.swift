import EdgeRuntime
import EdgeTestSupport
import Foundation
import KVStore
import Synchronization
import Testing

/// Records the delays the fetcher asks for instead of sleeping.
final class SleepRecorder: Sendable {
    private let recorded = Mutex<[Duration]>([])
    var delays: [Duration] { recorded.withLock { $0 } }
    var sleep: @Sendable (Duration) async throws -> Void {
        { [self] delay in self.recorded.withLock { $0.append(delay) } }
    }
}

/// Starts a server and a fetcher, runs `body`, and tears both down.
func withServerAndFetcher(
    clock: any WallClock = SystemWallClock(),
    breaker: CircuitBreaker.Settings = .init(minimumCalls: 1_000),
    _ body: (FakeProvider, CurlFetcher, SleepRecorder) async throws -> Void
) async throws {
    let server = try await FakeProvider.startFetchRoutes()
    let sleeps = SleepRecorder()
    let fetcher = CurlFetcher(configuration: .init(breaker: breaker, clock: clock, sleep: sleeps.sleep))
    do {
        try await body(server, fetcher, sleeps)
    } catch {
        fetcher.shutdown()
        try await server.stop()
        throw error
    }
    fetcher.shutdown()
    try await server.stop()
}

/// The error `body` throws as a FetchError, or nil.
func fetchError(_ body: () async throws -> Void) async -> FetchError? {
    do {
        try await body()
        return nil
    } catch let error as FetchError {
        return error
    } catch {
        return FetchError(.invalidRequest, "unexpected \(error)")
    }
}

@Suite struct FetchRoundTripTests {
    @Test func getRoundTrip() async throws {
        try await withServerAndFetcher { server, fetcher, _ in
            let response = try await fetcher.fetch(FetchRequest(url: server.url("/echo"), headers: ["X-Custom": "hello"]))
            #expect(response.status == 200)
            #expect(response.body.isEmpty)
            #expect(response.attempts == 1)
            #expect(response.headers["x-method"] == "GET")
            #expect(response.headers["X-Got-Custom"] == "hello")
            #expect(response.headers["X-Got-Content-Type"] == "none")
            #expect(response.headers.values(for: "X-Multi") == ["one", "two"])
        }
    }

    @Test func postRoundTripWithExactBodyAndHeaders() async throws {
        try await withServerAndFetcher { server, fetcher, _ in
            var body = Array(#"{"amount":2000,"currency":"usd"}"#.utf8)
            body += [0, 255, 10, 13]  // binary bytes travel unchanged
            body += Array(repeating: UInt8(ascii: "x"), count: 4_000)  // larger than curl's Expect threshold
            let request = FetchRequest(
                method: "post",
                url: server.url("/echo"),
                headers: ["Content-Type": "application/json", "X-Custom": "a b c"],
                body: body
            )
            let response = try await fetcher.fetch(request)
            #expect(response.status == 200)
            #expect(response.body == body)
            #expect(response.headers["X-Method"] == "POST")
            #expect(response.headers["X-Got-Content-Type"] == "application/json")
            #expect(response.headers["X-Got-Custom"] == "a b c")
            #expect(response.headers["X-Got-Expect"] == "none")
        }
    }

    @Test(arguments: ["PUT", "PATCH", "DELETE"])
    func otherMethodsCarryTheirBody(_ method: String) async throws {
        try await withServerAndFetcher { server, fetcher, _ in
            let response = try await fetcher.fetch(FetchRequest(method: method, url: server.url("/echo"), body: "payload"))
            #expect(response.headers["X-Method"] == method)
            #expect(response.text == "payload")
            #expect(response.headers["X-Got-Content-Type"] == "none")
        }
    }

    @Test func headRequest() async throws {
        try await withServerAndFetcher { server, fetcher, _ in
            let response = try await fetcher.fetch(FetchRequest(method: "HEAD", url: server.url("/bytes/100")))
            #expect(response.status == 200)
            #expect(response.body.isEmpty)
        }
    }

    @Test func invalidRequestsAreRefusedBeforeSending() async throws {
        try await withServerAndFetcher { server, fetcher, _ in
            let badHeader = await fetchError {
                _ = try await fetcher.fetch(FetchRequest(url: server.url("/echo"), headers: ["X-Evil": "a\r\nInjected: 1"]))
            }
            #expect(badHeader?.code == .invalidRequest)
            let badScheme = await fetchError { _ = try await fetcher.fetch(FetchRequest(url: "file:///etc/passwd")) }
            #expect(badScheme?.code == .invalidRequest)
            #expect(server.hits("/echo") == 0)
        }
    }

    @Test func totalTimeout() async throws {
        try await withServerAndFetcher { server, fetcher, sleeps in
            var request = FetchRequest(url: server.url("/slow/3000"))
            request.timeout = .milliseconds(200)
            let error = await fetchError { _ = try await fetcher.fetch(request) }
            #expect(error?.code == .timeout)
            #expect(error?.suggestedStatus == 504)
            // Timeouts are not retried: no wait before a second attempt, at most one request
            // (on a loaded machine the fake may not have read it within the 200 ms).
            #expect(sleeps.delays.isEmpty)
            #expect(server.hits("/slow/3000") <= 1)
        }
    }

    @Test func responseSizeCapWithContentLengthAndChunked() async throws {
        try await withServerAndFetcher { server, fetcher, _ in
            for path in ["/bytes/100000", "/chunked/100000"] {
                var request = FetchRequest(url: server.url(path))
                request.maxResponseBytes = 50_000
                let error = await fetchError { _ = try await fetcher.fetch(request) }
                #expect(error?.code == .tooLarge, "\(path)")
                #expect(error?.suggestedStatus == 502)
                request.maxResponseBytes = 100_000
                let response = try await fetcher.fetch(request)
                #expect(response.body.count == 100_000, "\(path)")
            }
        }
    }

    @Test func connectionRefused() async throws {
        let refusing = try RefusingPort()
        try await withServerAndFetcher { _, fetcher, sleeps in
            var request = FetchRequest(url: refusing.url("/x"))
            request.maxAttempts = 3
            let error = await fetchError { _ = try await fetcher.fetch(request) }
            #expect(error?.code == .connection)
            #expect(sleeps.delays.count == 2)  // retried twice: GET is idempotent
            #expect(!(error?.message.contains("/x") ?? true))  // names the host, not the URL
        }
    }

    @Test func manyConcurrentRequests() async throws {
        try await withServerAndFetcher { server, fetcher, _ in
            let statuses = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for i in 0..<200 {
                    group.addTask {
                        let path = i % 2 == 0 ? "/echo" : "/slow/20"
                        let r = try await fetcher.fetch(FetchRequest(method: "POST", url: server.url(path), body: "n\(i)"))
                        return (r.status, i % 2 == 0 ? (r.text == "n\(i)" ? "ok" : "bad body") : "ok")
                    }
                }
                var all: [(Int, String)] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(statuses.count == 200)
            #expect(statuses.allSatisfy { $0 == (200, "ok") })
        }
    }

    @Test func cancellationStopsAnInFlightRequest() async throws {
        try await withServerAndFetcher { server, fetcher, _ in
            let task = Task { try await fetcher.fetch(FetchRequest(url: server.url("/slow/5000"))) }
            let deadline = ContinuousClock.now + .seconds(10)
            while server.hits("/slow/5000") == 0, ContinuousClock.now < deadline { await Task.yield() }
            task.cancel()
            await #expect(throws: CancellationError.self) { try await task.value }
        }
    }

    @Test func shutdownFailsLaterRequests() async throws {
        let fetcher = CurlFetcher()
        fetcher.shutdown()
        let error = await fetchError { _ = try await fetcher.fetch(FetchRequest(url: "http://127.0.0.1:9/")) }
        #expect(error?.code == .shutdown)
    }
}
