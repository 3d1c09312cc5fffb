"""The FastAPI "LLM API" of issue #14, written from the issue's description, proxying to
llama.cpp's OpenAI-compatible API (tests only; needs fastapi, uvicorn, python-multipart).

No ``from __future__ import annotations`` here: FastAPI reads the annotations at runtime.

* ``POST /text_model/chat/completion``: JSON body (messages, temperature, max_tokens,
  top_p, frequency_penalty, presence_penalty, seed, response_format) -> ``{"response"}``;
* ``POST /text_model/chat/stream``: the same body, the answer streamed as raw text;
* ``POST /image_model/chat/completion`` and ``/image_model/chat/stream``: multipart
  ``image`` (a file), ``prompt``, ``temperature``;
* every request carries ``X-API-Key``; errors are ``{"detail": ...}`` (401 Missing API
  Key, 403 Invalid API Key, 500 with the cause).
"""

import base64
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, File, Form, HTTPException, Security, UploadFile
from fastapi.responses import StreamingResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel


class ChatBody(BaseModel):
    messages: list[dict[str, Any]]
    temperature: float = 0.7
    max_tokens: int = 256
    top_p: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None
    response_format: dict[str, Any] | None = None


def build_app(llama_url: str, api_key: str, model: str) -> FastAPI:
    app = FastAPI()
    key_header = APIKeyHeader(name="X-API-Key", auto_error=False)

    def check_key(key: Annotated[str | None, Security(key_header)]) -> None:
        if not key:
            raise HTTPException(status_code=401, detail="Missing API Key")
        if key != api_key:
            raise HTTPException(status_code=403, detail="Invalid API Key")

    def upstream(body: dict[str, Any], stream: bool) -> dict[str, Any]:
        out = {k: v for k, v in body.items() if v is not None}
        out["model"] = model
        out["stream"] = stream
        return out

    async def complete(payload: dict[str, Any]) -> dict[str, str]:
        async with httpx.AsyncClient(base_url=llama_url, timeout=60) as client:
            r = await client.post("/v1/chat/completions", json=payload)
        if r.status_code != 200:
            raise HTTPException(status_code=500, detail=f"text model error: {r.text}")
        return {"response": str(r.json()["choices"][0]["message"]["content"])}

    async def stream(payload: dict[str, Any]) -> StreamingResponse:
        client = httpx.AsyncClient(base_url=llama_url, timeout=60)
        request = client.build_request("POST", "/v1/chat/completions", json=payload)
        response = await client.send(request, stream=True)
        if response.status_code != 200:
            text = (await response.aread()).decode()
            await response.aclose()
            await client.aclose()
            raise HTTPException(status_code=500, detail=f"text model error: {text}")

        async def chunks() -> AsyncIterator[str]:
            try:
                async for line in response.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    choices = json.loads(line[6:]).get("choices") or [{}]
                    piece = (choices[0].get("delta") or {}).get("content")
                    if piece:
                        yield piece
            finally:
                await response.aclose()
                await client.aclose()

        return StreamingResponse(chunks(), media_type="text/plain")

    def image_body(prompt: str, image: bytes, temperature: float) -> dict[str, Any]:
        url = "data:image/png;base64," + base64.b64encode(image).decode()
        content = [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": url}},
        ]
        return {"messages": [{"role": "user", "content": content}], "temperature": temperature}

    guarded = [Depends(check_key)]

    @app.post("/text_model/chat/completion", dependencies=guarded)
    async def text_completion(body: ChatBody) -> dict[str, str]:
        return await complete(upstream(body.model_dump(), False))

    @app.post("/text_model/chat/stream", dependencies=guarded)
    async def text_stream(body: ChatBody) -> StreamingResponse:
        return await stream(upstream(body.model_dump(), True))

    @app.post("/image_model/chat/completion", dependencies=guarded)
    async def image_completion(
        image: Annotated[UploadFile, File()],
        prompt: Annotated[str, Form()],
        temperature: Annotated[float, Form()] = 0.7,
    ) -> dict[str, str]:
        return await complete(upstream(image_body(prompt, await image.read(), temperature), False))

    @app.post("/image_model/chat/stream", dependencies=guarded)
    async def image_stream(
        image: Annotated[UploadFile, File()],
        prompt: Annotated[str, Form()],
        temperature: Annotated[float, Form()] = 0.7,
    ) -> StreamingResponse:
        return await stream(upstream(image_body(prompt, await image.read(), temperature), True))

    return app
