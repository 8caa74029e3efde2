import NIOCore
import Testing

@testable import PacsgateCore

/// Backup servers in the balancer: a second tier that takes new connections only while no primary can, and
/// `return_to_primary` for clients stuck to a backup.
@Suite struct BackupServerTests {
    private static let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    /// Primaries A and B, backups X and Y.
    private func pool(rise: Int = 2, fall: Int = 3) -> ServerPool {
        ServerPool(
            servers: [
                ServerConfiguration(label: "A", endpoint: Endpoint(host: "10.0.0.1", port: 104)),
                ServerConfiguration(label: "B", endpoint: Endpoint(host: "10.0.0.2", port: 104)),
                ServerConfiguration(label: "X", endpoint: Endpoint(host: "10.9.0.1", port: 104), backup: true),
                ServerConfiguration(label: "Y", endpoint: Endpoint(host: "10.9.0.2", port: 104), backup: true),
            ], rise: rise, fall: fall)
    }

    private func key(_ ip: String) throws -> StickKey {
        try #require(StickKey(clientAddress: try SocketAddress(ipAddress: ip, port: 40000)))
    }

    private func picks(
        _ pool: ServerPool, _ count: Int, method: BalanceMethod = .roundrobin, allowed: Set<String>? = nil,
        excluding: [String] = []
    ) -> [String] {
        (0..<count).map { _ in
            pool.select(method: method, clientKey: nil, stickKey: nil, stickTable: nil, allowed: allowed, excluding: excluding)?
                .label ?? "-"
        }
    }

    private func sticky(
        _ pool: ServerPool, _ key: StickKey, _ table: StickTable, returnToPrimary: Bool = true
    ) -> ServerPool.Selection? {
        pool.select(
            method: .roundrobin, clientKey: key, stickKey: key, stickTable: table, allowed: nil,
            returnToPrimary: returnToPrimary, now: Self.now)
    }

    private func setHealth(_ pool: ServerPool, _ label: String, up: Bool, times: Int = 3) {
        for _ in 0..<times { _ = pool.recordHealth(label, up ? .success("ok") : .failure("connection refused")) }
    }

    private func takesNew(_ pool: ServerPool) -> [String: Bool] {
        Dictionary(uniqueKeysWithValues: pool.snapshot().map { ($0.label, $0.takesNew) })
    }

    @Test func backupsStandByWhilePrimariesAreUp() {
        let pool = self.pool()
        #expect(picks(pool, 4) == ["A", "B", "A", "B"])
        #expect(picks(pool, 2, method: .leastconn).allSatisfy { $0 == "A" || $0 == "B" })
        #expect(picks(pool, 2, method: .source).allSatisfy { $0 == "A" || $0 == "B" })
        #expect(takesNew(pool) == ["A": true, "B": true, "X": false, "Y": false])
        #expect(pool.snapshot().map(\.backup) == [false, false, true, true])
        // One primary down: the other takes everything, the backups still stand by.
        setHealth(pool, "A", up: false)
        #expect(picks(pool, 3) == ["B", "B", "B"])
        #expect(takesNew(pool) == ["A": false, "B": true, "X": false, "Y": false])
    }

    @Test func everyPrimaryDownSendsNewConnectionsToTheBackupsUntilOneReturns() {
        let pool = self.pool()
        setHealth(pool, "A", up: false)
        setHealth(pool, "B", up: false)
        #expect(picks(pool, 4) == ["X", "Y", "X", "Y"], "backups share the load by the service's method")
        #expect(takesNew(pool) == ["A": false, "B": false, "X": true, "Y": true])
        #expect(pool.hasAvailableServer)
        setHealth(pool, "B", up: true, times: 2)
        #expect(picks(pool, 2) == ["B", "B"])
        #expect(takesNew(pool) == ["A": false, "B": true, "X": false, "Y": false])
    }

    @Test func drainedOrHaltedOrWeightlessPrimariesCountAsUnavailable() {
        let pool = self.pool()
        pool.setAdminState("A", .drain)
        pool.setAdminState("B", .halt)
        #expect(picks(pool, 2) == ["X", "Y"])
        pool.setAdminState("B", .online)
        pool.setWeight("B", 0)
        #expect(picks(pool, 1) == ["X"])
        pool.setWeight("B", 100)
        #expect(picks(pool, 1) == ["B"])
    }

