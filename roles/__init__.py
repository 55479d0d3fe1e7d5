"""pyinfra roles: one package per component, each a `@deploy` with typed, validated settings."""
