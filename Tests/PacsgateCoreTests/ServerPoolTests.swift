import NIOCore
import Testing

@testable import PacsgateCore

@Suite struct ServerPoolTests {
    private static let now = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    private func servers(_ weights: (String, Int)...) -> [ServerConfiguration] {
        weights.enumerated().map { index, item in
            ServerConfiguration(
                label: item.0,
                endpoint: Endpoint(host: "10.0.0.\(index + 1)", port: 104),
                weight: item.1
            )
        }
    }

    private func client(_ ip: String) -> StickKey {
        StickKey(clientAddress: try! SocketAddress(ipAddress: ip, port: 40000))!
    }

    /// Picks `count` times (releasing nothing) and returns the labels in order.
    private func picks(
        _ pool: ServerPool,
        _ count: Int,
        method: BalanceMethod = .roundrobin,
        allowed: Set<String>? = nil,
        excluding: [String] = []
    ) -> [String] {
        (0..<count).map { _ in
            pool.select(
                method: method,
                clientKey: nil,
                stickKey: nil,
                stickTable: nil,
                allowed: allowed,
                excluding: excluding
            )?
            .label ?? "-"
        }
    }

    private func stickySelect(
        _ pool: ServerPool,
        _ key: StickKey,
        _ table: StickTable,
        method: BalanceMethod = .roundrobin,
        allowed: Set<String>? = nil,
        excluding: [String] = []
    ) -> ServerPool.Selection? {
        pool.select(
            method: method,
            clientKey: key,
            stickKey: key,
            stickTable: table,
            allowed: allowed,
            excluding: excluding,
            now: Self.now
        )
    }

    private func markDown(_ pool: ServerPool, _ label: String, fall: Int = 3) {
        for _ in 0..<fall { _ = pool.recordHealth(label, .failure("connection refused")) }
    }

