import Foundation
import Testing

@testable import Queues

/// Inputs the `message` fuzz target found (Fuzz/Corpus/message), kept as tests.
@Suite("message records: fuzz findings")
struct MessageRecordFuzzFindingsTests {
    /// A last error longer than 1024 bytes was cut inside a character; read back, the stray
    /// byte became U+FFFD and the record no longer encoded the same.
    @Test func aLongLastErrorIsCutAtACharacterBoundary() throws {
        var record = MessageRecord(contentType: .text, sentMillis: 1, dueMillis: 2, body: Data("b".utf8))
        record.lastError = "a" + String(repeating: "é", count: 600)
        let encoded = record.encoded()
        let errorLength = Int(encoded[34]) | Int(encoded[35]) << 8
        #expect(errorLength == 1023)
        #expect(String(validatingUTF8: encoded[38..<(38 + errorLength)].map { CChar(bitPattern: $0) } + [0]) != nil)
        let decoded = try #require(encoded.withUnsafeBytes { MessageRecord($0) })
        #expect(decoded.encoded() == encoded)
        #expect(decoded.lastError == "a" + String(repeating: "é", count: 511))
        #expect(MessageRecord.utf8Prefix("😀😀", maxBytes: 7) == Array("😀".utf8))
        #expect(MessageRecord.utf8Prefix("abc", maxBytes: 0) == [])
    }
}
