"""The Python peer of the serve job: aiohttp.web answering a small JSON body.
    python3 serve.py PORT BODY_FILE"""
import sys

from aiohttp import web


def main(port, path):
    with open(path, "rb") as f:
        body = f.read()

    async def small(request):
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/small.json", small)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
