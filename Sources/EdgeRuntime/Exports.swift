@_exported import enum EdgeCore.Base64
// The JSON value, its reader and base64 live in EdgeCore (KV and queues read outside JSON with
// the same parser); handlers name them through EdgeRuntime, as before.
@_exported import struct EdgeCore.JSONParseError
@_exported import enum EdgeCore.JSONValue
