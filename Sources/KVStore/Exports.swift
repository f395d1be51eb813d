@_exported import struct EdgeCore.SystemWallClock
// The clocks KV measures TTLs against live in EdgeCore (queues and the runtime share them);
// KVStore's users name them through KVStore, as before.
@_exported import protocol EdgeCore.WallClock
