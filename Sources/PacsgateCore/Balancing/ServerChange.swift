/// A runtime change to one server of a service: a new administrative state or a new weight. The admin API and page
/// (and `pacsgate ctl` through the API) and the HA pair's runtime sync change a server, named by its label, through
/// ``Gateway/change(service:server:to:)`` with one of these.
public enum ServerChange: Sendable, Hashable, CustomStringConvertible {
    /// `online`, `drain` or `halt`.
    case state(ServerAdminState)
    /// A balancing weight, 0 to ``ServerChange/weights``.
    case weight(Int)

    /// The weights a server may have.
    public static let weights = 0...1_000_000

    /// The value as an operator reads it: `drain`, `50`.
    public var description: String {
        switch self {
        case .state(let state): state.rawValue
        case .weight(let weight): String(weight)
        }
    }

    /// What `snapshot` holds of the kind this change sets: its state for a state change, its weight for a weight
    /// change.
    public func current(in snapshot: ServerSnapshot) -> ServerChange {
        switch self {
        case .state: .state(snapshot.adminState)
        case .weight: .weight(snapshot.weight)
        }
    }
}

extension ServerPool {
    /// Applies `change` to the server `label`; returns the value it replaced, or `nil` if there is no such server.
    @discardableResult
    public func apply(_ change: ServerChange, to label: String) -> ServerChange? {
        switch change {
        case .state(let state): self.setAdminState(label, state).map(ServerChange.state)
        case .weight(let weight): self.setWeight(label, weight).map(ServerChange.weight)
        }
    }
}
