/// The System Overview as HTML: the whole page for `GET /`, and the live part alone for the page's refresh.
///
/// Colour carries meaning only: green and red for health, amber for a drained server, grey for a halted one.
/// Everything else is set in neutral greys so a problem stands out at a glance.
enum OverviewPage {
    /// The full page.
    static func page(_ overview: Overview, csrfToken: String, canUpload: Bool, notice: String? = nil) -> String {
        let tools = """
            <a class="button subtle" href="/api/v1/config" download="pacsgate.yaml">Download configuration</a>
            \(canUpload ? """
            <form class="inline upload" method="post" action="/api/v1/config" data-upload>
              <label class="button subtle">Upload configuration<input type="file" name="file" accept=".yaml,.yml,text/yaml" hidden></label>
            </form>
            """ : "")
            <form class="inline" method="post" action="/actions/reload">
              <input type="hidden" name="csrf" value="\(HTML.escape(csrfToken))">
              <button class="button subtle" type="submit">Reload configuration</button>
            </form>
            """
        return PageChrome.page(
            title: "System Overview", section: .overview, user: overview.user, csrfToken: csrfToken,
            content: Self.live(overview, csrfToken: csrfToken),
            mainAttributes: "id=\"overview\" data-refresh=\"/fragment/overview\"", tools: tools, notice: notice)
    }

    /// The part of the page that refreshes.
    static func live(_ overview: Overview, csrfToken: String) -> String {
        var html = ""
        if !overview.audit.ok {
            html += """
                <div class="alarm">Audit log cannot be written: \(HTML.escape(overview.audit.reason ?? "unknown"))
                 — \(overview.audit.buffered) records held in memory until it can (none is dropped).</div>
                """
        }
        for alarm in overview.alarms ?? [] {
            html += "<div class=\"alarm\">\(HTML.escape(alarm))</div>"
        }
        if let pair = overview.pair { html += Self.pair(pair) }
        html += Self.services(overview, csrfToken: csrfToken)
        html += "<section class=\"grid\">"
        html += Self.graphs(overview)
        html += "</section>"
        html += "<section class=\"grid three\">"
        html += Self.associations(overview)
        html += Self.hl7(overview)
        html += Self.tls(overview)
        html += "</section>"
        html += "<footer class=\"foot\">Updated <time data-time=\"\(HTML.escape(overview.generatedAt))\">\(HTML.escape(overview.generatedAt))</time> · refreshes every 3 s</footer>"
        return html
    }

    // MARK: services

    private static func services(_ overview: Overview, csrfToken: String) -> String {
        var rows = ""
        for service in overview.services {
            let arrow = service.up ? "<span class=\"arrow up\" title=\"up: at least one server takes new connections\">▲</span>"
                : "<span class=\"arrow down\" title=\"down: no server takes new connections\">▼</span>"
            rows += """
                <tbody class="service" data-service="\(HTML.escape(service.label))">
                <tr class="service-row">
                  <td class="status">\(arrow)</td>
                  <th scope="row" class="label">\(HTML.escape(service.label))</th>
                  <td class="mono">\(HTML.escape(Self.host(service.listen)))</td>
                  <td class="num mono">\(service.port)</td>
                  <td>\(HTML.escape(service.protocol))</td>
                  <td>\(HTML.escape(service.balance))</td>
                  <td title="engine: \(HTML.escape(service.engine))">\(HTML.escape(service.mode)) · \(HTML.escape(service.engine))</td>
                  <td title="health check: \(HTML.escape(service.healthCheck))">\(HTML.escape(service.persistence))</td>
                  <td></td>
                  <td class="num strong" title="open now">\(HTML.count(service.activeConnections))</td>
                  <td class="num dim" title="since start">\(HTML.count(service.totalConnections))\(service.refusedConnections > 0 ? " <span class=\"refused\" title=\"refused by the gateway\">· \(HTML.count(service.refusedConnections)) refused</span>" : "")</td>
                  <td class="num dim" title="client → server / server → client">\(HTML.bytes(Double(service.bytesUp))) / \(HTML.bytes(Double(service.bytesDown)))</td>
                  <td></td>
                </tr>
                """
            if let tls = service.tls { rows += Self.tlsLine(tls) }
            for server in service.servers {
                rows += Self.server(server, service: service.label, checked: service.healthCheck != "none", csrfToken: csrfToken)
            }
            rows += "</tbody>"
        }
        return """
            <section class="card">
            <h2>Virtual services</h2>
            <table class="services">
            <thead><tr>
              <th class="status"></th><th>Label</th><th>Address</th><th class="num">Port</th><th>Protocol</th><th>Balance</th>
              <th>Mode</th><th>Persistence</th><th class="num">Weight</th><th class="num">Conns</th><th class="num">Total</th>
              <th class="num">Bytes</th><th class="actions">Server state</th>
            </tr></thead>
            \(rows)
            </table>
            </section>
            """
    }

