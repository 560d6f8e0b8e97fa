"""Where settings come from besides the environment: HashiCorp Vault."""
