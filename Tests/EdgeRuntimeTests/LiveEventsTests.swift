import EdgeRuntime
import Foundation
import Testing

/// The live event bus on its own: filters, bounded buffers, drops reported, close.
@Suite struct LiveEventsTests {
    private func request(_ status: Int, function: String? = "f", path: String = "/x") -> LiveEvent {
        .request(method: "GET", path: path, route: path, function: function, status: status, durationMs: 1.25, requestID: "r1", time: 0)
    }

    @Test func nothingIsBuiltWithoutSubscribers() {
        let live = LiveEvents()
        var built = 0
        live.publish {
            built += 1
            return request(200)
        }
        #expect(built == 0)
        #expect(!live.isObserved)
        let subscription = live.subscribe()
        #expect(live.isObserved)
        live.publish {
            built += 1
            return request(200)
        }
        #expect(built == 1)
        subscription.cancel()
        #expect(!live.isObserved)
    }

    @Test func eventsArriveInOrderWithTheirFields() async {
        let live = LiveEvents()
        let subscription = live.subscribe()
        live.publish { request(200, path: "/a") }
        live.publish { request(404, function: nil, path: "/b") }
        let first = await subscription.next()
        let second = await subscription.next()
        #expect(first?.json["path"]?.stringValue == "/a")
        #expect(first?.json["type"]?.stringValue == "request")
        #expect(first?.json["duration_ms"]?.doubleValue == 1.25)
        #expect(first?.json["time"]?.stringValue == "1970-01-01T00:00:00.000Z")
        #expect(second?.json["status"]?.intValue == 404)
        #expect(second?.json["function"]?.isNull == true)
    }

    @Test func aFullBufferDropsTheOldestAndSaysHowMany() async {
        let live = LiveEvents()
        let subscription = live.subscribe(bufferSize: 3)
        for i in 0..<10 { live.publish { request(200, path: "/\(i)") } }
        let dropped = await subscription.next()
        #expect(dropped?.kind == .dropped)
        #expect(dropped?.json.serialized() == Data(#"{"count":7,"type":"dropped"}"#.utf8))
        var paths: [String] = []
        for _ in 0..<3 { paths.append(await subscription.next()?.json["path"]?.stringValue ?? "") }
        #expect(paths == ["/7", "/8", "/9"])
        #expect(subscription.droppedCount == 7)
    }

    @Test func aSlowSubscriberDoesNotHoldBackAFastOne() async {
        let live = LiveEvents()
        let slow = live.subscribe(bufferSize: 2)
        let fast = live.subscribe(bufferSize: 100)
        for i in 0..<50 { live.publish { request(200, path: "/\(i)") } }
        var seen = 0
        for _ in 0..<50 where await fast.next()?.kind == .request { seen += 1 }
        #expect(seen == 50)
        #expect(await slow.next()?.json["count"]?.intValue == 48)
    }

    @Test func filtersSelectFunctionStatusAndQueue() throws {
        let fivexx = LiveEventFilter(statuses: try LiveEventFilter.statuses("5xx"))
        #expect(fivexx.matches(request(503)))
        #expect(!fivexx.matches(request(200)))
        let exact = LiveEventFilter(statuses: try LiveEventFilter.statuses("404, 2xx"))
        #expect(exact.matches(request(404)) && exact.matches(request(201)) && !exact.matches(request(500)))
        #expect(LiveEventFilter(function: "f").matches(request(200)))
        #expect(!LiveEventFilter(function: "g").matches(request(200)))
        // A request has no queue: a queue filter selects deliveries only.
        #expect(!LiveEventFilter(queue: "payments").matches(request(200)))
        #expect(LiveEventFilter(queue: "payments").matches(.dropped(3)))
        for bad in ["", "6xx", "abc", "50", "5000", ","] {
            #expect(throws: EdgeHTTPError.self) { try LiveEventFilter.statuses(bad) }
        }
    }

    @Test func aFilteredOutEventDoesNotFillTheBuffer() async {
        let live = LiveEvents()
        let subscription = live.subscribe(LiveEventFilter(function: "wanted"), bufferSize: 1)
        for _ in 0..<5 { live.publish { request(200, function: "other") } }
        live.publish { request(201, function: "wanted") }
        let event = await subscription.next()
        #expect(event?.status == 201)
    }

    @Test func closeEndsWaitingReadersAndRefusesNewSubscribers() async {
        let live = LiveEvents()
        let subscription = live.subscribe()
        let reader = Task { await subscription.next() }
        try? await Task.sleep(for: .milliseconds(20))
        live.close()
        #expect(await reader.value == nil)
        #expect(!live.isObserved)
        let late = live.subscribe()
        #expect(await late.next() == nil)
    }

    @Test func cancellingTheReadingTaskEndsTheSubscription() async {
        let live = LiveEvents()
        let subscription = live.subscribe()
        let reader = Task { await subscription.next() }
        reader.cancel()
        #expect(await reader.value == nil)
        #expect(live.subscribers == 0)
    }

    @Test func aHeartbeatWakesAnIdleReaderButNeverOvertakesEvents() async {
        let live = LiveEvents()
        let subscription = live.subscribe()
        subscription.requestHeartbeat()
        #expect(await subscription.next()?.kind == .heartbeat)
        live.publish { request(200) }
        subscription.requestHeartbeat()
        #expect(await subscription.next()?.kind == .request)
        #expect(await subscription.next()?.kind == .heartbeat)
    }
}