    private func active(_ pool: ServerPool) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: pool.snapshot().map { ($0.label, $0.activeConnections) })
    }

    // MARK: round-robin

    @Test func smoothWeightedRoundRobinSequence() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 50)))
        let sequence = picks(pool, 300)
        // Smooth weighted round-robin interleaves: A B A, A B A, … — never B twice in a row, never three As.
        #expect(Array(sequence.prefix(9)) == ["A", "B", "A", "A", "B", "A", "A", "B", "A"])
        for start in stride(from: 0, to: 300, by: 3) {
            #expect(Array(sequence[start..<start + 3]) == ["A", "B", "A"], "picks \(start)…\(start + 2)")
        }
        #expect(sequence.filter { $0 == "A" }.count == 200)
        #expect(sequence.filter { $0 == "B" }.count == 100)
        #expect(active(pool) == ["A": 200, "B": 100])
    }

    @Test func equalWeightsAlternate() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 100), ("C", 100)))
        #expect(picks(pool, 6) == ["A", "B", "C", "A", "B", "C"])
    }

    @Test func weightZeroIsNeverPicked() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 0), ("C", 100)))
        let sequence = picks(pool, 100)
        #expect(!sequence.contains("B"))
        #expect(sequence.filter { $0 == "A" }.count == 50)
        #expect(sequence.filter { $0 == "C" }.count == 50)
        for method in [BalanceMethod.leastconn, .source] {
            #expect(!picks(pool, 50, method: method).contains("B"), "\(method)")
        }
    }

    @Test func noEligibleServerGivesNil() {
        let pool = ServerPool(servers: servers(("A", 0), ("B", 100)))
        pool.setAdminState("B", .halt)
        #expect(picks(pool, 1) == ["-"])
        #expect(!pool.hasAvailableServer)
        pool.setAdminState("B", .online)
        #expect(pool.hasAvailableServer)
        #expect(
            ServerPool(servers: []).select(
                method: .leastconn,
                clientKey: nil,
                stickKey: nil,
                stickTable: nil,
                allowed: nil
            ) == nil
        )
    }

    // MARK: leastconn

    @Test func leastconnPrefersFewestActivePerWeight() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 100)))
        _ = picks(pool, 2, method: .leastconn)
        #expect(active(pool) == ["A": 1, "B": 1])
        pool.release("A")
        // A has 0, B has 1: A, whatever the tie rotation says.
        #expect(picks(pool, 1, method: .leastconn) == ["A"])
        #expect(active(pool) == ["A": 1, "B": 1])
        pool.release("B")
        #expect(active(pool) == ["A": 1, "B": 0])
        #expect(picks(pool, 1, method: .leastconn) == ["B"])
    }

    @Test func leastconnHonoursWeights() {
        // B may carry twice A's connections: after 300 picks without releases A has 100, B 200 — exactly, since a
        // pick always goes to the lower active/weight ratio.
        let pool = ServerPool(servers: servers(("A", 100), ("B", 200)))
        _ = picks(pool, 300, method: .leastconn)
        #expect(active(pool) == ["A": 100, "B": 200])
    }

    @Test func leastconnSpreadsTies() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 100), ("C", 100)))
        var counts: [String: Int] = [:]
        for _ in 0..<30 {
            // Release at once: every pick sees a three-way tie.
            let label = picks(pool, 1, method: .leastconn)[0]
            counts[label, default: 0] += 1
            pool.release(label)
        }
        #expect(counts == ["A": 10, "B": 10, "C": 10])
    }

    // MARK: source hashing

    @Test func sourceSendsAClientToTheSameServer() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 100), ("C", 100)))
        let key = client("192.168.110.7")
        let first = pool.select(method: .source, clientKey: key, stickKey: nil, stickTable: nil, allowed: nil)?.label
        #expect(first != nil)
        for _ in 0..<20 {
            #expect(
                pool.select(method: .source, clientKey: key, stickKey: nil, stickTable: nil, allowed: nil)?.label
                    == first
            )
        }
        // The port is not part of the key.
        let otherPort = StickKey(clientAddress: try! SocketAddress(ipAddress: "192.168.110.7", port: 50001))
        #expect(
            pool.select(method: .source, clientKey: otherPort, stickKey: nil, stickTable: nil, allowed: nil)?.label
                == first
        )
    }

    @Test func sourceAssignmentIsStableAcrossProcesses() {
        // Values computed independently (FNV-1a + rendezvous hashing in Python): the assignment must not depend on
        // Swift's per-process hash seed, or restarts and the HA peer would disagree.
        let pool = ServerPool(servers: servers(("MACH7-A", 100), ("MACH7-B", 100), ("MACH7-C", 100)))
        let expected = [
            "192.168.110.7": "MACH7-C", "192.168.110.8": "MACH7-B", "192.168.110.10": "MACH7-A", "10.1.2.3": "MACH7-B",
        ]
        for (ip, label) in expected {
            #expect(
                pool.select(method: .source, clientKey: client(ip), stickKey: nil, stickTable: nil, allowed: nil)?.label
                    == label,
                "\(ip)"
            )
        }
        #expect(client("192.168.110.7").hashValue64 == 0x5bc8_c7d6_2c65_5ef6)
        var hasher = Hasher64(seed: 0)
        hasher.combine("A")
        #expect(hasher.value == 0x2896_b3f7_8e93_1c39)
    }

    private func sourceAssignment(_ pool: ServerPool, clients: Int) -> [String] {
        (0..<clients).map { index in
            pool.select(
                method: .source,
                clientKey: client("10.0.\(index / 256).\(index % 256)"),
                stickKey: nil,
                stickTable: nil,
                allowed: nil
            )?.label ?? "-"
        }
    }

    @Test func sourceSpreadsClients() {
        let pool = ServerPool(servers: servers(("MACH7-A", 100), ("MACH7-B", 100), ("MACH7-C", 100)))
        let assignment = sourceAssignment(pool, clients: 300)
        for label in ["MACH7-A", "MACH7-B", "MACH7-C"] {
            let count = assignment.filter { $0 == label }.count
            #expect((80...120).contains(count), "\(label) got \(count) of 300")
        }
        let weighted = ServerPool(servers: servers(("A", 200), ("B", 100)))
        let shares = sourceAssignment(weighted, clients: 300)
        let a = shares.filter { $0 == "A" }.count
        #expect((180...220).contains(a), "A (weight 200) got \(a) of 300")
    }

    @Test func sourceMovesOnlyTheClientsOfAHaltedServer() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 100), ("C", 100)))
        let before = sourceAssignment(pool, clients: 300)
        pool.setAdminState("B", .halt)
        let after = sourceAssignment(pool, clients: 300)
        var moved = 0
        for (old, new) in zip(before, after) {
            if old == "B" {
                #expect(new == "A" || new == "C")
                moved += 1
            } else {
                #expect(new == old)
            }
        }
        #expect(moved == before.filter { $0 == "B" }.count)
        #expect(moved > 0)
        // Back online: everyone returns to where they were.
        pool.setAdminState("B", .online)
        #expect(sourceAssignment(pool, clients: 300) == before)
    }

    @Test func sourceMovesOnlyTheClientsOfARemovedServer() {
        let configured = servers(("A", 100), ("B", 100), ("C", 100))
        let pool = ServerPool(servers: configured)
        let before = sourceAssignment(pool, clients: 300)
        pool.update(servers: configured.filter { $0.label != "B" }, previous: configured, rise: 2, fall: 3)
        let after = sourceAssignment(pool, clients: 300)
        for (old, new) in zip(before, after) where old != "B" {
            #expect(new == old)
        }
        #expect(!after.contains("B"))
    }

    // MARK: persistence

    @Test func stuckClientReturnsToItsServer() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 100)))
        let table = StickTable(timeout: .minutes(30), capacity: 100)
        let key = client("192.168.110.7")
        let first = stickySelect(pool, key, table)
        #expect(
            first == ServerPool.Selection(label: "A", endpoint: Endpoint(host: "10.0.0.1", port: 104), stuck: false)
        )
        #expect(table.lookup(key, now: Self.now) == "A")
        // Round-robin alone would now pick B.
        for _ in 0..<5 {
            #expect(
                stickySelect(pool, key, table)
                    == ServerPool.Selection(label: "A", endpoint: Endpoint(host: "10.0.0.1", port: 104), stuck: true)
            )
        }
        // Another client is balanced normally.
        #expect(stickySelect(pool, client("192.168.110.8"), table)?.label == "B")
        #expect(active(pool) == ["A": 6, "B": 1])
    }

    @Test func stuckClientIsAdmittedToADrainingServerButNewClientsAreNot() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 100)))
        let table = StickTable(timeout: .minutes(30), capacity: 100)
        let stuck = client("192.168.110.7")
        #expect(stickySelect(pool, stuck, table)?.label == "A")
        #expect(pool.setAdminState("A", .drain) == .online)
        #expect(
            stickySelect(pool, stuck, table)
                == ServerPool.Selection(label: "A", endpoint: Endpoint(host: "10.0.0.1", port: 104), stuck: true)
        )
        for index in 0..<5 {
            #expect(stickySelect(pool, client("10.9.9.\(index)"), table)?.label == "B")
        }
        // Weight 0 behaves like drain for stuck clients.
        pool.setAdminState("A", .online)
        pool.setWeight("A", 0)
        #expect(stickySelect(pool, stuck, table)?.stuck == true)
        #expect(stickySelect(pool, client("10.9.9.9"), table)?.label == "B")
    }

    @Test func stuckClientOfAHaltedServerIsRepickedAndRestuck() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 100)))
        let table = StickTable(timeout: .minutes(30), capacity: 100)
        let key = client("192.168.110.7")
        #expect(stickySelect(pool, key, table)?.label == "A")
        pool.setAdminState("A", .halt)
        #expect(
            stickySelect(pool, key, table)
                == ServerPool.Selection(label: "B", endpoint: Endpoint(host: "10.0.0.2", port: 104), stuck: false)
        )
        #expect(table.lookup(key, now: Self.now) == "B")
        // Once A is back the client stays on B.
        pool.setAdminState("A", .online)
        #expect(
            stickySelect(pool, key, table)
                == ServerPool.Selection(label: "B", endpoint: Endpoint(host: "10.0.0.2", port: 104), stuck: true)
        )
    }

    @Test func serverThatIsDownIsNotPicked() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 100)))
        let table = StickTable(timeout: .minutes(30), capacity: 100)
        let key = client("192.168.110.7")
        #expect(stickySelect(pool, key, table)?.label == "A")
        markDown(pool, "A")
        #expect(picks(pool, 4) == ["B", "B", "B", "B"])
        #expect(picks(pool, 2, method: .leastconn) == ["B", "B"])
        // Its stuck client goes elsewhere and sticks there.
        #expect(
            stickySelect(pool, key, table)
                == ServerPool.Selection(label: "B", endpoint: Endpoint(host: "10.0.0.2", port: 104), stuck: false)
        )
        #expect(table.lookup(key, now: Self.now) == "B")
        markDown(pool, "B")
        #expect(picks(pool, 1) == ["-"])
        #expect(stickySelect(pool, key, table) == nil)
    }

    @Test func allowedSubsetAndExclusions() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 100), ("C", 100)))
        #expect(picks(pool, 4, allowed: ["B"]) == ["B", "B", "B", "B"])
        #expect(picks(pool, 4, allowed: ["A", "C"]) == ["A", "C", "A", "C"])
        #expect(picks(pool, 3, excluding: ["A", "B"]) == ["C", "C", "C"])
        #expect(picks(pool, 1, allowed: ["A"], excluding: ["A"]) == ["-"])
        #expect(picks(pool, 1, allowed: ["NOPE"]) == ["-"])
        for method in [BalanceMethod.leastconn, .source] {
            #expect(picks(pool, 3, method: method, allowed: ["C"]) == ["C", "C", "C"], "\(method)")
            #expect(picks(pool, 3, method: method, excluding: ["A", "C"]) == ["B", "B", "B"], "\(method)")
        }

        // A stuck client whose server is not allowed (protocol routing) or already failed (excluded) is re-picked.
        let table = StickTable(timeout: .minutes(30), capacity: 100)
        let key = client("192.168.110.7")
        #expect(stickySelect(pool, key, table, allowed: ["A"])?.label == "A")
        #expect(
            stickySelect(pool, key, table, allowed: ["B"])
                == ServerPool.Selection(label: "B", endpoint: Endpoint(host: "10.0.0.2", port: 104), stuck: false)
        )
        #expect(stickySelect(pool, key, table, excluding: ["B"])?.stuck == false)
        #expect(table.lookup(key, now: Self.now) != "B")
    }

    // MARK: counts and runtime state

    @Test func releaseDecrementsActiveButNotTotal() {
        let pool = ServerPool(servers: servers(("A", 100)))
        _ = picks(pool, 3)
        pool.release("A")
        var snapshot = pool.snapshot()[0]
        #expect(snapshot.activeConnections == 2)
        #expect(snapshot.totalConnections == 3)
        pool.release("A")
        pool.release("A")
        pool.release("A")
        pool.release("NOPE")
        snapshot = pool.snapshot()[0]
        #expect(snapshot.activeConnections == 0, "never below zero")
        #expect(snapshot.totalConnections == 3)
    }

    @Test func recordHealthTransitionsAfterFallAndRise() {
        let pool = ServerPool(servers: servers(("A", 100), ("B", 100)), rise: 2, fall: 3)
        #expect(pool.recordHealth("A", .failure("refused")) == nil)
        #expect(pool.recordHealth("A", .failure("refused")) == nil)
        #expect(pool.snapshot()[0].health == .up)
        #expect(pool.recordHealth("A", .failure("timed out")) == .down)
        #expect(pool.recordHealth("A", .failure("timed out")) == nil)
        #expect(pool.snapshot()[0].health == .down)
        #expect(pool.recordHealth("A", .success("connected")) == nil)
        #expect(pool.recordHealth("A", .success("connected")) == .up)
        #expect(pool.recordHealth("NOPE", .success("connected")) == nil)
        let snapshot = pool.snapshot()[0]
        #expect(snapshot.health == .up)
        #expect(snapshot.lastCheck == .success("connected"))
        #expect(snapshot.lastCheckAt != nil)
        #expect(snapshot.lastChangeAt != nil)
        #expect(snapshot.checksPassed == 2)
        #expect(snapshot.checksFailed == 4)
        #expect(pool.snapshot()[1].lastCheck == nil)
        #expect(pool.snapshot()[1].lastChangeAt == nil)
    }

    @Test func adminStateAndWeightSetters() {
        let pool = ServerPool(servers: servers(("A", 100)))
        #expect(pool.setAdminState("A", .drain) == .online)
        #expect(pool.setAdminState("A", .halt) == .drain)
        #expect(pool.setAdminState("NOPE", .halt) == nil)
        #expect(pool.setWeight("A", 50) == 100)
        #expect(pool.setWeight("A", -5) == 50)
        #expect(pool.setWeight("NOPE", 5) == nil)
        let snapshot = pool.snapshot()[0]
        #expect(snapshot.adminState == .halt)
        #expect(snapshot.weight == 0)
        #expect(pool.labels == ["A"])
    }

    @Test func updateKeepsRuntimeStateOfExistingServers() {
        let configured = servers(("A", 100), ("B", 100))
        let pool = ServerPool(servers: configured, rise: 2, fall: 3)
        _ = picks(pool, 2, allowed: ["A"])
        markDown(pool, "A")
        pool.setAdminState("A", .drain)
        pool.setWeight("A", 10)

        // Same configuration for A, B removed, C added.
        let reloaded = [
            configured[0], ServerConfiguration(label: "C", endpoint: Endpoint(host: "10.0.0.3", port: 104), weight: 30),
        ]
        pool.update(servers: reloaded, previous: configured, rise: 2, fall: 3)
        #expect(pool.labels == ["A", "C"])
        let a = pool.snapshot()[0]
        #expect(a.activeConnections == 2)
        #expect(a.totalConnections == 2)
        #expect(a.health == .down)
        #expect(a.adminState == .drain, "a runtime state survives a reload that does not change the configured state")
        #expect(a.weight == 10, "a runtime weight survives a reload that does not change the configured weight")
        #expect(a.checksFailed == 3)
        let c = pool.snapshot()[1]
        #expect(c.health == .up)
        #expect(c.adminState == .online)
        #expect(c.weight == 30)
        #expect(c.activeConnections == 0)
        #expect(c.endpoint == Endpoint(host: "10.0.0.3", port: 104))

        // A changed configured weight and state replace the runtime ones.
        var changed = reloaded
        changed[0].weight = 70
        changed[0].state = .halt
        pool.update(servers: changed, previous: reloaded, rise: 2, fall: 3)
        #expect(pool.snapshot()[0].weight == 70)
        #expect(pool.snapshot()[0].adminState == .halt)
        #expect(pool.snapshot()[0].health == .down)
    }

    @Test func updateWithNewRiseAndFallKeepsHealth() {
        let configured = servers(("A", 100))
        let pool = ServerPool(servers: configured, rise: 2, fall: 3)
        markDown(pool, "A")
        pool.update(servers: configured, previous: configured, rise: 1, fall: 1)
        #expect(pool.snapshot()[0].health == .down)
        // rise is now 1: one good check brings it back.
        #expect(pool.recordHealth("A", .success("ok")) == .up)
        #expect(pool.recordHealth("A", .failure("refused")) == .down)
    }

    @Test func updateWithANewAddressResetsHealth() {
        let configured = servers(("A", 100))
        let pool = ServerPool(servers: configured, rise: 2, fall: 3)
        markDown(pool, "A")
        var moved = configured
        moved[0].endpoint = Endpoint(host: "10.0.0.99", port: 104)
        pool.update(servers: moved, previous: configured, rise: 2, fall: 3)
        let snapshot = pool.snapshot()[0]
        #expect(snapshot.endpoint == Endpoint(host: "10.0.0.99", port: 104))
        #expect(snapshot.health == .up)
        #expect(
            pool.select(method: .roundrobin, clientKey: nil, stickKey: nil, stickTable: nil, allowed: nil)?.endpoint
                == Endpoint(host: "10.0.0.99", port: 104)
        )
    }
}
