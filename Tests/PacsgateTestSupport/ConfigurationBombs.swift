/// Hostile configuration texts for the tests of every path a configuration comes in by (file, upload, HA push).
package enum ConfigurationBombs {
    /// Eight levels of nine aliases each: the first lines of "billion laughs" (9⁸ scalars in eight lines).
    package static let laughs = """
        a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
        e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
        f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
        g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
        h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]

        """

    /// "Billion laughs": one more level (9⁹ scalars in ten lines), as the services list. Its first alias is on line 2.
    package static let aliasBomb = laughs + """
        i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
        services: *i

        """

    /// The same with aliases as mapping keys: Yams hashes keys (to find duplicates) while composing.
    package static let keyBomb = laughs + """
        i: {? *h : x, ? [*h, *h] : y}

        """
}
