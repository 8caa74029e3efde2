// PacsgateHA module; being built.
