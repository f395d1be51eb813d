import Testing

@testable import EdgeRuntime

/// The deadlines of one connection, driven event by event with no I/O.
@Suite("Connection state machine")
struct ConnectionStateMachineTests {
    static let timeouts = ConnectionTimeouts(header: .seconds(10), body: .seconds(30), idle: .seconds(60), linger: .seconds(2))

    @Test func aKeepAliveRequestCycleMovesHeaderBodyIdle() {
        var m = ConnectionStateMachine(timeouts: Self.timeouts)
        #expect(m.opened() == .schedule(.header, .seconds(10)))
        #expect(m.bytesReceived() == .none, "the header timer runs from the connection's start")
        #expect(m.headReceived() == .cancelTimer)
        #expect(m.readComplete() == .schedule(.body, .seconds(30)))
        #expect(m.endReceived() == .cancelTimer)
        #expect(m.responseHeadWritten() == false)
        #expect(m.responseEndWritten() == .schedule(.idle, .seconds(60)))
        // The next request's first byte swaps the idle timer for the header timer.
        #expect(m.bytesReceived() == .schedule(.header, .seconds(10)))
        #expect(m.headReceived() == .cancelTimer)
        #expect(m.endReceived() == .none)
        #expect(m.readComplete() == .none, "a request without a body never starts the body timer")
    }

    @Test func answeringBeforeTheBodyEndsClosesTheConnection() {
        var m = ConnectionStateMachine(timeouts: Self.timeouts)
        _ = m.opened()
        _ = m.headReceived()
        _ = m.readComplete()
        #expect(m.responseHeadWritten() == true)
        #expect(m.responseEndWritten() == .closeOutputAndLinger(.seconds(2)))
        #expect(m.bytesReceived() == .none, "bytes after that are the discarded body")
        #expect(m.timerFired(.linger) == .close)
    }

    @Test func aBodyPastItsDeadlineFailsTheReadThenClosesAfterTheAnswer() {
        var m = ConnectionStateMachine(timeouts: Self.timeouts)
        _ = m.opened()
        _ = m.headReceived()
        _ = m.readComplete()
        #expect(m.timerFired(.body) == .failBodyRead(linger: .seconds(2)))
        #expect(m.responseHeadWritten() == true)
        #expect(m.responseEndWritten() == .closeOutputAndLinger(.seconds(2)))
    }

    @Test func staleTimersAreIgnoredAndIdleOrHeaderTimeoutsClose() {
        var m = ConnectionStateMachine(timeouts: Self.timeouts)
        _ = m.opened()
        _ = m.headReceived()
        #expect(m.timerFired(.header) == .none, "cancelled before it fired")
        _ = m.endReceived()
        _ = m.responseHeadWritten()
        _ = m.responseEndWritten()
        #expect(m.timerFired(.idle) == .close)
        var fresh = ConnectionStateMachine(timeouts: Self.timeouts)
        _ = fresh.opened()
        #expect(fresh.timerFired(.header) == .close)
    }

    @Test func aPipelinedRequestDoesNotCloseTheConnectionOfTheOneBefore() {
        var m = ConnectionStateMachine(timeouts: Self.timeouts)
        _ = m.opened()
        _ = m.headReceived()
        _ = m.endReceived()
        _ = m.bytesReceived()
        _ = m.headReceived()  // the second request arrives before the first is answered
        #expect(m.responseHeadWritten() == false)
        #expect(m.responseEndWritten() == .none)
        #expect(m.requestsOpen == 1)
    }
}
