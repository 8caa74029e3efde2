import Logging
import NIOCore

/// The per-connection steps both engines take the same way: picking a server, giving up on one, and releasing a
/// finished connection. The engines differ in how they move bytes, not in these.
extension ServiceRuntime {
    /// Picks a server for a connection: the protocol's persistence key (or the client's address with `source-ip`
    /// persistence), else the balancing method, among `routing`'s servers and not those in `tried`. Counts it as
    /// active on that server.
    package func selectServer(
        snapshot: ServiceSnapshot, routing: Routing, clientKey: StickKey?, tried: [String]
    ) -> ServerPool.Selection? {
        let stickKey = routing.stickKey ?? (snapshot.usesSourceIP ? clientKey : nil)
        return self.pool.select(
            method: snapshot.configuration.balance, clientKey: clientKey, stickKey: stickKey,
            stickTable: stickKey == nil ? nil : self.stickTable, allowed: routing.servers, excluding: tried,
            returnToPrimary: snapshot.configuration.persistence.returnToPrimary)
    }

    /// Why no server takes a connection after `tried` servers failed to connect.
    /// A source-port `exhaustion` among the failures is named, so the protocol's refusal and its audit record say it.
    package static func unavailable(afterTrying tried: Int, exhaustion: String? = nil) -> UnavailableReason {
        guard tried > 0 else { return .noServer }
        return .connectFailed("all \(tried) tried servers failed" + (exhaustion.map { "; \($0)" } ?? ""))
    }

    /// A connect to `server` failed: releases it, counts the failure and logs it (the caller tries the next one).
    package func connectFailed(to server: ServerIdentity, why: String, client: @autoclosure () -> String) {
        self.pool.release(server.label)
        self.pool.recordConnectFailure(server.label)
        self.logger.warning(
            "connect to server failed; trying the next one",
            metadata: ["conn.client": "\(client())", "conn.server": "\(server)", "error": "\(why)"])
    }

    /// A connection is over and its audit records are written: releases its server, lowers the active count and logs
    /// the `connection closed` line (its fields are formatted only when `info` is logged). The engine removes the
    /// connection from the registry itself.
    package func connectionReleased(
        server: ServerIdentity?, client: @autoclosure () -> String, bytesUp: Int, bytesDown: Int, duration: Duration,
        endReason: String
    ) {
        if let server { self.pool.release(server.label) }
        self.stats.closed()
        self.logger.info(
            "connection closed",
            metadata: [
                "conn.client": "\(client())", "conn.server": "\(server?.description ?? "-")",
                "conn.bytes_up": "\(bytesUp)", "conn.bytes_down": "\(bytesDown)",
                "conn.duration_ms": "\(duration.milliseconds)", "conn.end": "\(endReason)",
            ])
    }
}
