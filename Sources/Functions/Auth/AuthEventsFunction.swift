import EdgeRuntime
import Foundation
import KVStore
import Logging
import Queues

/// `auth.events`: a consumer of `{type, data, timestamp}` user events (Clerk's shapes):
/// `user.created` / `user.updated` upsert `users:<id>`
/// `{id, email, first_name, last_name, created_at, updated_at, deleted_at}`; `user.deleted`
/// soft-deletes (sets `deleted_at`, keeps the record). Other types are acked and logged.
public struct AuthEventsFunction: EdgeFunction {
    public static var kinds: FunctionKinds { .queue }

    let binding: String

    public init(config: FunctionConfig) throws { binding = try config.kvBinding() }

    public func queue(_ batch: MessageBatch, env: Env) async throws {
        let kv = try env.kv(binding)
        for message in batch.messages {
            let event = try JSONValue.parse(message.body.data)
            let type = event["type"]?.stringValue ?? ""
            let data = event["data"] ?? .null
            switch type {
            case "user.created", "user.updated":
                guard let id = data["id"]?.stringValue else {
                    message.deadLetter(reason: "\(type) without data.id")
                    continue
                }
                let existing = try await kv.getJSON("users:\(id)", as: JSONValue.self)
                try await kv.put(
                    "users:\(id)",
                    value: Self.record(id: id, data: data, existing: existing, eventTime: event["timestamp"]).serialized()
                )
                message.ack()
            case "user.deleted":
                guard let id = data["id"]?.stringValue else {
                    message.deadLetter(reason: "user.deleted without data.id")
                    continue
                }
                var record = try await kv.getJSON("users:\(id)", as: JSONValue.self)?.objectValue ?? ["id": .string(id)]
                let when = event["timestamp"] ?? .string(ISO8601Millis.format(Date(timeIntervalSince1970: env.clock.now())))
                record["deleted_at"] = when
                record["updated_at"] = when
                try await kv.put("users:\(id)", value: JSONValue.object(record).serialized())
                message.ack()
            default:
                env.logger.info("auth event ignored", metadata: ["type": "\(type)"])
                message.ack()
            }
        }
    }

    /// The `users:<id>` record from a Clerk user object.
    static func record(id: String, data: JSONValue, existing: JSONValue?, eventTime: JSONValue?) -> JSONValue {
        let primary = data["primary_email_address_id"]?.stringValue
        let emails = data["email_addresses"]?.arrayValue ?? []
        let email = (emails.first { $0["id"]?.stringValue == primary } ?? emails.first)?["email_address"] ?? existing?["email"] ?? .null
        func time(_ key: String) -> JSONValue? {
            guard let ms = data[key]?.intValue else { return nil }
            return .string(ISO8601Millis.format(millis: ms))
        }
        return [
            "id": .string(id),
            "email": email,
            "first_name": data["first_name"] ?? existing?["first_name"] ?? .null,
            "last_name": data["last_name"] ?? existing?["last_name"] ?? .null,
            "created_at": time("created_at") ?? existing?["created_at"] ?? eventTime ?? .null,
            "updated_at": time("updated_at") ?? eventTime ?? .null,
            "deleted_at": existing?["deleted_at"] ?? .null,
        ]
    }
}
