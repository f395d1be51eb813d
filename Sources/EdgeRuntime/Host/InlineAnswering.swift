/// A function whose answer to some requests is computed without waiting on anything unbounded
/// (no network, no disk write, no lock held by other requests): a memory lookup, an LMDB read.
///
/// For such a request the pipeline awaits ``EdgeFunction/fetch(_:env:context:)`` in the
/// request's own task instead of racing it against its deadline in a task of its own — the race
/// costs a task, a continuation and two registrations per request, and cannot fire for work that
/// is over in microseconds. Every other request (and every function not conforming) keeps the
/// race: the 504 at `handler_timeout_seconds` and the 503 at the end of the shutdown grace.
public protocol InlineAnswering: EdgeFunction {
    /// Whether `request` (its head; the body is read by then) is answered without unbounded waits.
    func answersInline(_ request: EdgeRequest) -> Bool
}
