/// The users page: your password, the users, the API tokens and their scopes.
enum AccountsPage {
    static func render(user: String, users: [String], tokens: [(name: String, scope: APIToken.Scope)], csrf: String, editable: Bool) -> String {
        let token = "<input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape(csrf))\">"
        var html = """
            <section class="card wide users">
            <h2>Your password <span class="sub">\(HTML.escape(user)) · at least \(PasswordHasher.minimumPasswordLength) characters; you log in again afterwards</span></h2>
            \(editable ? "" : "<p class=\"error\">This gateway runs without a configuration file (demo): users cannot be changed here.</p>")
            <form class="config-keys" method="post" action="/users/password">\(token)
            <label>Current <input type="password" name="current" autocomplete="current-password" required></label>
            <label>New <input type="password" name="password" autocomplete="new-password" required></label>
            <label>Repeat <input type="password" name="repeat" autocomplete="new-password" required></label>
            <button class="button" type="submit" data-action="password">Change password</button>
            </form>
            </section>
            <section class="card wide users">
            <h2>Users <span class="sub">admin.users · every user may do everything in the page</span></h2>
            <table><tbody>\n
            """
        for name in users {
            let escaped = HTML.escape(name)
            html += "<tr class=\"user-row\" data-user=\"\(escaped)\"><td>\(escaped)\(name == user ? " <span class=\"sub\">(you)</span>" : "")</td><td>"
            if name != user {
                html += "<form class=\"inline\" method=\"post\" action=\"/users/remove\">\(token)<input type=\"hidden\" name=\"name\" value=\"\(escaped)\"><button class=\"button danger\" type=\"submit\" data-action=\"remove-user\">Remove</button></form>"
            }
            html += "</td></tr>\n"
        }
        html += """
            </tbody></table>
            <form class="config-keys" method="post" action="/users/add">\(token)
            <label>Name <input name="name" required size="14"></label>
            <label>Password <input type="password" name="password" autocomplete="new-password" required></label>
            <button class="button" type="submit" data-action="add-user">Add user</button>
            </form>
            </section>
            <section class="card wide users">
            <h2>API tokens <span class="sub">admin.tokens · the file keeps a digest; a new token is shown once</span></h2>
            <table><thead><tr><th>Name</th><th>Scope</th><th></th></tr></thead><tbody>\n
            """
        for (name, scope) in tokens {
            let escaped = HTML.escape(name)
            html += """
                <tr class="token-row" data-token="\(escaped)"><td>\(escaped)</td><td>\(scope.rawValue)</td><td><form class="inline" method="post" action="/users/tokens/remove">\(token)<input type="hidden" name="name" value="\(escaped)"><button class="button danger" type="submit" data-action="remove-token">Remove</button></form></td></tr>\n
                """
        }
        html += """
            </tbody></table>
            <form class="config-keys" method="post" action="/users/tokens/add">\(token)
            <label>Name <input name="name" required size="14"></label>
            <label>Scope <select name="scope"><option>metrics</option><option selected>read</option><option>operate</option><option>admin</option></select></label>
            <button class="button" type="submit" data-action="add-token">Create token</button>
            </form>
            </section>
            """
        return html
    }
}
