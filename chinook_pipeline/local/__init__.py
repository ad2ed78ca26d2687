"""The local stack: the embedded broker and S3 server, `dev`, and metric scrapes."""
