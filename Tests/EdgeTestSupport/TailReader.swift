import EdgeRuntime
import Foundation
import Synchronization

/// A client of `GET /_edge/tail` on a plain connection: sends the request, then collects the
/// `data:` lines of the event stream as they arrive (each arrives as one chunk of the chunked
/// body, so a line is never split across frames).
public final class TailReader: Sendable {
    private let connection: RawConnection
    private struct State {
        var received = ""
        var consumedLines = 0
        var closed = false
    }
    private let state = Mutex(State())

    /// Opens `GET /_edge/tail<query>` on 127.0.0.1:`port` and waits for the answer's head.
    /// - Returns: the reader and the head (`HTTP/1.1 200 OK…`), or the whole answer when refused.
    public static func open(port: Int, query: String = "", token: String?, timeout: Double = 10) async throws -> (reader: TailReader, head: String) {
        let connection = try RawConnection(port: port)
        var request = "GET /_edge/tail\(query) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        connection.send(request + "\r\n")
        let reader = TailReader(connection: connection)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            await reader.pump(for: 0.05)
            let text = reader.state.withLock { $0.received }
            if let end = text.range(of: "\r\n\r\n") {
                let head = String(text[..<end.lowerBound])
                // A refusal has a JSON body: wait for it to end (the server closes or it is complete).
                if !head.hasPrefix("HTTP/1.1 200") { _ = await reader.pump(for: 0.2) }
                return (reader, head.hasPrefix("HTTP/1.1 200") ? head : reader.state.withLock { $0.received })
            }
            if reader.isClosed { break }
        }
        return (reader, reader.state.withLock { $0.received })
    }

    private init(connection: RawConnection) { self.connection = connection }

    /// Goes away, as a client that quits.
    public func disconnect() { connection.shutdownBoth() }

    /// Whether the server closed the stream.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Reads what arrives within `seconds`.
    @discardableResult
    private func pump(for seconds: Double) async -> Bool {
        let got = await connection.receive(timeout: seconds)
        state.withLock { s in
            s.received += got.text
            if got.closed { s.closed = true }
        }
        return got.closed
    }

    /// Every event line received so far, parsed.
    public var events: [JSONValue] {
        state.withLock { Self.dataLines($0.received) }.compactMap { try? JSONValue.parse(Data($0.utf8)) }
    }

    /// Everything received so far (head, chunk framing, comments).
    public var raw: String { state.withLock { $0.received } }

    /// The next event (after those already returned) that satisfies `predicate`, waiting up to
    /// `timeout` seconds; events skipped on the way are consumed.
    public func next(timeout: Double = 10, where predicate: (JSONValue) -> Bool = { _ in true }) async -> JSONValue? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let found = state.withLock { s -> JSONValue? in
                let lines = Self.dataLines(s.received)
                while s.consumedLines < lines.count {
                    let line = lines[s.consumedLines]
                    s.consumedLines += 1
                    if let event = try? JSONValue.parse(Data(line.utf8)), predicate(event) { return event }
                }
                return nil
            }
            if let found { return found }
            if isClosed || Date() >= deadline { return nil }
            await pump(for: 0.05)
        }
    }

    /// Waits up to `timeout` seconds for the server to close the stream. - Returns: whether it did.
    public func waitUntilClosed(timeout: Double = 10) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !isClosed, Date() < deadline { await pump(for: 0.05) }
        return isClosed
    }

    private static func dataLines(_ text: String) -> [String] {
        // By Character: `\r\n` (chunk framing) is one grapheme, so split on every kind of newline.
        text.split(whereSeparator: \.isNewline).compactMap { line in line.hasPrefix("data: ") ? String(line.dropFirst(6)) : nil }
    }
}
