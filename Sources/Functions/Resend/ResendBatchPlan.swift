import EdgeRuntime
import Foundation

/// The pure decisions of `resend.batch`: how a batch splits into calls, the idempotency key of
/// a call, and what an answer means for the messages in it. No I/O, so tests drive it directly.
enum ResendBatchPlan {
    /// Resend's limit on emails in one `POST /emails/batch`.
    static let maxEmailsPerCall = 100

    /// Groups `items` by `key` (groups in order of first appearance, items in their order) and
    /// splits each group into chunks of at most `cap`.
    static func calls<T>(_ items: [T], groupedBy key: (T) -> String, cap: Int = maxEmailsPerCall) -> [[T]] {
        precondition(cap > 0, "cap must be positive")
        var order: [String] = []
        var groups: [String: [T]] = [:]
        for item in items {
            let k = key(item)
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(item)
        }
        return order.flatMap { k -> [[T]] in
            let group = groups[k]!
            return stride(from: 0, to: group.count, by: cap).map { Array(group[$0..<min($0 + cap, group.count)]) }
        }
    }

    /// The `Idempotency-Key` of a call: derived from the queue message ids it carries (order-free),
    /// so a redelivery of the same messages repeats the key and Resend sends nothing twice.
    static func idempotencyKey(messageIDs: [String]) -> String {
        "edge-run-" + Hex.encode(Crypto.sha256(messageIDs.sorted().joined(separator: ",")).prefix(16))
    }

    /// What an answer means for the messages of the call.
    enum Outcome: Equatable {
        /// Accepted: Resend's email ids, in the order of the emails sent.
        case sent(ids: [String])
        /// Try again later (429 after `Retry-After`, 5xx and others after the retry delay);
        /// `rateLimited`: the calls after this one should wait too.
        case retry(delaySeconds: Int, reason: String, rateLimited: Bool)
        /// Retrying cannot help (a validation error): dead-letter now.
        case deadLetter(reason: String)
    }

    /// Classifies Resend's answer.
    /// - Parameters:
    ///   - response: the final answer after `fetch`'s own retries.
    ///   - retryDelay: seconds before a failed call is tried again (the function's `retry_delay`).
    ///   - now: unix seconds, for an HTTP-date `Retry-After`.
    static func outcome(of response: FetchResponse, retryDelay: Int, now: Double) -> Outcome {
        let message = errorMessage(response)
        switch response.status {
        case 200..<300:
            struct Answer: Decodable {
                struct Sent: Decodable { let id: String }
                let data: [Sent]
            }
            let ids = (try? JSONDecoder().decode(Answer.self, from: Data(response.body)))?.data.map(\.id) ?? []
            return .sent(ids: ids)
        case 429:
            let after = response.headers["Retry-After"].flatMap { RetryAfter.delay($0, now: now) }
            let delay = after.map { max(1, Int($0.rounded(.up))) } ?? retryDelay
            return .retry(delaySeconds: delay, reason: "Resend rate limit (429): \(message)", rateLimited: true)
        case 400, 413, 422:
            return .deadLetter(reason: "Resend refused the batch (\(response.status)): \(message)")
        default:
            return .retry(delaySeconds: retryDelay, reason: "Resend answered \(response.status): \(message)", rateLimited: false)
        }
    }

    /// Resend's error message (`{"message": …}`), or the start of the body.
    static func errorMessage(_ response: FetchResponse) -> String {
        if let message = (try? JSONValue.parse(Data(response.body)))?["message"]?.stringValue { return message }
        return String(response.text.prefix(200))
    }
}
