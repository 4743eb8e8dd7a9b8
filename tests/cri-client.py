#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small crictl-like CRI client for Grove's tests.

The Python messages are generated from Grove's own api.proto at run time (grpc_tools'
protoc, into --stubs or a temporary directory), so nothing generated is committed. Every
RPC is called generically by its path; responses are printed as JSON (protobuf field
names). A call that fails prints "code: <STATUS>" and "message: <text>" on stderr and
exits 1; a usage error exits 2.

Subcommands:
  version                    RuntimeService/Version
  status [-v]                RuntimeService/Status (verbose: with info)
  config                     RuntimeService/RuntimeConfig
  images [IMAGE]             ImageService/ListImages, optionally filtered
  inspecti [-v] IMAGE        ImageService/ImageStatus
  pull IMAGE                 ImageService/PullImage
  rmi IMAGE...               ImageService/RemoveImage
  imagefsinfo                ImageService/ImageFsInfo
  call METHOD [JSON]         any RPC: METHOD is Service/Rpc (e.g. RuntimeService/Version)
                             or a full path; JSON is the request (default {})
  raw METHOD HEX             send HEX as the request bytes, print the response bytes as hex
"""

import argparse
import importlib
import json
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc
from google.protobuf import json_format

PACKAGE = "runtime.v1"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO = os.path.join(HERE, "..", "src", "server", "cri", "api.proto")


def load_api(proto, stubs):
    """Generates api_pb2 from the proto into stubs (once) and imports it."""
    proto = os.path.abspath(proto)
    out = os.path.join(stubs, "api_pb2.py")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(proto):
        status = protoc.main(["protoc", "-I" + os.path.dirname(proto),
                              "--python_out=" + stubs, proto])
        if status != 0:
            sys.exit(f"cri-client: protoc failed on {proto}")
    sys.path.insert(0, stubs)
    return importlib.import_module("api_pb2")


class Client:
    def __init__(self, api, socket, timeout):
        self.api = api
        self.timeout = timeout
        # the CRI's messages may be large: as large as Grove sends
        self.channel = grpc.insecure_channel(
            "unix://" + socket,
            options=[("grpc.max_receive_message_length", 64 * 1024 * 1024),
                     ("grpc.max_send_message_length", 64 * 1024 * 1024)])

    def method(self, name):
        """(path, request class, response class) of Service/Rpc or a full path."""
        parts = name.strip("/").split("/")
        if len(parts) != 2:
            sys.exit(f"cri-client: method '{name}' is not Service/Rpc")
        service_name = parts[0].split(".")[-1]
        service = self.api.DESCRIPTOR.services_by_name.get(service_name)
        rpc = service.methods_by_name.get(parts[1]) if service else None
        if rpc is None:
            # unknown to the proto: a raw call, for testing the server's answer
            return f"/{PACKAGE}.{service_name}/{parts[1]}", None, None
        request = getattr(self.api, rpc.input_type.name)
        response = getattr(self.api, rpc.output_type.name)
        return f"/{PACKAGE}.{service_name}/{rpc.name}", request, response

    def call(self, name, request_json="{}"):
        path, request_class, response_class = self.method(name)
        if request_class is None:
            return self.raw(path, b"")
        request = json_format.Parse(request_json, request_class())
        stub = self.channel.unary_unary(path, request_serializer=request_class.SerializeToString,
                                        response_deserializer=response_class.FromString)
        return stub(request, timeout=self.timeout)

    def raw(self, path, data):
        stub = self.channel.unary_unary(path, request_serializer=lambda b: b,
                                        response_deserializer=lambda b: b)
        return stub(data, timeout=self.timeout)


def to_json(message):
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=2,
                                     including_default_value_fields=False)


def spec(image):
    return json.dumps({"image": {"image": image}})


def run(client, args):
    """Returns what to print for the subcommand."""
    cmd = args.command
    if cmd == "version":
        return to_json(client.call("RuntimeService/Version", '{"version": "0.1.0"}'))
    if cmd == "status":
        return to_json(client.call("RuntimeService/Status", json.dumps({"verbose": args.verbose})))
    if cmd == "config":
        return to_json(client.call("RuntimeService/RuntimeConfig"))
    if cmd == "images":
        request = {"filter": {"image": {"image": args.image}}} if args.image else {}
        return to_json(client.call("ImageService/ListImages", json.dumps(request)))
    if cmd == "inspecti":
        request = {"image": {"image": args.image}, "verbose": args.verbose}
        return to_json(client.call("ImageService/ImageStatus", json.dumps(request)))
    if cmd == "pull":
        return to_json(client.call("ImageService/PullImage", spec(args.image)))
    if cmd == "rmi":
        return "\n".join(to_json(client.call("ImageService/RemoveImage", spec(image)))
                         for image in args.images)
    if cmd == "imagefsinfo":
        return to_json(client.call("ImageService/ImageFsInfo"))
    if cmd == "call":
        return to_json(client.call(args.method, args.json))
    if cmd == "raw":
        path = client.method(args.method)[0]
        return client.raw(path, bytes.fromhex(args.hex)).hex()
    raise AssertionError(cmd)


def parse_args():
    parser = argparse.ArgumentParser(description="A crictl-like CRI client for Grove's tests.")
    parser.add_argument("--socket", default=os.environ.get("CRI_SOCKET", "/run/grove/cri.sock"))
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline in seconds")
    parser.add_argument("--proto", default=DEFAULT_PROTO)
    parser.add_argument("--stubs", default=os.environ.get("GROVE_CRI_STUBS"),
                        help="where the generated module goes (default: a temporary dir)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version")
    sub.add_parser("status").add_argument("-v", "--verbose", action="store_true")
    sub.add_parser("config")
    sub.add_parser("images").add_argument("image", nargs="?")
    inspecti = sub.add_parser("inspecti")
    inspecti.add_argument("-v", "--verbose", action="store_true")
    inspecti.add_argument("image")
    sub.add_parser("pull").add_argument("image")
    sub.add_parser("rmi").add_argument("images", nargs="+")
    sub.add_parser("imagefsinfo")
    call = sub.add_parser("call")
    call.add_argument("method")
    call.add_argument("json", nargs="?", default="{}")
    raw = sub.add_parser("raw")
    raw.add_argument("method")
    raw.add_argument("hex")
    return parser.parse_args()


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="cri-client-") as tmp:
        api = load_api(args.proto, args.stubs or tmp)
        client = Client(api, args.socket, args.timeout)
        try:
            print(run(client, args))
        except grpc.RpcError as error:
            print(f"code: {error.code().name}", file=sys.stderr)
            print(f"message: {error.details()}", file=sys.stderr)
            return 1
        except json_format.ParseError as error:
            print(f"cri-client: bad request JSON: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
