"""Builds and stalls: a runner build (an ONNX export, a compile: seconds) never sits in front of
another stream's frames, a stream whose runner is being built hears so, one stream cannot queue
builds without end, and health says NOT_SERVING while frames miss their deadline."""

from __future__ import annotations

import queue
import threading

import grpc
import pytest
import torch
from artem_client import StylizerClient
from artem_protocol.rpc import pb
from conftest import RunningServer
from hardening_util import NOT_SERVING, SERVING, BlockingModel, health, rgba_view, wait_for
from test_stream import config, exchange, frame, frames_of

from artem_server.limits import ServerLimits
from artem_server.server import ServerConfig

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]


class SlowToBuild(torch.nn.Module):
    """Returns its input; building a runner of it in any precision but CPU fp32 (a deep copy)
    waits for `release`: stands for an ONNX export or torch.compile."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()
        self.builds = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def __deepcopy__(self, memo) -> torch.nn.Module:
        self.builds += 1
        self.entered.set()
        assert self.release.wait(60), "the test never released the build"
        return torch.nn.Identity()


@pytest.fixture()
def server(models_dir):
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            server_limits=ServerLimits(frame_deadline_s=1.0),
        )
    )
    yield s
    s.stop()


def bf16(style: str, precision: str = "bf16") -> pb.StylizeRequest:
    return pb.StylizeRequest(
        config=pb.SessionConfig(style=style, backend="torch-eager", precision=precision)
    )


class Stream:
    """A Stylize stream driven request by request from the test."""

    def __init__(self, client: StylizerClient) -> None:
        self.requests: queue.Queue = queue.Queue()
        self.call = client.stub.Stylize(iter(self.requests.get, None), timeout=120)

    def ask(self, request: pb.StylizeRequest, timeout: float = 20) -> pb.StylizeReply:
        self.requests.put(request)
        box: list = []
        t = threading.Thread(target=lambda: box.append(next(self.call)), daemon=True)
        t.start()
        t.join(timeout)
        assert box, f"no reply within {timeout} s"
        return box[0]

    def close(self) -> None:
        self.requests.put(None)
        list(self.call)


def test_a_build_does_not_hold_up_other_streams_and_its_stream_hears_why(server):
    slow = server.server.registry.register("slow-build", SlowToBuild()).model
    try:
        with (
            StylizerClient(server.address) as c1,
            StylizerClient(server.address) as c2,
            StylizerClient(server.address) as c3,
        ):
            a = Stream(c1)
            reply = a.ask(bf16("slow-build"))  # the config is answered at once; its build starts
            assert not reply.HasField("error") and reply.session.precision == "bf16"
            assert slow.entered.wait(20), "the build started"
            # another stream's frames run while the build is under way
            b = Stream(c2)
            assert not b.ask(config("gen-a")).HasField("error")
            for i in range(3):
                got = b.ask(frame(i, rgba_view(8)))
                assert not got.HasField("error") and got.frame.views, got.error
            # the building stream's frames are answered with why, not left waiting
            got = a.ask(frame(1, rgba_view(8)))
            assert got.error.code == UNAVAILABLE and "still being built" in got.error.message
            assert "slow-build on torch-eager bf16" in got.error.message
            # one build of its own at a time per stream; a config that needs another is refused
            refused = a.ask(bf16("slow-build", "fp16"))
            assert refused.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
            assert (
                "builds_per_stream = 1" in refused.error.message
                and refused.session.precision == "bf16"
            )
            # another stream that needs the same runner joins the build under way
            c = Stream(c3)
            assert not c.ask(bf16("slow-build")).HasField("error")
            assert health(server.address) == SERVING  # a build is not a stalled frame
            slow.release.set()
            wait_for(
                lambda: not a.ask(frame(2, rgba_view(8))).HasField("error"),
                what="frames after the build",
            )
            assert not c.ask(frame(3, rgba_view(8))).HasField("error")
            assert slow.builds == 1, "the two streams shared one build"
            for s in (a, b, c):
                s.close()
    finally:
        slow.release.set()


def test_health_is_not_serving_while_a_frame_waits_past_the_deadline(server):
    blocking = server.server.registry.register("blocking", BlockingModel()).model
    try:
        with StylizerClient(server.address) as c, StylizerClient(server.address) as other:
            s = Stream(c)
            assert not s.ask(config("blocking")).HasField("error")
            s.requests.put(frame(1, rgba_view(8)))
            assert blocking.entered.wait(20)
            wait_for(lambda: health(server.address) == NOT_SERVING, timeout=10, what="NOT_SERVING")
            assert "frame deadline (1 s)" in server.server.readiness.reason()
            with pytest.raises(
                grpc.RpcError
            ) as e:  # a balancer's new streams go elsewhere meanwhile
                exchange(other, [config("gen-a")])
            assert (
                e.value.code() == grpc.StatusCode.UNAVAILABLE
                and "frame deadline" in e.value.details()
            )
            blocking.release.set()
            wait_for(lambda: health(server.address) == SERVING, timeout=10, what="SERVING again")
            assert len(frames_of(exchange(other, [config("gen-a"), frame(2, rgba_view(8))]))) == 1
            s.close()
    finally:
        blocking.release.set()
    assert StylizerClient(server.address).server_info().frame_deadline_s == 1.0
