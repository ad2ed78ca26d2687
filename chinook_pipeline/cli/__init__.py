"""The command line: options, the service runner and the generated configuration reference."""
