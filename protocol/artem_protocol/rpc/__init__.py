"""Generated gRPC code (scripts/gen_proto.py from proto/); never edited by hand."""

from .artem.v1 import stylizer_pb2 as pb
from .artem.v1 import stylizer_pb2_grpc as pb_grpc

__all__ = ["pb", "pb_grpc"]