    /// The line under a service that terminates TLS: its certificates' expiry, client authentication, CRL.
    private static func tlsLine(_ tls: Overview.ServiceTLS) -> String {
        var parts = tls.certificates.map { certificate in
            let soon = certificate.daysLeft < Overview.certificateWarningDays
            let when = certificate.daysLeft < 0
                ? "EXPIRED \(certificate.notAfter.prefix(10))"
                : "expires \(certificate.notAfter.prefix(10)) (in \(certificate.daysLeft) days)"
            return "certificate \(HTML.escape(certificate.subject ?? "")) <span class=\"\(soon ? "bad-text" : "")\">\(HTML.escape(when))</span>"
        }
        parts.append("client certificates \(HTML.escape(tls.clientAuth))")
        if let due = tls.crlNextUpdate { parts.append("CRL next update \(HTML.escape(String(due.prefix(10))))") }
        return "<tr class=\"tls-row\"><td></td><td colspan=\"12\" class=\"dim\">TLS · \(parts.joined(separator: " · "))</td></tr>"
    }

    private static func server(_ server: Overview.Server, service: String, checked: Bool, csrfToken: String) -> String {
        let healthClass = server.health == "up" ? "ok" : "bad"
        let check: String
        if let last = server.lastCheck {
            check = """
                <span class="check \(last.ok ? "" : "bad-text")" title="\(last.passed) passed, \(last.failed) failed since start">\(HTML.escape(last.detail)) · \(HTML.decimal(last.latencyMs, places: 1)) ms\(last.at.map { " · <time data-time=\"\(HTML.escape($0))\">\(HTML.escape($0))</time>" } ?? "")</span>
                """
        } else {
            check = "<span class=\"check dim\">\(checked ? "no check yet" : "no health check configured")</span>"
        }
        var buttons = ""
        for (state, title) in [("online", "Online"), ("drain", "Drain"), ("halt", "Halt")] {
            let current = server.state == state
            buttons += """
                <form class="inline" method="post" action="/actions/state">
                  <input type="hidden" name="csrf" value="\(HTML.escape(csrfToken))">
                  <input type="hidden" name="service" value="\(HTML.escape(service))">
                  <input type="hidden" name="server" value="\(HTML.escape(server.label))">
                  <input type="hidden" name="state" value="\(state)">
                  <button type="submit" class="button small\(current ? " current" : "")" data-action="\(state)"\(current ? " disabled" : "")>\(title)</button>
                </form>
                """
        }
        return """
            <tr class="server-row" data-server="\(HTML.escape(server.label))" data-state="\(HTML.escape(server.state))" data-health="\(HTML.escape(server.health))" data-role="\(server.backup ? "backup" : "primary")">
              <td class="status"><span class="dot \(healthClass)" title="health: \(HTML.escape(server.health))"></span></td>
              <td class="label indent">\(HTML.escape(server.label))\(Self.backupTag(server))</td>
              <td class="mono">\(HTML.escape(Self.host(server.address)))</td>
              <td class="num mono">\(HTML.escape(Self.port(server.address)))</td>
              <td><span class="state \(HTML.escape(server.state))">\(HTML.escape(server.state))</span></td>
              <td><span class="health \(healthClass)-text">\(server.health == "up" ? "up" : "down")</span></td>
              <td colspan="2" class="checkcell">\(check)</td>
              <td class="num">
                <form class="inline weight" method="post" action="/actions/weight">
                  <input type="hidden" name="csrf" value="\(HTML.escape(csrfToken))">
                  <input type="hidden" name="service" value="\(HTML.escape(service))">
                  <input type="hidden" name="server" value="\(HTML.escape(server.label))">
                  <input type="number" name="weight" min="0" max="1000000" value="\(server.weight)" aria-label="weight of \(HTML.escape(server.label))">
                  <button type="submit" class="button small subtle">Set</button>
                </form>
              </td>
              <td class="num strong">\(HTML.count(server.activeConnections))</td>
              <td class="num dim">\(HTML.count(server.totalConnections))</td>
              <td class="num">\(server.connectFailures > 0 ? "<span class=\"bad-text\" title=\"connects to this server that failed\">\(HTML.count(server.connectFailures)) failed</span>" : "")</td>
              <td class="actions">\(buttons)</td>
            </tr>
            """
    }

