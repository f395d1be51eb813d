// The clock queues sleep on lives in EdgeCore (crons share it); Queues' users name it through
// Queues, as before.
@_exported import protocol EdgeCore.QueueClock
