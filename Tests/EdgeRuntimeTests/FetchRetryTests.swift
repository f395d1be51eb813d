import EdgeCore
import EdgeRuntime
import EdgeTestSupport
import Foundation
import KVStore
import Testing

@Suite struct FetchRetryTests {
    @Test func getRetriesOn503ThenSucceeds() async throws {
        try await withServerAndFetcher { server, fetcher, sleeps in
            let response = try await fetcher.fetch(FetchRequest(url: server.url("/flaky/get/2/503")))
            #expect(response.status == 200)
            #expect(response.attempts == 3)
            #expect(server.hits("/flaky/get/2/503") == 3)
            #expect(sleeps.delays.count == 2)
        }
    }

    @Test func postWithIdempotencyKeyRetries() async throws {
        try await withServerAndFetcher { server, fetcher, _ in
            let request = FetchRequest(
                method: "POST",
                url: server.url("/flaky/post-key/1/503"),
                headers: ["Idempotency-Key": "k-1"],
                body: "x"
            )
            let response = try await fetcher.fetch(request)
            #expect(response.status == 200)
            #expect(response.attempts == 2)
            #expect(server.hits("/flaky/post-key/1/503") == 2)
        }
    }

    @Test func plainPostIsNotRetried() async throws {
        try await withServerAndFetcher { server, fetcher, sleeps in
            let response = try await fetcher.fetch(FetchRequest(method: "POST", url: server.url("/flaky/post/1/503"), body: "x"))
            #expect(response.status == 503)
            #expect(response.attempts == 1)
            #expect(server.hits("/flaky/post/1/503") == 1)
            #expect(sleeps.delays.isEmpty)
        }
    }

    @Test func plainPostIsNotRetriedOnConnectionErrors() async throws {
        let refusing = try RefusingPort()
        try await withServerAndFetcher { _, fetcher, sleeps in
            let error = await fetchError {
                _ = try await fetcher.fetch(FetchRequest(method: "POST", url: refusing.url("/"), body: "x"))
            }
            #expect(error?.code == .connection)
            #expect(sleeps.delays.isEmpty)
        }
    }

    @Test func retriesOn429AndStopsAtMaxAttempts() async throws {
        try await withServerAndFetcher { server, fetcher, sleeps in
            var request = FetchRequest(url: server.url("/flaky/limit/10/429"))
            request.maxAttempts = 4
            let response = try await fetcher.fetch(request)
            #expect(response.status == 429)
            #expect(response.attempts == 4)
            #expect(server.hits("/flaky/limit/10/429") == 4)
            #expect(sleeps.delays.count == 3)
        }
    }

    @Test func noRetryOn4xx() async throws {
        try await withServerAndFetcher { server, fetcher, _ in
            let response = try await fetcher.fetch(FetchRequest(url: server.url("/flaky/bad/1/400")))
            #expect(response.status == 400)
            #expect(server.hits("/flaky/bad/1/400") == 1)
        }
    }

    @Test func retryAfterSecondsIsHonoured() async throws {
        try await withServerAndFetcher { server, fetcher, sleeps in
            let response = try await fetcher.fetch(FetchRequest(url: server.url("/retry-after/secs?value=2")))
            #expect(response.status == 200)
            #expect(response.attempts == 2)
            #expect(sleeps.delays == [.seconds(2)])
        }
    }

    @Test func retryAfterHTTPDateIsHonoured() async throws {
        let clock = ManualClock(1_800_000_000)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let date = formatter.string(from: Date(timeIntervalSince1970: 1_800_000_005))
        let query = date.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        try await withServerAndFetcher(clock: clock) { server, fetcher, sleeps in
            let response = try await fetcher.fetch(FetchRequest(url: server.url("/retry-after/date?value=\(query)")))
            #expect(response.status == 200)
            #expect(sleeps.delays == [.seconds(5)])
        }
    }

    @Test func retryAfterBeyondTheCapReturnsTheResponse() async throws {
        try await withServerAndFetcher { server, fetcher, sleeps in
            let response = try await fetcher.fetch(FetchRequest(url: server.url("/retry-after/long?value=3600")))
            #expect(response.status == 503)
            #expect(response.headers["Retry-After"] == "3600")
            #expect(sleeps.delays.isEmpty)
            #expect(server.hits("/retry-after/long") == 1)
        }
    }

    @Test func backoffIsFullJitterUnderTheExponentialCeiling() {
        let policy = RetryPolicy(baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        for attempt in 1...8 {
            let ceiling = min(1.0, 0.1 * pow(2.0, Double(attempt - 1)))
            for _ in 0..<50 {
                let delay = policy.backoff(afterAttempt: attempt)
                #expect(delay >= .zero && delay <= .milliseconds(Int64(ceiling * 1000)))
            }
        }
        // Full jitter spreads over the range rather than sitting at the ceiling.
        let samples = Set((0..<50).map { _ in policy.backoff(afterAttempt: 4) })
        #expect(samples.count > 5)
    }

    @Test func retryAfterParsing() {
        #expect(RetryAfter.delay("120", now: 0) == 120)
        #expect(RetryAfter.delay(" 0 ", now: 0) == 0)
        #expect(RetryAfter.delay("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_777 - 10) == 10)
        #expect(RetryAfter.delay("Sun, 06 Nov 1994 08:49:37 GMT", now: 784_111_777 + 10) == 0)
        #expect(RetryAfter.delay("-5", now: 0) == nil)
        #expect(RetryAfter.delay("soon", now: 0) == nil)
        #expect(RetryAfter.delay("Sun, 31 Feb 1994 08:49:37 GMT", now: 0) == nil)
    }

    @Test func idempotency() {
        #expect(FetchRequest(method: "get", url: "http://x").isRetryable)
        #expect(FetchRequest(method: "DELETE", url: "http://x").isRetryable)
        #expect(!FetchRequest(method: "POST", url: "http://x").isRetryable)
        #expect(!FetchRequest(method: "PATCH", url: "http://x").isRetryable)
        #expect(FetchRequest(method: "POST", url: "http://x", headers: ["idempotency-key": "a"]).isRetryable)
    }
}

@Suite struct CircuitBreakerTests {
    private let settings = CircuitBreaker.Settings(
        failureRatio: 0.5,
        minimumCalls: 4,
        window: .seconds(60),
        bucketCount: 6,
        openDuration: .seconds(30)
    )

