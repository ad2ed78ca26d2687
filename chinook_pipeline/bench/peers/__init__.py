"""The bench's peers: what the pipeline is set against in the same run (`bench --peers`)."""
