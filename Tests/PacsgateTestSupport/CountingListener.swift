import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP listener that only counts: the witness that a backend was never contacted.
///
/// `Sendable`: the channel is thread-safe and the count sits in a `NIOLockedValueBox`.
package final class CountingListener: Sendable {
    private let channel: any Channel
    private let accepted: NIOLockedValueBox<Int>

    private init(channel: any Channel, accepted: NIOLockedValueBox<Int>) {
        self.channel = channel
        self.accepted = accepted
    }

    /// Starts listening on 127.0.0.1 and a free port; closed when `scope` is cleaned up.
    package static func start(scope: TestScope) async throws -> CountingListener {
        let accepted = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                accepted.withLockedValue { $0 += 1 }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        await scope.onCleanup { try? await channel.close() }
        return CountingListener(channel: channel, accepted: accepted)
    }

    /// The port it listens on.
    package var port: Int { self.channel.localAddress?.port ?? 0 }
    /// Connections accepted so far.
    package var connections: Int { self.accepted.withLockedValue { $0 } }

    /// The server entry for a YAML `servers:` list.
    package func server(_ label: String) -> String {
        "{ label: \(label), address: \"127.0.0.1:\(self.port)\" }"
    }
}
