"""One module per command group; each imports its heavy dependencies (gRPC, protobuf) only when run."""
