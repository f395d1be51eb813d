import Foundation
import Testing

@testable import EdgeRuntime

/// The request path's byte-level helpers (path splitting, wildcard joining, bearer tokens,
/// request ids): each was rewritten for speed, so each is checked against what the slower,
/// obvious version answered.
@Suite struct RequestPathTests {
    @Test func pathSegmentsSplitOnSlashesAndDecodeEscapes() {
        #expect(Router.segments(of: "/") == [])
        #expect(Router.segments(of: "") == [])
        #expect(Router.segments(of: "/hello") == ["hello"])
        #expect(Router.segments(of: "/admin/kv/KV/values/bench-key") == ["admin", "kv", "KV", "values", "bench-key"])
        #expect(Router.segments(of: "//a///b/") == ["a", "b"])
        #expect(Router.segments(of: "/echo/a%20b/c") == ["echo", "a b", "c"])
        #expect(Router.segments(of: "/a/b%2Fc") == ["a", "b/c"])
        #expect(Router.segments(of: "/caf%C3%A9/na%C3%AFve") == ["café", "naïve"])
        #expect(Router.segments(of: "/ünï/cödé") == ["ünï", "cödé"])
        #expect(Router.segments(of: "/ok/%zz") == nil)
        #expect(Router.segments(of: "/ok/%") == nil)
    }

    @Test func aWildcardHoldsTheRestOfThePathJoinedBySlashes() throws {
        let pattern = try RoutePattern(parsing: "GET /files/*")
        #expect(pattern.match(["files", "a"]) == ["*": "a"])
        #expect(pattern.match(["files", "a", "b", "c.txt"]) == ["*": "a/b/c.txt"])
        #expect(pattern.match(["files", "ü", "b/c"]) == ["*": "ü/b/c"])
        #expect(pattern.match(["files"]) == nil)
        #expect(RoutePattern.joinedRest(["x", "a", "", "b"], from: 1) == "a//b")
    }

    @Test func bearerTokensAreCheckedInPlace() throws {
        func request(_ authorization: String?) -> EdgeRequest {
            var headers = EdgeHeaders()
            if let authorization { headers.add(name: "Authorization", value: authorization) }
            return EdgeRequest(method: "GET", path: "/", headers: headers)
        }
        try request("Bearer s3cret").requireBearer("s3cret")
        try request("bearer \t s3cret  ").requireBearer("s3cret")
        let long = String(repeating: "t", count: 700)
        try request("Bearer \(long)").requireBearer(long)
        let refused: [(String?, String)] = [
            (nil, "missing bearer token"), ("Bearer", "missing bearer token"), ("Basic s3cret", "missing bearer token"),
            ("Bearer s3 cret", "missing bearer token"), ("Bearer s3cre", "invalid bearer token"),
            ("Bearer s3cretx", "invalid bearer token"), ("Bearer S3CRET", "invalid bearer token"),
        ]
        for (header, message) in refused {
            #expect(throws: Error.self) { try request(header).requireBearer("s3cret") }
            do { try request(header).requireBearer("s3cret") } catch let error as EdgeHTTPError {
                #expect(error.status == 401)
                #expect(error.message == message, "\(header ?? "nil")")
            } catch { Issue.record("unexpected \(error)") }
        }
        #expect(EdgeRequest.bearerToken(fromAuthorization: "Bearer \(long) ") == long)
        #expect(Crypto.constantTimeEquals("ü-token", "ü-token"))
        #expect(!Crypto.constantTimeEquals("ü-token", "u-token"))
    }

    @Test func newRequestIDsAreThePrefixAndAHexCounter() {
        let prefix = RequestPipeline.requestIDPrefix
        var previous: UInt64?
        for _ in 0..<300 {
            let id = RequestPipeline.requestID(from: nil)
            #expect(id.hasPrefix(prefix))
            let counter = UInt64(id.dropFirst(prefix.count), radix: 16)
            #expect(counter != nil)
            #expect(String(counter ?? 0, radix: 16) == String(id.dropFirst(prefix.count)), "no leading zeros")
            if let previous, let counter { #expect(counter > previous) }
            previous = counter
        }
        #expect(RequestPipeline.requestID(from: "client-id_1.2") == "client-id_1.2")
        #expect(RequestPipeline.requestID(from: "bad id").hasPrefix(prefix))
    }
}
