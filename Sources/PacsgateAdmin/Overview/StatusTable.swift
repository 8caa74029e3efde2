import Foundation

/// The System Overview as a plain-text table, for `pacsgate ctl status`.
public enum StatusTable {
    /// Decodes an overview as `GET /api/v1/overview` sends it.
    public static func decode(_ json: [UInt8]) throws -> Overview {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Overview.self, from: Data(json))
    }

    /// One line per service and one per server, columns aligned.
    public static func render(_ overview: Overview) -> String {
        var rows: [[String]] = [["", "SERVICE/SERVER", "ADDRESS", "PROTOCOL", "BALANCE", "WEIGHT", "STATE", "HEALTH", "CONNS", "TOTAL", "LAST CHECK"]]
        for service in overview.services {
            rows.append([
                service.up ? "▲" : "▼", service.label, service.listen, service.protocol, service.balance, "", service.up ? "up" : "DOWN", "",
                String(service.activeConnections), String(service.totalConnections), "",
            ])
            for server in service.servers {
                let check = server.lastCheck.map { "\($0.ok ? "ok" : "FAILED"): \($0.detail) (\(HTML.decimal($0.latencyMs, places: 1)) ms)" } ?? "-"
                let role = server.backup ? (server.acceptsNew ? " (backup, in use)" : " (backup)") : ""
                rows.append([
                    "", "  " + server.label + role, server.address, "", "", String(server.weight), server.state,
                    server.health == "up" ? "up" : "DOWN", String(server.activeConnections), String(server.totalConnections), check,
                ])
            }
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        var lines: [String] = []
        for row in rows {
            var line = ""
            for (index, cell) in row.enumerated() {
                let numeric = index == 5 || index == 8 || index == 9
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                line += index == row.count - 1 ? cell : (numeric ? pad + cell : cell + pad) + "  "
            }
            lines.append(line.trimmingCharacters(in: .whitespaces).isEmpty ? "" : String(line.reversed().drop(while: { $0 == " " }).reversed()))
        }
        if !overview.audit.ok {
            lines.append("")
            lines.append("AUDIT LOG FAILING: \(overview.audit.reason ?? "?") (\(overview.audit.buffered) records buffered)")
        }
        return lines.joined(separator: "\n")
    }
}
