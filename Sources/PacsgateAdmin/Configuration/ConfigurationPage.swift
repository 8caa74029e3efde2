import Foundation
import PacsgateConfig
import PacsgateCore

/// The configuration page: each service with its keys and servers as forms, the backups, and the review of a change.
enum ConfigurationPage {
    /// A service as the file writes it.
    struct Service {
        struct Server {
            var label: String
            var address: String
            var weight: String
            var backup: Bool
            /// Keys the page does not edit (`send_proxy`, TLS keys…), as one line of YAML each.
            var other: [(String, String)]
        }

        var label: String
        var listen: String
        var protocolName: String
        var balance: String
        var persistence: String
        var healthCheck: String
        /// The service's other keys (AE allow-lists, routes, TLS, timeouts…), as one line of YAML each.
        var other: [(String, String)]
        var servers: [Server]
    }

    /// The services of a configuration text (empty when it does not parse).
    static func services(in text: String) -> [Service] {
        guard case .success(let root) = ConfigurationLoader.parse(yaml: text), case .mapping(let entries) = root.kind,
            case .sequence(let items)? = entries.first(where: { $0.key == "services" })?.value.kind
        else { return [] }
        return items.compactMap { item in
            guard case .mapping(let keys) = item.kind else { return nil }
            var service = Service(
                label: item.value(of: "label") ?? "", listen: item.value(of: "listen") ?? "",
                protocolName: item.value(of: "protocol") ?? "tcp", balance: item.value(of: "balance") ?? "", persistence: "",
                healthCheck: "", other: [], servers: [])
            for key in keys {
                switch key.key {
                case "label", "listen", "protocol", "balance": break
                case "persistence": service.persistence = key.value.flowText
                case "health_check": service.healthCheck = key.value.flowText
                case "servers":
                    guard case .sequence(let servers) = key.value.kind else { continue }
                    service.servers = servers.map { server in
                        var other: [(String, String)] = []
                        if case .mapping(let fields) = server.kind {
                            for field in fields where !["label", "address", "weight", "backup"].contains(field.key) {
                                other.append((field.key, field.value.flowText))
                            }
                        }
                        return Service.Server(
                            label: server.value(of: "label") ?? "", address: server.value(of: "address") ?? "",
                            weight: server.value(of: "weight") ?? "", backup: server.value(of: "backup") == "true", other: other)
                    }
                default: service.other.append((key.key, key.value.flowText))
                }
            }
            return service
        }
    }

    static let balanceMethods = ["roundrobin", "leastconn", "source"]

