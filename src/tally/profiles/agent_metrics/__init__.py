"""Profile 001: the AI-gateway agent metrics query, `POST /api/svc/v1/llm-gateway/metrics/query`.

request -> models.parse_request -> translate (IR Query) -> the answers -> render; errors.py gives
every failure the API's `{statusCode, message, details}` envelope.
"""
