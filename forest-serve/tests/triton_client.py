#!/usr/bin/env python3
"""Drives a running forest-serve with tritonclient's HTTP clients (PyPI:
`tritonclient[http]`), as a Triton or KServe user would, and prints one JSON
object with what came back, for tests/http.rs to check against the model.

    python3 triton_client.py HOST:PORT MODEL_NAME FEATURES_JSON BASKETS_JSON

FEATURES_JSON is a list of feature rows, BASKETS_JSON a list of baskets (as
JSON objects). Every infer call goes both ways the client offers: the
binary tensor data extension (its default) and plain JSON, with outputs
asked for in binary, in JSON, or not named at all; BYTES inputs in binary
and in JSON; and once through the asyncio client, which sends
`Content-Type: application/octet-stream`.
"""
import asyncio
import json
import sys

import numpy as np
import tritonclient.http as httpclient
import tritonclient.http.aio as aioclient


def feature_input(rows, binary):
    x = np.asarray(rows, dtype=np.float32)
    i = httpclient.InferInput("features", list(x.shape), "FP32")
    i.set_data_from_numpy(x, binary_data=binary)
    return i


def basket_input(baskets, binary):
    x = np.asarray([json.dumps(b).encode() for b in baskets], dtype=np.object_)
    i = httpclient.InferInput("baskets", [len(baskets)], "BYTES")
    i.set_data_from_numpy(x, binary_data=binary)
    return i


def outputs(binary):
    if binary is None:
        return None  # not named: the client asks for all, in binary
    return [
        httpclient.InferRequestedOutput("probabilities", binary_data=binary),
        httpclient.InferRequestedOutput("code", binary_data=binary),
    ]


def answer(result):
    codes = result.as_numpy("code")
    return {
        "probabilities": result.as_numpy("probabilities").astype(np.float32).tolist(),
        "code": [c.decode() if isinstance(c, bytes) else c for c in codes.tolist()],
    }


async def with_asyncio(url, model, rows):
    client = aioclient.InferenceServerClient(url)
    try:
        result = await client.infer(model, [feature_input(rows, True)])
        return answer(result)
    finally:
        await client.close()


def main():
    url, model = sys.argv[1], sys.argv[2]
    rows = json.loads(sys.argv[3])
    baskets = json.loads(sys.argv[4])
    client = httpclient.InferenceServerClient(url)
    out = {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "server_metadata": client.get_server_metadata(),
        "model_metadata": client.get_model_metadata(model),
        "features": {},
        "baskets": {},
    }
    for in_binary in (True, False):
        for out_binary in (True, False, None):
            key = f"in_{'binary' if in_binary else 'json'}_out_{out_binary}"
            r = client.infer(model, [feature_input(rows, in_binary)], outputs=outputs(out_binary),
                             request_id="req-1")
            out["features"][key] = answer(r)
            r = client.infer(model, [basket_input(baskets, in_binary)], outputs=outputs(out_binary))
            out["baskets"][key] = answer(r)
    out["asyncio"] = asyncio.run(with_asyncio(url, model, rows))
    try:
        bad = httpclient.InferInput("nope", [1], "FP32")
        bad.set_data_from_numpy(np.zeros(1, dtype=np.float32))
        client.infer(model, [bad])
        out["bad_input_error"] = None
    except Exception as e:  # tritonclient raises InferenceServerException
        out["bad_input_error"] = str(e)
    client.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
