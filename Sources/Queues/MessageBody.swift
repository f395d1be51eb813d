import EdgeCore
import Foundation

/// How a message body is to be read: the contract's `content_type`.
public enum MessageContentType: String, Sendable, Hashable, Codable, CaseIterable {
    /// JSON text (any JSON value).
    case json
    /// UTF-8 text.
    case text
    /// Opaque bytes (base64 when carried in JSON).
    case bytes

    package var storageCode: UInt8 {
        switch self {
        case .json: 0
        case .text: 1
        case .bytes: 2
        }
    }

    package init?(storageCode: UInt8) {
        switch storageCode {
        case 0: self = .json
        case 1: self = .text
        case 2: self = .bytes
        default: return nil
        }
    }
}

/// A message body: its bytes and how to read them. A JSON body holds JSON text.
public struct MessageBody: Sendable, Hashable {
    public let contentType: MessageContentType
    public let data: Data

    /// A body of `data` read as `contentType` (checked when sent).
    public init(data: Data, contentType: MessageContentType) {
        self.data = data
        self.contentType = contentType
    }

    /// A JSON body holding `value` encoded with `encoder`.
    /// - Throws: what `JSONEncoder` throws.
    public static func json<T: Encodable>(_ value: T, encoder: JSONEncoder = JSONEncoder()) throws -> MessageBody {
        MessageBody(data: try encoder.encode(value), contentType: .json)
    }

    /// A JSON body from JSON text (checked when sent).
    public static func json(text: String) -> MessageBody {
        MessageBody(data: Data(text.utf8), contentType: .json)
    }

    /// A UTF-8 text body.
    public static func text(_ text: String) -> MessageBody {
        MessageBody(data: Data(text.utf8), contentType: .text)
    }

    /// An opaque bytes body.
    public static func bytes(_ data: Data) -> MessageBody {
        MessageBody(data: data, contentType: .bytes)
    }

    /// The body as UTF-8 text (`nil` when the bytes are not UTF-8).
    public var text: String? { String(data: data, encoding: .utf8) }

    /// Decodes a JSON body as `type`.
    /// - Throws: what `JSONDecoder` throws.
    public func decode<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(type, from: data)
    }

    /// Checks the size and that the bytes match the content type.
    /// - Throws: ``QueueError/Code/messageTooLarge`` or ``QueueError/Code/invalidBody``.
    func validate() throws(QueueError) {
        guard data.count <= QueueLimits.maxMessageBytes else {
            throw QueueError(.messageTooLarge, "message body is \(data.count) bytes, over the \(QueueLimits.maxMessageBytes)-byte (128 KB) limit")
        }
        switch contentType {
        case .json:
            guard (try? JSONValue.parse(data)) != nil else {
                throw QueueError(.invalidBody, "message body is not valid JSON (content_type json)")
            }
        case .text:
            guard String(validating: data, as: UTF8.self) != nil else {
                throw QueueError(.invalidBody, "message body is not valid UTF-8 (content_type text)")
            }
        case .bytes:
            break
        }
    }
}

/// One message of a `sendBatch`: its body and an optional delay that overrides the queue's
/// `delivery_delay`.
public struct OutgoingMessage: Sendable, Hashable {
    public var body: MessageBody
    public var delaySeconds: Int?

    public init(body: MessageBody, delaySeconds: Int? = nil) {
        self.body = body
        self.delaySeconds = delaySeconds
    }

    public init(body: Data, contentType: MessageContentType, delaySeconds: Int? = nil) {
        self.init(body: MessageBody(data: body, contentType: contentType), delaySeconds: delaySeconds)
    }
}
