import ArgumentParser
import EdgeStorage
import Foundation
import KVStore
import Logging
import Queues

/// `edge-run queues list|peek|send|redrive`: the queues of a data directory, also while a
/// server runs on it (the CLI never takes over the server's in-flight messages).
struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "Inspect and operate the durable queues of a data directory.",
        subcommands: [List.self, Peek.self, Send.self, Redrive.self]
    )
}

/// The storage options every `queues` subcommand takes.
struct QueuesDataOptions: ParsableArguments {
    @OptionGroup var storage: StorageOptions

    /// Runs `body` on the queues a server declared in this storage, then closes it.
    func withBroker<T>(_ body: (any QueueBroker) async throws -> T) async throws -> T {
        var logger = Logger(label: "edge-run.queues")
        logger.logLevel = .warning
        let backend = try await storage.open(logger: logger)
        do {
            let result = try await body(try await backend.existingQueueBroker(clock: SystemWallClock(), logger: logger))
            await backend.close()
            return result
        } catch {
            await backend.close()
            throw error
        }
    }
}

extension QueuesCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print each queue with its counts.")

        @OptionGroup var options: QueuesDataOptions
        @Flag(help: "Print a JSON array of the counts.") var json = false

        func run() async throws {
            let all = try await options.withBroker { try await $0.allStats() }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(all), as: UTF8.self))
                return
            }
            if all.isEmpty { print("no queues in \(try options.storage.location())") }
            let width = all.map(\.name.count).max() ?? 0
            for s in all {
                let name = s.name.padding(toLength: width, withPad: " ", startingAt: 0)
                var line = "\(name)  pending=\(s.pending) delayed=\(s.delayed) in_flight=\(s.inFlight) dead_lettered=\(s.deadLettered)"
                line += " delivered=\(s.delivered) retried=\(s.retried)"
                if s.deadLetterStore > 0 { line += " dead_letter_store=\(s.deadLetterStore)" }
                if s.expired > 0 { line += " expired=\(s.expired)" }
                print(line)
            }
        }
    }

    struct Peek: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a queue's messages as JSON lines, without consuming them.")

        @OptionGroup var options: QueuesDataOptions
        @Argument(help: "The queue (for example a dead-letter queue).") var name: String
        @Option(help: "How many messages, 1…1000.") var limit = "10"
        @Flag(help: "Show the queue's built-in dead-letter store (used when it has no dead_letter_queue).")
        var deadLetters = false

        func run() async throws {
            let limit = try CheckedInteger.parse(limit, field: "--limit", in: 1...QueueLimits.maxPeekLimit)
            for message in try await options.withBroker({ try await $0.peek(name, limit: limit, deadLetters: deadLetters) }) {
                print(message.jsonLine)
            }
        }
    }

    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send a JSON message; prints its id.")

        @OptionGroup var options: QueuesDataOptions
        @Argument(help: "The queue.") var name: String
        @Argument(help: "The body: JSON text.") var json: String
        @Option(help: "Delay in seconds, 0…86400 (default: the queue's delivery_delay).") var delay: String?

        func run() async throws {
            let delay = try delay.map { try CheckedInteger.parse($0, field: "--delay", in: 0...QueueLimits.maxDelaySeconds) }
            print(try await options.withBroker { try await $0.send(.json(text: json), to: name, delaySeconds: delay) })
        }
    }

    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move dead letters back to a queue: a dead-letter queue's messages, or a queue's built-in dead-letter store (redrive Q --to Q)."
        )

        @OptionGroup var options: QueuesDataOptions
        @Argument(help: "The dead-letter queue (or a queue with a built-in dead-letter store).") var dlq: String
        @Option(help: "The queue to move the messages to.") var to: String

        func run() async throws {
            let moved = try await options.withBroker { try await $0.redrive(from: dlq, to: to) }
            print("moved \(moved)")
        }
    }
}
