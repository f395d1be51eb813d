import EdgeRuntime
import Foundation
import Testing

@Suite struct CryptoPrimitiveTests {
    @Test func stripePublishedHMACPrimitive() {
        let mac = Crypto.hmacSHA256(key: "test_secret", data: #"{"obj1":"hello","obj2":"world"}"#)
        #expect(Hex.encode(mac) == "bebb1a643997f419b315ddba19e6f5411e1ce7f810ba6d3617ce72823092f363")
    }

    @Test func fixturePrimitives() throws {
        let fixtures = try SignatureFixtures.load()
        #expect(fixtures.primitives.count >= 8)
        for p in fixtures.primitives {
            let key = Array(p.key.utf8)
            let data = Array(p.data.utf8)
            let out: [UInt8] =
                switch p.kind {
                case "hmac-sha256": Crypto.hmacSHA256(key: key, data: data)
                case "hmac-sha1": Crypto.hmacSHA1(key: key, data: data)
                default: Crypto.sha256(data)
                }
            #expect(Hex.encode(out) == p.hex, "\(p.kind) \(p.key) \(p.data)")
            #expect(Base64.encode(out) == p.base64)
            #expect(Base64.encodeURL(out) == p.base64url)
            #expect(Base64.decode(p.base64) == out)
            #expect(Base64.decodeURL(p.base64url) == out)
            #expect(try Hex.decode(p.hex) == out)
        }
    }

    @Test func sha256OfSlicesAndStrings() {
        let bytes = Array("xxabcxx".utf8)
        #expect(Hex.encode(Crypto.sha256(bytes[2..<5])) == Hex.encode(Crypto.sha256("abc")))
    }

    @Test func constantTimeEquality() {
        #expect(Crypto.constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!Crypto.constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!Crypto.constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(Crypto.constantTimeEquals([UInt8](), []))
        #expect(Crypto.constantTimeEquals("abc", "abc"))
        #expect(!Crypto.constantTimeEquals("abc", "abd"))
    }

    @Test func hexRoundTripAndErrors() throws {
        #expect(Hex.encode([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(try Hex.decode("000FA0ff") == [0x00, 0x0f, 0xa0, 0xff])
        #expect(throws: CryptoError.self) { try Hex.decode("abc") }
        #expect(throws: CryptoError.self) { try Hex.decode("zz") }
    }

    @Test func base64RFC4648Vectors() throws {
        let vectors = [
            "": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=",
            "foobar": "Zm9vYmFy",
        ]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(plain) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
            let url = encoded.replacingOccurrences(of: "=", with: "")
            #expect(Base64.encodeURL(Array(plain.utf8)) == url)
            #expect(Base64.decodeURL(url) == Array(plain.utf8))
            #expect(Base64.decodeURL(encoded) == Array(plain.utf8))  // correct padding accepted
        }
        #expect(Base64.encode([0xfb, 0xff]) == "+/8=")
        #expect(Base64.encodeURL([0xfb, 0xff]) == "-_8")
    }

    @Test(arguments: ["Zg", "Zg=", "Zg===", "Z===", "Zm9v\n", " Zm9v", "Zm9v!", "Zh==", "Zm=v", "-_8=", "A"])
    func base64RejectsBadInput(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test(arguments: ["+/8", "Zh", "A", "Zg=", "Zm9v==", "ab c"])
    func base64URLRejectsBadInput(_ text: String) {
        #expect(Base64.decodeURL(text) == nil)
    }

    @Test func randomBytesAndIDs() {
        #expect(Crypto.randomBytes(0).isEmpty)
        let a = Crypto.randomBytes(32)
        let b = Crypto.randomBytes(32)
        #expect(a.count == 32 && a != b)
        let id = Crypto.randomID(prefix: "req_")
        #expect(id.hasPrefix("req_") && id.count == 4 + 32)
        #expect(id.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) })
        #expect(Set((0..<100).map { _ in Crypto.randomID() }).count == 100)
    }
}

/// The committed fixtures (see Fixtures/README.md for how they were made).
struct SignatureFixtures: Decodable {
    struct Case: Decodable {
        var scheme: String
        var description: String
        var secret: String
        var body: String?
        var header: String?
        var headers: [String: String]?
        var url: String?
        var params: [[String]]?
        var now: Int64?
        var tolerance: Int64?
        var expect: String
    }
    struct Primitive: Decodable {
        var kind, key, data, hex, base64, base64url: String
    }
    var cases: [Case]
    var primitives: [Primitive]

    static func load() throws -> SignatureFixtures {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/signature-fixtures", withExtension: "json"))
        return try JSONDecoder().decode(SignatureFixtures.self, from: Data(contentsOf: url))
    }
}