    /// The tag after a backup server's label: whether it stands by or takes the new connections now.
    private static func backupTag(_ server: Overview.Server) -> String {
        guard server.backup else { return "" }
        return server.acceptsNew
            ? " <span class=\"role backup active\" title=\"no primary server takes new connections: this backup does\">backup · in use</span>"
            : " <span class=\"role backup\" title=\"takes new connections only while no primary server can\">backup · standing by</span>"
    }

    /// `host` of `host:port` (brackets of IPv6 kept).
    static func host(_ address: String) -> String {
        guard let colon = address.lastIndex(of: ":") else { return address }
        return String(address[..<colon])
    }

    /// `port` of `host:port`.
    static func port(_ address: String) -> String {
        guard let colon = address.lastIndex(of: ":") else { return "" }
        return String(address[address.index(after: colon)...])
    }

    // MARK: graphs

    private static func graphs(_ overview: Overview) -> String {
        var cards = ""
        for graph in overview.graphs {
            let lastConnections = graph.connectionsPerSecond.last ?? 0
            let lastBytes = graph.bytesPerSecond.last ?? 0
            cards += """
                <div class="graph">
                  <h3>\(HTML.escape(graph.service))</h3>
                  <div class="spark"><span class="what">connections/s</span><span class="now">\(HTML.rate(lastConnections))</span>\(Sparkline.svg(graph.connectionsPerSecond, label: "connections per second, last hour"))<span class="peak">peak \(HTML.rate(graph.connectionsPerSecond.max() ?? 0))</span></div>
                  <div class="spark"><span class="what">bytes/s</span><span class="now">\(HTML.bytes(lastBytes))</span>\(Sparkline.svg(graph.bytesPerSecond, label: "bytes per second, last hour"))<span class="peak">peak \(HTML.bytes(graph.bytesPerSecond.max() ?? 0))</span></div>
                </div>
                """
        }
        return """
            <section class="card wide">
            <h2>Traffic, last hour</h2>
            <div class="graphs">\(cards)</div>
            </section>
            """
    }

    // MARK: HA pair

