import EdgeRuntime
import Foundation

/// One email to send: the body `resend.send` accepts and the message it enqueues for
/// `resend.batch`, normalised (`to` always a list, `tags` always `[{name, value}]`).
struct EmailRequest: Sendable, Equatable {
    /// Resend's limit on recipients of one email.
    static let maxRecipients = 50

    var to: [String]
    var subject: String
    var template: String
    /// A JSON object: the template's data.
    var data: JSONValue
    var tags: [EmailTag]

    /// Validates and normalises a request body or queue message.
    /// - Parameters:
    ///   - value: `{to, subject, template, data?, tags?}`; `to` is an address or a list of
    ///     1…50, `tags` a list of `{name, value}` or an object of name → value.
    ///   - knownTemplates: the template names that may be used (`nil`: any).
    /// - Throws: ``EmailValidationError`` naming the field at fault.
    static func parse(_ value: JSONValue, knownTemplates: Set<String>?) throws(EmailValidationError) -> EmailRequest {
        guard let object = value.objectValue else { throw EmailValidationError("body must be a JSON object") }
        let to = try recipients(object["to"])
        guard let subject = object["subject"]?.stringValue, !subject.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw EmailValidationError("subject is required")
        }
        guard !subject.contains(where: \.isNewline) else { throw EmailValidationError("subject must be one line") }
        guard let template = object["template"]?.stringValue, !template.isEmpty else {
            throw EmailValidationError("template is required")
        }
        guard knownTemplates?.contains(template) ?? true else {
            throw EmailValidationError("unknown template \"\(template)\"", unknownTemplate: true)
        }
        let data = object["data"] ?? .object([:])
        guard data.objectValue != nil || data.isNull else { throw EmailValidationError("data must be an object") }
        return EmailRequest(
            to: to,
            subject: subject,
            template: template,
            data: data.isNull ? .object([:]) : data,
            tags: try EmailTag.parseList(object["tags"])
        )
    }

    /// Validates and normalises JSON text. The common shape is decoded into typed fields (much
    /// cheaper than a generic ``JSONValue`` tree); anything unusual takes the generic path,
    /// which gives the precise error.
    /// - Throws: ``EmailValidationError``.
    static func parse(json data: Data, knownTemplates: Set<String>?) throws(EmailValidationError) -> EmailRequest {
        if let wire = try? JSONDecoder().decode(Wire.self, from: data) {
            return try parse(wire.value, knownTemplates: knownTemplates)
        }
        guard let value = try? JSONValue.parse(data) else { throw EmailValidationError("body is not valid JSON") }
        return try parse(value, knownTemplates: knownTemplates)
    }

    /// The typed fast path of ``parse(json:knownTemplates:)``: fails on any other shape.
    private struct Wire: Decodable {
        struct Tag: Decodable {
            let name: String
            let value: String
        }
        enum Recipients: Decodable {
            case one(String)
            case many([String])
            init(from decoder: any Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let list = try? c.decode([String].self) { self = .many(list) } else { self = .one(try c.decode(String.self)) }
            }
        }
        let to: Recipients?
        let subject: String?
        let template: String?
        let data: [String: JSONValue]?
        let tags: [Tag]?

        var value: JSONValue {
            var object: [String: JSONValue] = [:]
            switch to {
            case .one(let s)?: object["to"] = .string(s)
            case .many(let list)?: object["to"] = .array(list.map(JSONValue.string))
            case nil: break
            }
            object["subject"] = subject.map(JSONValue.string)
            object["template"] = template.map(JSONValue.string)
            object["data"] = data.map(JSONValue.object)
            object["tags"] = tags.map { .array($0.map { ["name": .string($0.name), "value": .string($0.value)] }) }
            return .object(object)
        }
    }

    /// The normalised JSON text (the queue message body): ``json`` encoded through typed
    /// fields, cheaper than serialising the generic tree.
    var serialized: Data {
        struct Body: Encodable {
            let data: JSONValue
            let subject: String
            let tags: [EmailTag]?
            let template: String
            let to: [String]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = Body(data: data, subject: subject, tags: tags.isEmpty ? nil : tags, template: template, to: to)
        return (try? encoder.encode(body)) ?? json.serialized()
    }

    /// The normalised JSON (the queue message body).
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "to": .array(to.map(JSONValue.string)), "subject": .string(subject), "template": .string(template), "data": data,
        ]
        if !tags.isEmpty { object["tags"] = .array(tags.map(\.json)) }
        return .object(object)
    }

    private static func recipients(_ value: JSONValue?) throws(EmailValidationError) -> [String] {
        let list: [JSONValue]
        switch value {
        case .string(let s)?: list = [.string(s)]
        case .array(let a)?: list = a
        case nil, .null?: throw EmailValidationError("to is required")
        default: throw EmailValidationError("to must be an email address or a list of them")
        }
        guard (1...maxRecipients).contains(list.count) else {
            throw EmailValidationError("to must list 1 to \(maxRecipients) addresses")
        }
        var out: [String] = []
        for item in list {
            guard let address = item.stringValue, EmailAddress.isValid(address) else {
                throw EmailValidationError("to: \(item.stringValue.map { "\"\($0)\"" } ?? "an entry") is not a valid email address")
            }
            out.append(address)
        }
        return out
    }
}

