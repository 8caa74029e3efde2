// PacsgateATNA module; being built.
