package import NIOCore
import NIOPosix

/// A real TCP client on loopback.
package enum TestClient {
    /// A client-side failure a test reports (no answer, service not listening, …).
    package struct Failure: Error, CustomStringConvertible {
        package var description: String

        package init(description: String) {
            self.description = description
        }
    }

    /// Connects from `source` (a loopback address such as 127.0.0.7) to `port`.
    package static func connect(port: Int, from source: String? = nil, autoRead: Bool = true) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.autoRead, value: autoRead)
        if let source {
            bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0))
        }
        return try await bootstrap.connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                    wrappingChannelSynchronously: channel,
                    configuration: .init(isOutboundHalfClosureEnabled: true))
            }
        }
    }

    /// Sends `payload`, half-closes, and returns everything received until the server's FIN — reading while
    /// writing, so large echoes do not deadlock.
    package static func exchange(port: Int, payload: [UInt8], from source: String? = nil) async throws -> [UInt8] {
        let channel = try await connect(port: port, from: source)
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var offset = 0
                    while offset < payload.count {
                        let end = min(payload.count, offset + 256 * 1024)
                        try await outbound.write(ByteBuffer(bytes: payload[offset..<end]))
                        offset = end
                    }
                    outbound.finish()
                }
                var received: [UInt8] = []
                received.reserveCapacity(payload.count)
                for try await var chunk in inbound {
                    received.append(contentsOf: chunk.readBytes(length: chunk.readableBytes) ?? [])
                }
                try await group.waitForAll()
                return received
            }
        }
    }

    /// Connects, reads the first line (a backend's label) and closes.
    package static func identify(port: Int, from source: String? = nil) async throws -> String {
        let channel = try await connect(port: port, from: source)
        return try await channel.executeThenClose { inbound, outbound in
            var text = ""
            for try await var chunk in inbound {
                text += chunk.readString(length: chunk.readableBytes) ?? ""
                if let newline = text.firstIndex(of: "\n") { return String(text[..<newline]) }
            }
            if text.isEmpty { throw Failure(description: "connection closed without an answer") }
            return text
        }
    }

    /// Reads until the server closes; returns all bytes.
    package static func readAll(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>) async throws -> [UInt8] {
        var received: [UInt8] = []
        for try await var chunk in inbound {
            received.append(contentsOf: chunk.readBytes(length: chunk.readableBytes) ?? [])
        }
        return received
    }
}

/// Random bytes for payloads.
package func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { raw in
        var index = 0
        while index + 8 <= raw.count {
            raw.storeBytes(of: generator.next() as UInt64, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < raw.count {
            raw[index] = UInt8.random(in: 0...255, using: &generator)
            index += 1
        }
    }
    return bytes
}