/// A Resend tag: `name` and `value` of 1…256 ASCII letters, digits, `_` and `-` (Resend's rule;
/// checked here so one bad tag cannot fail a whole batch call).
struct EmailTag: Sendable, Equatable, Encodable {
    var name: String
    var value: String

    var json: JSONValue { ["name": .string(name), "value": .string(value)] }

    static func parseList(_ value: JSONValue?) throws(EmailValidationError) -> [EmailTag] {
        var tags: [EmailTag] = []
        switch value {
        case nil, .null?:
            return []
        case .array(let items)?:
            for item in items {
                guard let name = item["name"]?.stringValue, let value = item["value"]?.stringValue else {
                    throw EmailValidationError("tags must be a list of {name, value} strings")
                }
                tags.append(EmailTag(name: name, value: value))
            }
        case .object(let pairs)?:
            for (name, value) in pairs.sorted(by: { $0.key < $1.key }) {
                guard let value = value.stringValue else { throw EmailValidationError("tags.\(name) must be a string") }
                tags.append(EmailTag(name: name, value: value))
            }
        default:
            throw EmailValidationError("tags must be a list of {name, value} or an object")
        }
        for tag in tags where !isToken(tag.name) || !isToken(tag.value) {
            throw EmailValidationError("tag \"\(tag.name)\": names and values are 1 to 256 ASCII letters, digits, _ or -")
        }
        return tags
    }

    private static func isToken(_ s: String) -> Bool {
        (1...256).contains(s.utf8.count)
            && s.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
            }
    }
}

/// Email address syntax, as far as a sender can check it: `local@domain` or
/// `Display Name <local@domain>`; ASCII only (internationalised domains in punycode).
enum EmailAddress {
    /// Whether `text` is a plausible address a provider will accept.
    static func isValid(_ text: String) -> Bool {
        guard !text.contains(where: { $0.isNewline }) else { return false }
        if text.hasSuffix(">"), let open = text.lastIndex(of: "<") {
            let name = text[..<open]
            guard !name.contains("<"), !name.contains(">") else { return false }
            return isBare(String(text[text.index(after: open)..<text.index(before: text.endIndex)]))
        }
        return isBare(text)
    }

    /// `local@domain`: a dot-atom local part of 1…64 characters and a domain of at least two
    /// labels (1…63 letters, digits, `-`, not at either end) with an alphabetic or `xn--` top level.
    static func isBare(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, address.utf8.count <= 254 else { return false }
        let local = parts[0]
        let domain = parts[1]
        let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-".utf8)
        guard (1...64).contains(local.utf8.count), local.first != ".", local.last != ".", !local.contains(".."),
            local.utf8.allSatisfy({ atext.contains($0) || $0 == UInt8(ascii: ".") })
        else { return false }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, domain.utf8.count <= 253 else { return false }
        for label in labels {
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-",
                label.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D })
            else { return false }
        }
        let top = labels[labels.count - 1]
        return top.utf8.count >= 2 && (top.allSatisfy(\.isLetter) || top.lowercased().hasPrefix("xn--"))
    }
}

/// A request or message that cannot become an email.
struct EmailValidationError: Error, CustomStringConvertible, Sendable {
    let message: String
    /// The template is not in the catalogue (dead-lettered by the consumer, 400 from `resend.send`).
    let unknownTemplate: Bool

    init(_ message: String, unknownTemplate: Bool = false) {
        self.message = message
        self.unknownTemplate = unknownTemplate
    }

    var description: String { message }
}