    static func render(services: [Service], backups: [ConfigurationManager.Backup], csrf: String, editable: Bool, pair: Overview.Pair?) -> String {
        let token = "<input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape(csrf))\">"
        var html = """
            <section class="card wide config-intro">
            <h2>Configuration <span class="sub">the file is the source of truth</span></h2>
            <p>Each change is checked as <code>pacsgate check-config</code> checks the file, shown as a diff of the file to confirm, then applied as a reload (open connections stay); the previous file is kept as a dated backup you can roll back to. The page edits only the lines a change touches: comments and layout elsewhere stay. An edited key is rewritten on one line (a comment at the end of that line goes with it), and lists written as <code>[ … ]</code> must be changed by upload.</p>
            """
        if let pair {
            html += "<p class=\"note\">HA pair: this unit is the <strong>\(HTML.escape(pair.role))</strong>. Changes are made on the primary, which syncs them to its peer; the secondary refuses them.</p>"
        }
        if !editable {
            html += "<p class=\"error\">This gateway runs without a configuration file (demo): nothing can be changed here.</p>"
        }
        html += "</section>\n"
        for service in services {
            let name = HTML.escape(service.label)
            html += "<section class=\"card wide config-service\" data-service=\"\(name)\">\n"
            html += "<h2>\(name) <span class=\"sub\">\(HTML.escape(service.protocolName)) · \(HTML.escape(service.listen))</span></h2>\n"
            html += "<table class=\"config-servers\"><thead><tr><th>Server</th><th>Address</th><th>Weight</th><th>Backup</th><th></th></tr></thead><tbody>\n"
            for server in service.servers {
                let label = HTML.escape(server.label)
                let form = "edit-\(name)-\(label)"
                html += """
                    <tr class="config-server" data-server="\(label)" data-address="\(HTML.escape(server.address))" data-weight="\(HTML.escape(server.weight))" data-backup="\(server.backup)">
                    <td><input form="\(form)" name="label" value="\(label)" aria-label="label" required></td>
                    <td><input form="\(form)" name="address" value="\(HTML.escape(server.address))" aria-label="address" required></td>
                    <td><input form="\(form)" name="weight" value="\(HTML.escape(server.weight))" placeholder="100" aria-label="weight" size="7"></td>
                    <td><select form="\(form)" name="backup" aria-label="backup"><option value="false"\(server.backup ? "" : " selected")>no</option><option value="true"\(server.backup ? " selected" : "")>yes</option></select></td>
                    <td class="actions">
                    <form id="\(form)" class="inline" method="post" action="/config/preview">\(token)<input type="hidden" name="op" value="server.update"><input type="hidden" name="service" value="\(name)"><input type="hidden" name="server" value="\(label)"><button class="button" type="submit" data-action="update">Change…</button></form>
                    <form class="inline" method="post" action="/config/preview">\(token)<input type="hidden" name="op" value="server.remove"><input type="hidden" name="service" value="\(name)"><input type="hidden" name="server" value="\(label)"><button class="button danger" type="submit" data-action="remove">Remove…</button></form>
                    </td></tr>\n
                    """
                if !server.other.isEmpty {
                    html += "<tr class=\"config-server-other\"><td colspan=\"5\" class=\"sub\">also: \(HTML.escape(server.other.map { "\($0.0): \($0.1)" }.joined(separator: ", ")))</td></tr>\n"
                }
            }
            let addForm = "add-\(name)"
            html += """
                <tr class="config-add-server">
                <td><input form="\(addForm)" name="label" placeholder="new server label" aria-label="new server label" required></td>
                <td><input form="\(addForm)" name="address" placeholder="host:port" aria-label="new server address" required></td>
                <td><input form="\(addForm)" name="weight" placeholder="100" aria-label="new server weight" size="7"></td>
                <td><select form="\(addForm)" name="backup" aria-label="new server backup"><option value="">no</option><option value="true">yes</option></select></td>
                <td class="actions"><form id="\(addForm)" class="inline" method="post" action="/config/preview">\(token)<input type="hidden" name="op" value="server.add"><input type="hidden" name="service" value="\(name)"><button class="button" type="submit" data-action="add">Add server…</button></form></td>
                </tr>
                </tbody></table>\n
                """
            var balanceOptions = ""
            for method in Self.balanceMethods {
                balanceOptions += "<option\(method == service.balance ? " selected" : "")>\(method)</option>"
            }
            if !service.balance.isEmpty, !Self.balanceMethods.contains(service.balance) {
                balanceOptions += "<option selected>\(HTML.escape(service.balance))</option>"
            }
            var other = ""
            for (key, value) in service.other {
                other += "<li><code>\(HTML.escape(key)): \(HTML.escape(value))</code></li>"
            }
            html += """
                <form class="config-keys" method="post" action="/config/preview">\(token)<input type="hidden" name="op" value="service.set"><input type="hidden" name="service" value="\(name)">
                <label>Balance <select name="balance">\(balanceOptions)</select></label>
                <label>Persistence <input name="persistence" value="\(HTML.escape(service.persistence))" placeholder="{ type: source-ip, timeout: 30m }" size="40"></label>
                <label>Health check <input name="health_check" value="\(HTML.escape(service.healthCheck))" placeholder="{ type: connect, interval: 2s }" size="50"></label>
                <label>Other key <input name="key" placeholder="calling_ae_allow" size="18"></label>
                <label>value <input name="value" placeholder="[CT_*, MR_3T]" size="30"></label>
                <button class="button" type="submit" data-action="service-set">Change service…</button>
                </form>
                \(other.isEmpty ? "" : "<p class=\"sub\">Other keys (set one above by name; an empty value removes it):</p><ul class=\"config-other\">\(other)</ul>")
                <form class="inline" method="post" action="/config/preview">\(token)<input type="hidden" name="op" value="service.remove"><input type="hidden" name="service" value="\(name)"><button class="button danger subtle" type="submit" data-action="remove-service">Remove service \(name)…</button></form>
                </section>\n
                """
        }
        html += """
            <section class="card wide config-add-service">
            <h2>Add a service</h2>
            <form method="post" action="/config/preview">\(token)<input type="hidden" name="op" value="service.add">
            <label>Label <input name="service" required size="12"></label>
            <label>Listen <input name="listen" placeholder="0.0.0.0:11112" required size="18"></label>
            <label>Protocol <select name="protocol"><option>dicom</option><option>hl7</option><option>tls</option><option>tcp</option></select></label>
            <label>Balance <select name="balance">\(Self.balanceMethods.map { "<option>\($0)</option>" }.joined())</select></label>
            <label>First server <input name="label_server" placeholder="label" required size="10"></label>
            <label>at <input name="address" placeholder="host:port" required size="18"></label>
            <button class="button" type="submit" data-action="add-service">Add service…</button>
            </form>
            </section>
            <section class="card wide config-backups">
            <h2>Backups <span class="sub">the file as it was before each change, newest first</span></h2>\n
            """
        if backups.isEmpty {
            html += "<p class=\"empty\">No backups yet: one is kept before every change.</p>"
        } else {
            html += "<table><thead><tr><th>Backup</th><th>Taken</th><th>Size</th><th></th></tr></thead><tbody>\n"
            for backup in backups {
                let name = HTML.escape(backup.name)
                html += """
                    <tr class="config-backup" data-backup="\(name)"><td><code>\(name)</code></td><td>\(HTML.escape(backup.taken))</td><td>\(HTML.bytes(Double(backup.bytes)))</td>
                    <td><form class="inline" method="post" action="/config/rollback/preview">\(token)<input type="hidden" name="backup" value="\(name)"><button class="button" type="submit" data-action="rollback">Roll back…</button></form></td></tr>\n
                    """
            }
            html += "</tbody></table>"
        }
        return html + "</section>"
    }

