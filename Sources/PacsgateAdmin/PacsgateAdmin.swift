// PacsgateAdmin: admin web page, JSON API, metrics (issue 7).
