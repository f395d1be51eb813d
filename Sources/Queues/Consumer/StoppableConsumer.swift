import ServiceLifecycle

/// A queue consumer that can be stopped on its own, without losing or repeating a delivery: it
/// takes no more batches, and `run()` returns once the batches it claimed are settled (a reload
/// hands its queue to a new consumer this way).
public protocol StoppableConsumer: Service {
    /// Stops taking batches; `run()` returns once the started ones are settled.
    func stop()
}

extension QueueConsumer: StoppableConsumer {}