    /// The review of a change: its diff, its problems or refusal, and the confirm button (which carries the change's
    /// fields and the digest of the file it was made on).
    static func preview(_ preview: ConfigurationManager.Preview, title: String, carried: [(String, String)], csrf: String) -> String {
        var html = "<section class=\"card wide config-preview\">\n<h2>Review: \(HTML.escape(title))</h2>\n"
        if !preview.problems.isEmpty {
            html += "<p class=\"error\">The changed file would be refused; nothing was changed:</p><ul class=\"problems\">"
            for problem in preview.problems { html += "<li><code>\(HTML.escape(problem))</code></li>" }
            html += "</ul>\n"
        }
        if let refusal = preview.refusal {
            html += "<p class=\"error refusal\">\(HTML.escape(refusal))</p>\n"
        }
        if preview.diff.isEmpty {
            if preview.problems.isEmpty { html += "<p class=\"empty\">This changes nothing in the file.</p>\n" }
        } else {
            html += "<pre class=\"diff\">"
            for hunk in preview.diff.hunks {
                html += "<span class=\"diff-hunk\">\(HTML.escape(hunk.header))</span>\n"
                for line in hunk.lines {
                    let kind = line.kind == .added ? "diff-added" : line.kind == .removed ? "diff-removed" : "diff-context"
                    html += "<span class=\"\(kind)\">\(HTML.escape(line.kind.rawValue + line.text))</span>\n"
                }
            }
            html += "</pre>\n"
        }
        if preview.acceptable {
            html += "<form method=\"post\" action=\"/config/apply\"><input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape(csrf))\">"
            html += "<input type=\"hidden\" name=\"base\" value=\"\(HTML.escape(preview.base))\">"
            for (name, value) in carried {
                html += "<input type=\"hidden\" name=\"\(HTML.escape(name))\" value=\"\(HTML.escape(value))\">"
            }
            html += "<button class=\"button\" type=\"submit\" data-action=\"apply\">Apply and reload</button> <a class=\"button subtle\" href=\"/config\">Cancel</a></form>\n"
        } else {
            html += "<p><a class=\"button subtle\" href=\"/config\">Back</a></p>\n"
        }
        return html + "</section>"
    }
}

extension ConfigNode {
    /// The node as YAML on one line (`{ type: source-ip, timeout: 30m }`, `[CT_*, MR_3T]`), for the page's fields.
    var flowText: String {
        switch self.kind {
        case .scalar(let text): return YAMLValue.scalar(text)
        case .null: return "null"
        case .sequence(let items): return "[" + items.map(\.flowText).joined(separator: ", ") + "]"
        case .mapping(let entries):
            return entries.isEmpty ? "{}" : "{ " + entries.map { "\($0.key): \($0.value.flowText)" }.joined(separator: ", ") + " }"
        }
    }
}
