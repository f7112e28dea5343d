"""Generated gRPC stubs: do not edit; see codegen.py."""
