import EdgeTestSupport
import Foundation

extension FakeProvider {
    /// A fake upstream for the fetch tests (every request counts a hit under its path, query
    /// excluded: ``FakeProvider/hits(_:)``):
    /// - `/echo`: 200, body = request body; headers `X-Method`, `X-Got-Content-Type` (or `none`),
    ///   `X-Got-Custom`, `X-Got-Expect` (or `none`), `X-Got-Idempotency-Key`, and `X-Multi` twice.
    /// - `/slow/<ms>`: 200 `slow` after `ms` milliseconds.
    /// - `/bytes/<n>` (Content-Length) and `/chunked/<n>` (chunked): `n` bytes of `a`.
    /// - `/flaky/<key>/<failures>/<status>`: `status` for the first `failures` hits, then 200 `ok`.
    /// - `/retry-after/<key>?value=<v>`: the first hit 503 with `Retry-After: v`, then 200 `ok`.
    /// - `/status/<code>`: that status.
    static func startFetchRoutes() async throws -> FakeProvider {
        let fake = try await FakeProvider.start()
        fake.respond { [weak fake] request in await fetchRoute(request, hit: fake?.hits(request.path) ?? 1) }
        return fake
    }

    private static func fetchRoute(_ request: Recorded, hit count: Int) async -> Reply {
        let segments = request.path.split(separator: "/").map(String.init)
        let ok = Data("ok".utf8)
        switch segments.first {
        case "echo":
            return Reply(
                headers: [
                    "X-Method": request.method,
                    "X-Got-Content-Type": request.headers["content-type"] ?? "none",
                    "X-Got-Custom": request.headers["x-custom"] ?? "",
                    "X-Got-Expect": request.headers["expect"] ?? "none",
                    "X-Got-Idempotency-Key": request.headers["idempotency-key"] ?? "none",
                ],
                headerLines: [("X-Multi", "one"), ("X-Multi", "two")],
                body: request.body
            )
        case "slow":
            try? await Task.sleep(for: .milliseconds(Int64(segments[1]) ?? 0))
            return Reply(body: Data("slow".utf8))
        case "bytes":
            return Reply(body: Data(repeating: UInt8(ascii: "a"), count: Int(segments[1]) ?? 0))
        case "chunked":
            return Reply(body: Data(repeating: UInt8(ascii: "a"), count: Int(segments[1]) ?? 0), chunkSize: 16_384)
        case "flaky":
            let failures = Int(segments[2]) ?? 0
            return Reply(status: count <= failures ? Int(segments[3]) ?? 503 : 200, body: ok)
        case "retry-after":
            guard count == 1 else { return Reply(body: ok) }
            let value = request.query.hasPrefix("value=") ? String(request.query.dropFirst(6)).removingPercentEncoding ?? "" : "1"
            return Reply(status: 503, headers: ["Retry-After": value], body: Data("busy".utf8))
        case "status":
            return Reply(status: Int(segments[1]) ?? 500, body: Data("status".utf8))
        default:
            return Reply(status: 404)
        }
    }
}
