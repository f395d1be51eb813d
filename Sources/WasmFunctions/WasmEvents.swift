import EdgeRuntime
import Foundation
import Queues

/// Queue batches and cron events for a guest: `EDGE_EVENT=queue` with the batch as JSON on
/// stdin and its decisions as JSON on stdout; `EDGE_EVENT=scheduled` with `CRON` and
/// `SCHEDULED_TIME`.
enum WasmEvents {
    /// `{"queue", "messages": [{"id", "timestamp", "body", "content_type", "attempts"}]}`: a JSON
    /// body as its JSON value, text as a string, bytes as a base64 string.
    static func batchJSON(_ batch: MessageBatch) -> Data {
        let messages: [JSONValue] = batch.messages.map { message in
            let body: JSONValue
            switch message.body.contentType {
            case .json: body = (try? JSONValue.parse(message.body.data)) ?? .string(message.body.text ?? "")
            case .text: body = .string(message.body.text ?? "")
            case .bytes: body = .string(Base64.encode(message.body.data))
            }
            return .object([
                "id": .string(message.id), "timestamp": .string(ISO8601Millis.format(message.timestamp)), "body": body,
                "content_type": .string(message.body.contentType.rawValue), "attempts": .integer(Int64(message.attempts)),
            ])
        }
        return JSONValue.object(["queue": .string(batch.queue), "messages": .array(messages)]).serialized()
    }

    /// Applies `{"ack": [id…], "retry": [{"id", "delay_seconds"}]}`; messages not named are
    /// acked when the handler returns. Empty output acks everything.
    /// - Throws: ``WAGIOutputError`` for output that is not this shape (the batch is retried).
    static func applyDecisions(_ output: [UInt8], to batch: MessageBatch) throws(WAGIOutputError) {
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return }
        guard let json = try? JSONValue.parse(text), let object = json.objectValue else {
            throw WAGIOutputError("a queue consumer's stdout must be {\"ack\": […], \"retry\": […]} or empty")
        }
        let byID = Dictionary(batch.messages.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for entry in object["retry"]?.arrayValue ?? [] {
            guard let id = entry["id"]?.stringValue ?? entry.stringValue else { throw WAGIOutputError("retry entries need an \"id\"") }
            var delay: Int?
            if let d = entry["delay_seconds"], !d.isNull {
                guard let n = d.intValue, (0...86_400).contains(n) else { throw WAGIOutputError("retry delay_seconds must be 0…86400") }
                delay = Int(n)
            }
            byID[id]?.retry(delaySeconds: delay, reason: "the wasm consumer asked for a retry")
        }
        for entry in object["ack"]?.arrayValue ?? [] {
            guard let id = entry.stringValue else { throw WAGIOutputError("ack entries are message ids") }
            byID[id]?.ack()
        }
    }

    /// The environment of a cron event.
    static func scheduledEnvironment(_ event: ScheduledEvent) -> [(String, String)] {
        [
            ("EDGE_EVENT", "scheduled"), ("CRON", event.cron),
            ("SCHEDULED_TIME", ISO8601Millis.format(Date(timeIntervalSince1970: event.scheduledTime))),
        ]
    }
}
