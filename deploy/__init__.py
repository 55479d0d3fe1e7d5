"""Deploy entry files: pyinfra runs them; they only compose the roles."""
