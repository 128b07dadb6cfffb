"""Baseline: a Powertools hello-world handler (resolver + Logger + one pydantic model)."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel

logger = Logger()
app = APIGatewayHttpResolver()


class Hello(BaseModel):
    message: str


@app.get("/hello")
def hello():
    return Hello(message="hello").model_dump()


@logger.inject_lambda_context
def lambda_handler(event, context):
    return app.resolve(event, context)