    @Test func routingAndExclusionsDecidePerConnection() {
        let pool = self.pool()
        // A primary this connection already failed to reach is skipped: the last primary's failure leads to a backup.
        #expect(picks(pool, 1, excluding: ["A", "B"]) == ["X"])
        #expect(picks(pool, 1, excluding: ["A"]) == ["B"])
        // A route that names only A and X: X takes over only when A cannot.
        #expect(picks(pool, 1, allowed: ["A", "X"]) == ["A"])
        setHealth(pool, "A", up: false)
        #expect(picks(pool, 1, allowed: ["A", "X"]) == ["X"])
        // A route without backups has nothing to fall back to.
        #expect(picks(pool, 1, allowed: ["A"]) == ["-"])
    }

    @Test func eachSwitchOfTierIsReportedOnce() {
        let pool = self.pool()
        #expect(pool.backupTierChange() == nil)
        setHealth(pool, "A", up: false)
        #expect(pool.backupTierChange() == nil, "B still takes new connections")
        setHealth(pool, "B", up: false)
        #expect(pool.backupTierChange() == true)
        #expect(pool.backupTierChange() == nil)
        pool.setAdminState("A", .online)
        setHealth(pool, "A", up: true, times: 2)
        #expect(pool.backupTierChange() == false)
        #expect(pool.backupTierChange() == nil)
    }

    @Test func aBackupThatIsDownTakesNothing() {
        let pool = self.pool()
        for label in ["A", "B", "X"] { setHealth(pool, label, up: false) }
        #expect(picks(pool, 2) == ["Y", "Y"])
        setHealth(pool, "Y", up: false)
        #expect(picks(pool, 1) == ["-"])
        #expect(!pool.hasAvailableServer)
    }

    @Test func persistedClientsReturnToThePrimaries() throws {
        let pool = self.pool()
        let table = StickTable(timeout: .minutes(30), capacity: 100)
        let modality = try key("192.168.110.7")
        #expect(sticky(pool, modality, table)?.label == "A")
        setHealth(pool, "A", up: false)
        setHealth(pool, "B", up: false)
        // Its server is down: re-balanced to a backup, and stuck there.
        let onBackup = sticky(pool, modality, table)
        #expect(onBackup?.label == "X")
        #expect(onBackup?.stuck == false)
        #expect(table.lookup(modality, now: Self.now) == "X")
        #expect(sticky(pool, modality, table) == ServerPool.Selection(label: "X", endpoint: Endpoint(host: "10.9.0.1", port: 104), stuck: true))
        // A primary returns: the client goes back, and its entry names the primary again.
        setHealth(pool, "A", up: true, times: 2)
        let back = sticky(pool, modality, table)
        #expect(back?.label == "A")
        #expect(back?.stuck == false)
        #expect(table.lookup(modality, now: Self.now) == "A")
    }

    @Test func returnToPrimaryOffKeepsAStuckClientOnItsBackup() throws {
        let pool = self.pool()
        let table = StickTable(timeout: .minutes(30), capacity: 100)
        let modality = try key("192.168.110.8")
        setHealth(pool, "A", up: false)
        setHealth(pool, "B", up: false)
        #expect(sticky(pool, modality, table, returnToPrimary: false)?.label == "X")
        setHealth(pool, "A", up: true, times: 2)
        setHealth(pool, "B", up: true, times: 2)
        #expect(sticky(pool, modality, table, returnToPrimary: false) == ServerPool.Selection(label: "X", endpoint: Endpoint(host: "10.9.0.1", port: 104), stuck: true))
        // New clients go to the primaries all the same.
        #expect(sticky(pool, try key("192.168.110.9"), table, returnToPrimary: false)?.label == "A")
        // Once its backup goes down, the client moves to a primary.
        setHealth(pool, "X", up: false)
        #expect(sticky(pool, modality, table, returnToPrimary: false)?.label == "B")
    }

    @Test func aReloadCanMakeAServerABackupOrAPrimary() {
        let pool = self.pool()
        let previous = [
            ServerConfiguration(label: "A", endpoint: Endpoint(host: "10.0.0.1", port: 104)),
            ServerConfiguration(label: "X", endpoint: Endpoint(host: "10.9.0.1", port: 104), backup: true),
        ]
        pool.update(
            servers: [
                ServerConfiguration(label: "A", endpoint: Endpoint(host: "10.0.0.1", port: 104), backup: true),
                ServerConfiguration(label: "X", endpoint: Endpoint(host: "10.9.0.1", port: 104)),
            ], previous: previous, rise: 2, fall: 3)
        #expect(picks(pool, 2) == ["X", "X"])
        #expect(pool.snapshot().map(\.backup) == [true, false])
    }
}