    private static func pair(_ pair: Overview.Pair) -> String {
        let linkClass = pair.link == "up" && pair.peerReachable ? "" : "bad-text"
        let link = pair.link + (pair.linkReason.map { " — \($0)" } ?? "")
        let sync: String
        switch pair.configInSync {
        case .some(true): sync = "in sync"
        case .some(false): sync = "differs"
        case .none: sync = "peer not reported"
        }
        func time(_ value: String?) -> String {
            value.map { "<time data-time=\"\(HTML.escape($0))\">\(HTML.escape($0))</time>" } ?? "never"
        }
        return """
            <section class="card">
            <h2>HA pair <span class="sub">\(HTML.escape(pair.node)) · \(HTML.escape(pair.role)) · VRRP \(HTML.escape(pair.vrrp)) · \(HTML.escape(pair.readiness))</span></h2>
            <table class="compact"><tbody>
            <tr><th>Peer</th><td>\(HTML.escape(pair.peerNode ?? "?")) <span class="dim mono">\(HTML.escape(pair.peerAddress))</span> · VRRP \(HTML.escape(pair.peerVRRP ?? "?")) · \(HTML.escape(pair.peerReadiness ?? "?"))\(pair.peerGone.map { " · <span class=\"bad-text\">\(HTML.escape($0))</span>" } ?? "")</td></tr>
            <tr><th>Last takeover</th><td>\(HTML.escape(pair.lastTakeover ?? "none")) · \(HTML.count(pair.takeovers)) since start</td></tr>
            <tr><th>Link</th><td class="\(linkClass)">\(HTML.escape(link))\(pair.peerReachable ? "" : " · peer not reachable")</td></tr>
            <tr><th>Replication</th><td>\(HTML.count(pair.queued)) queued here, \(pair.peerQueued.map(HTML.count) ?? "?") on the peer · last sync \(time(pair.lastSync)) · \(HTML.count(pair.entriesSent)) sent, \(HTML.count(pair.entriesReceived)) received\(pair.rejected > 0 ? " · <span class=\"bad-text\">\(HTML.count(pair.rejected)) rejected</span>" : "")</td></tr>
            <tr><th>Persistence entries</th><td>\(HTML.count(pair.entries.values.reduce(0, +))) here, \(HTML.count(pair.peerEntries.values.reduce(0, +))) on the peer</td></tr>
            <tr><th>Configuration</th><td class="mono">\(HTML.escape(pair.configVersion)) here, \(HTML.escape(pair.peerConfigVersion ?? "?")) on the peer · \(sync)\(pair.configSync ? "" : " · sync off")</td></tr>
            <tr><th>Last config sync</th><td>\(HTML.escape(pair.lastConfigSync ?? "none"))</td></tr>
            </tbody></table>
            </section>
            """
    }

    // MARK: protocol activity

    private static func associations(_ overview: Overview) -> String {
        var rows = ""
        for row in overview.associations {
            let failed = !["released"].contains(row.outcome)
            rows += """
                <tr><td class="dim"><time data-time="\(HTML.escape(row.time))">\(HTML.escape(row.time))</time></td>
                <td class="mono">\(HTML.escape(row.callingAe)) → \(HTML.escape(row.calledAe))</td>
                <td class="mono dim">\(HTML.escape(row.client))</td><td>\(HTML.escape(row.server))</td>
                <td class="\(failed ? "bad-text" : "")">\(HTML.escape(row.outcome))</td></tr>
                """
        }
        if rows.isEmpty { rows = "<tr><td colspan=\"5\" class=\"empty\">No associations yet.</td></tr>" }
        return """
            <section class="card">
            <h2>Last 50 DICOM associations</h2>
            <div class="scroll"><table class="compact">
            <thead><tr><th>Time</th><th>Calling → called AE</th><th>Client</th><th>Server</th><th>Outcome</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            </section>
            """
    }

