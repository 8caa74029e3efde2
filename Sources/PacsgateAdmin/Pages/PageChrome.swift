import PacsgateVersion

/// What every page of the admin has around its content: the head, the top bar with the navigation and the user's
/// controls, and the notice area.
enum PageChrome {
    /// The pages of the navigation, in order.
    enum Section: String, CaseIterable {
        case overview = "/"
        case audit = "/audit"
        case reports = "/reports"
        case logs = "/logs"
        case configuration = "/config"
        case users = "/users"

        var title: String {
            switch self {
            case .overview: return "System Overview"
            case .audit: return "Audit"
            case .reports: return "Reports"
            case .logs: return "Logs"
            case .configuration: return "Configuration"
            case .users: return "Users"
            }
        }
    }

    /// A whole page: `content` inside `<main>` (with `mainAttributes`), `tools` in the top bar before the user's name.
    static func page(
        title: String, section: Section, user: String?, csrfToken: String, content: String,
        mainAttributes: String = "", tools: String = "", notice: String? = nil, noticeIsError: Bool = false, refresh: Int? = nil
    ) -> String {
        var navigation = ""
        for item in Section.allCases {
            let current = item == section
            navigation +=
                "<a href=\"\(item.rawValue)\"\(current ? " class=\"current\" aria-current=\"page\"" : "")>\(HTML.escape(item.title))</a>"
        }
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="csrf-token" content="\(HTML.escape(csrfToken))">\(refresh.map { "\n<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? "")
            <title>\(HTML.escape(title)) · pacsgate</title>
            <link rel="stylesheet" href="/static/admin.css">
            <script src="/static/admin.js" defer></script>
            </head>
            <body>
            <header class="bar">
              <div class="brand"><span class="logo">pacsgate</span><nav class="sections">\(navigation)</nav></div>
              <div class="tools">
                \(tools)
                <span class="user">\(HTML.escape(user ?? ""))</span>
                <form class="inline" method="post" action="/logout">
                  <input type="hidden" name="csrf" value="\(HTML.escape(csrfToken))">
                  <button class="button subtle" type="submit">Log out</button>
                </form>
              </div>
            </header>
            <div id="toast" role="status" aria-live="polite"\(notice == nil ? " hidden" : "")\(noticeIsError ? " class=\"error\"" : "")>\(HTML.escape(notice ?? ""))</div>
            <main\(mainAttributes.isEmpty ? "" : " " + mainAttributes)>
            \(content)
            </main>
            <footer class="version">pacsgate \(HTML.escape(PacsgateVersion.version)) · commit <code>\(HTML.escape(PacsgateVersion.commit))</code></footer>
            </body>
            </html>
            """
    }
}