    @Test func opensOnFailuresAndHalfOpensAfterTheWait() async throws {
        let clock = ManualClock(1_800_000_000)
        try await withServerAndFetcher(clock: clock, breaker: settings) { server, fetcher, _ in
            let host = "http://127.0.0.1:\(server.port)"
            var failing = FetchRequest(url: server.url("/status/500"))
            failing.maxAttempts = 1
            for _ in 0..<4 {
                let r1 = try await fetcher.fetch(failing)
                #expect(r1.status == 500)
            }
            #expect(fetcher.breaker.state(host: host) == .open)

            // Open: a fast typed error and no call reaches the server.
            let open = await fetchError { _ = try await fetcher.fetch(FetchRequest(url: server.url("/echo"))) }
            #expect(open?.code == .circuitOpen)
            #expect(open?.suggestedStatus == 502)
            #expect(server.hits("/echo") == 0)

            clock.advance(by: 29)
            #expect(await fetchError { _ = try await fetcher.fetch(FetchRequest(url: server.url("/echo"))) }?.code == .circuitOpen)

            // After 30 s one trial goes through; its success closes the circuit.
            clock.advance(by: 1)
            let r2 = try await fetcher.fetch(FetchRequest(url: server.url("/echo")))
            #expect(r2.status == 200)
            #expect(fetcher.breaker.state(host: host) == .closed)
            let r3 = try await fetcher.fetch(FetchRequest(url: server.url("/echo")))
            #expect(r3.status == 200)
            #expect(server.hits("/echo") == 2)
        }
    }

    @Test func aFailedTrialReopens() async throws {
        let clock = ManualClock(1_800_000_000)
        try await withServerAndFetcher(clock: clock, breaker: settings) { server, fetcher, _ in
            var failing = FetchRequest(url: server.url("/status/503"))
            failing.maxAttempts = 1
            for _ in 0..<4 { _ = try await fetcher.fetch(failing) }
            clock.advance(by: 30)
            let r4 = try await fetcher.fetch(failing)
            #expect(r4.status == 503)  // the trial
            #expect(fetcher.breaker.state(host: "http://127.0.0.1:\(server.port)") == .open)
            #expect(await fetchError { _ = try await fetcher.fetch(failing) }?.code == .circuitOpen)
            #expect(server.hits("/status/503") == 5)
        }
    }

    @Test func connectionErrorsCountAndHostsAreSeparate() async throws {
        let clock = ManualClock(1_800_000_000)
        let refusing = try RefusingPort()
        try await withServerAndFetcher(clock: clock, breaker: settings) { server, fetcher, _ in
            var dead = FetchRequest(url: refusing.url("/"))
            dead.maxAttempts = 4  // four attempts fill the window with failures
            #expect(await fetchError { _ = try await fetcher.fetch(dead) }?.code == .connection)
            #expect(await fetchError { _ = try await fetcher.fetch(dead) }?.code == .circuitOpen)
            // Another host (port) is unaffected.
            let r5 = try await fetcher.fetch(FetchRequest(url: server.url("/echo")))
            #expect(r5.status == 200)
        }
    }

    @Test func belowMinimumCallsOrRatioStaysClosed() throws {
        let clock = ManualClock(0)
        let breaker = CircuitBreaker(settings: settings, clock: clock)
        func call(_ failed: Bool, _ host: String = "h") throws { breaker.record(try breaker.admit(host: host), failed: failed) }
        for _ in 0..<3 { try call(true, "few") }
        #expect(breaker.state(host: "few") == .closed)  // 100% failed, but 3 calls < minimum 4
        for _ in 0..<3 { try call(false) }
        try call(true)
        try call(true)
        #expect(breaker.state(host: "h") == .closed)  // 2 of 5 failed
        try call(true)
        #expect(breaker.state(host: "h") == .open)  // 3 of 6 = 50%
    }

    @Test func oldOutcomesLeaveTheWindow() throws {
        let clock = ManualClock(0)
        let breaker = CircuitBreaker(settings: settings, clock: clock)
        for _ in 0..<3 { breaker.record(try breaker.admit(host: "h"), failed: true) }
        clock.advance(by: 61)  // those failures age out of the 60 s window
        for failed in [true, false, false] { breaker.record(try breaker.admit(host: "h"), failed: failed) }
        #expect(breaker.state(host: "h") == .closed)
    }

    @Test func halfOpenLetsExactlyOneTrialThrough() throws {
        let clock = ManualClock(0)
        let breaker = CircuitBreaker(settings: settings, clock: clock)
        for _ in 0..<4 { breaker.record(try breaker.admit(host: "h"), failed: true) }
        clock.advance(by: 30)
        let trial = try breaker.admit(host: "h")
        #expect(trial.isTrial)
        #expect(throws: FetchError.self) { try breaker.admit(host: "h") }
        // A cancelled trial releases the slot for the next caller.
        breaker.record(trial, failed: nil)
        let next = try breaker.admit(host: "h")
        #expect(next.isTrial)
        breaker.record(next, failed: false)
        #expect(breaker.state(host: "h") == .closed)
        #expect(!(try breaker.admit(host: "h").isTrial))
    }
}