    private static func hl7(_ overview: Overview) -> String {
        var rows = ""
        var totalNaks = 0
        for row in overview.hl7 {
            totalNaks += row.naks
            rows += """
                <tr><td>\(HTML.escape(row.service))</td><td class="mono">\(HTML.escape(row.messageType))</td>
                <td class="num">\(HTML.count(row.messages))</td><td class="num">\(HTML.count(row.count(of: "AA") + row.count(of: "CA")))</td>
                <td class="num \(row.naks > 0 ? "bad-text" : "")">\(HTML.count(row.naks))</td>
                <td class="num dim">\(HTML.count(row.count(of: "none")))</td></tr>
                """
        }
        if rows.isEmpty { rows = "<tr><td colspan=\"6\" class=\"empty\">No HL7 messages yet.</td></tr>" }
        return """
            <section class="card">
            <h2>HL7 messages <span class="sub">\(HTML.count(totalNaks)) NAK\(totalNaks == 1 ? "" : "s")</span></h2>
            <div class="scroll"><table class="compact">
            <thead><tr><th>Service</th><th>Type</th><th class="num">Messages</th><th class="num">ACK</th><th class="num" title="AE, AR, CE, CR and the gateway's own refusals">NAK</th><th class="num" title="no acknowledgment">No ACK</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            </section>
            """
    }

    private static func tls(_ overview: Overview) -> String {
        var rows = ""
        for row in overview.tls {
            rows += """
                <tr><td>\(HTML.escape(row.service))</td><td class="mono">\(HTML.escape(row.sni))</td><td class="num">\(HTML.count(row.connections))</td></tr>
                """
        }
        if rows.isEmpty { rows = "<tr><td colspan=\"3\" class=\"empty\">No TLS connections yet.</td></tr>" }
        return """
            <section class="card">
            <h2>TLS server names (SNI)</h2>
            <div class="scroll"><table class="compact">
            <thead><tr><th>Service</th><th>SNI</th><th class="num">Conns</th></tr></thead>
            <tbody>\(rows)</tbody></table></div>
            </section>
            """
    }

    // MARK: login

    /// The login form.
    static func login(csrfToken: String, message: String?, user: String = "") -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Log in · pacsgate</title>
        <link rel="stylesheet" href="/static/admin.css">
        </head>
        <body class="login-page">
        <form class="login card" method="post" action="/login">
          <div class="brand"><span class="logo">pacsgate</span><span class="title">Administration</span></div>
          \(message.map { "<p class=\"error\" role=\"alert\">\(HTML.escape($0))</p>" } ?? "")
          <input type="hidden" name="csrf" value="\(HTML.escape(csrfToken))">
          <label>User <input name="user" autocomplete="username" required autofocus value="\(HTML.escape(user))"></label>
          <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
          <button class="button primary" type="submit">Log in</button>
        </form>
        </body>
        </html>
        """
    }
}

/// Small inline SVG line graphs (no script, no external library).
enum Sparkline {
    static let width = 240.0
    static let height = 36.0

    static func svg(_ values: [Double], label: String) -> String {
        guard values.count >= 2 else {
            return "<svg class=\"sparkline\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(HTML.escape(label)): collecting\"><line x1=\"0\" y1=\"\(height - 1)\" x2=\"\(width)\" y2=\"\(height - 1)\" class=\"base\"/></svg>"
        }
        let peak = max(values.max() ?? 0, 1e-9)
        let step = width / Double(values.count - 1)
        var points = ""
        for (index, value) in values.enumerated() {
            let x = Double(index) * step
            let y = height - 1 - (value / peak) * (height - 4)
            points += "\(HTML.decimal(x, places: 1)),\(HTML.decimal(y, places: 1)) "
        }
        return """
            <svg class="sparkline" viewBox="0 0 \(Int(width)) \(Int(height))" preserveAspectRatio="none" role="img" aria-label="\(HTML.escape(label))"><line x1="0" y1="\(height - 1)" x2="\(width)" y2="\(height - 1)" class="base"/><polyline points="\(points)"/></svg>
            """
    }
}

extension Overview.HL7Row {
    /// Messages answered with `code`.
    func count(of code: String) -> Int { self.acks.first { $0.code == code }?.count ?? 0 }
}
