"""CloudFront Functions with their two stages, and distribution updates that keep what they were sent.

AWS: a function has a DEVELOPMENT and a LIVE stage. CreateFunction and UpdateFunction change
DEVELOPMENT and return its new ETag; PublishFunction, called with that ETag, copies DEVELOPMENT to
LIVE; GetFunction and DescribeFunction with Stage=LIVE fail with NoSuchFunctionExists until the
first publish. UpdateDistribution and UpdateFunction refuse an IfMatch that is not the current
ETag (PreconditionFailed), and every write gives the resource a new ETag. A distribution keeps
the FunctionAssociations and LambdaFunctionAssociations it is sent.
https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_PublishFunction.html
https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_UpdateDistribution.html

moto 5.2 ignores Stage (LIVE answers before any publish), has no UpdateFunction (500) and no
PublishFunction (404), ignores IfMatch, never changes a distribution's ETag, and drops both
association lists on every update. This patch adds the stages and the two operations, checks
IfMatch on the writes that carry it, and keeps the associations. Cache policies stay missing
from moto (the demo distributions use legacy cache settings, which need none); the
aws-smithy-mocks tests cover them.
"""

from moto.cloudfront import models, responses, urls
from moto.cloudfront.exceptions import CloudFrontException, NoSuchFunctionExists
from moto.core.responses import ActionResult
from moto.core.utils import utcnow

LIVE = "LIVE"


class PreconditionFailed(CloudFrontException):
    code = 412

    def __init__(self):
        super().__init__(
            "PreconditionFailed",
            "The precondition given in one or more of the request fields evaluated to false.",
        )


# --- functions: stages, update, publish -------------------------------------------------------


def _live_code(function):
    return getattr(function, "live_code", None)


def _stage_of(function, stage):
    """(code, config, etag) of one stage, or NoSuchFunctionExists."""
    if stage == LIVE:
        if _live_code(function) is None:
            raise NoSuchFunctionExists(function.name)
        return function.live_code, function.live_config, function.live_etag
    return function.code, function.config, function.etag


def _function(backend, name):
    if name not in backend.functions:
        raise NoSuchFunctionExists(name)
    return backend.functions[name]


def _summary(function, stage):
    summary = dict(function.function_summary)
    _, config, _ = _stage_of(function, stage)
    summary["FunctionConfig"] = config
    summary["FunctionMetadata"] = dict(summary["FunctionMetadata"], Stage=stage or "DEVELOPMENT")
    summary["Status"] = "DEPLOYED" if _live_code(function) is not None else "UNPUBLISHED"
    return summary


def describe_function(self):
    function = _function(self.backend, self._get_param("Name"))
    stage = self._get_param("Stage") or "DEVELOPMENT"
    _, _, etag = _stage_of(function, stage)
    return ActionResult({"FunctionSummary": _summary(function, stage), "ETag": etag})


def get_function(self):
    function = _function(self.backend, self._get_param("Name"))
    code, _, etag = _stage_of(function, self._get_param("Stage") or "DEVELOPMENT")
    return ActionResult(
        {"FunctionCode": code, "ETag": etag, "ContentType": "application/octet-stream"}
    )


def update_function(self):
    function = _function(self.backend, self._get_param("Name"))
    if self._get_param("IfMatch") != function.etag:
        raise PreconditionFailed()
    function.config = self._get_param("FunctionConfig", {})
    function.code = self._get_param("FunctionCode")
    function.etag = models.random_id()
    function.last_modified_time = utcnow()
    return ActionResult(
        {"FunctionSummary": _summary(function, "DEVELOPMENT"), "ETag": function.etag}
    )


def publish_function(self):
    function = _function(self.backend, self._get_param("Name"))
    if self._get_param("IfMatch") != function.etag:
        raise PreconditionFailed()
    function.live_code = function.code
    function.live_config = function.config
    function.live_etag = models.random_id()
    return ActionResult({"FunctionSummary": _summary(function, LIVE)})


# --- distributions: IfMatch, new ETags, associations kept -------------------------------------

_original_update_distribution = models.CloudFrontBackend.update_distribution


def update_distribution(self, dist_config, _id, if_match):
    dist = self.distributions.get(_id)
    if dist is not None and if_match and if_match != dist.etag:
        raise PreconditionFailed()
    _original_update_distribution(self, dist_config, _id, if_match)
    dist.etag = models.random_id()
    return dist, dist.location, dist.etag


def _keeping_associations(original_init):
    def init(self, config):
        original_init(self, config)
        for field, attribute in (
            ("FunctionAssociations", "function_associations"),
            ("LambdaFunctionAssociations", "lambda_function_associations"),
        ):
            sent = config.get(field) or {}
            items = sent.get("Items") or []
            if items:
                setattr(self, attribute, {"Quantity": len(items), "Items": items})

    return init


def apply():
    urls.url_paths[
        "{0}/2020-05-31/function/(?P<function_name>[^/]+)/publish$"
    ] = responses.CloudFrontResponse.dispatch
    responses.CloudFrontResponse.describe_function = describe_function
    responses.CloudFrontResponse.get_function = get_function
    responses.CloudFrontResponse.update_function = update_function
    responses.CloudFrontResponse.publish_function = publish_function
    models.CloudFrontBackend.update_distribution = update_distribution
    models.DefaultCacheBehaviour.__init__ = _keeping_associations(
        models.DefaultCacheBehaviour.__init__
    )
    models.CacheBehaviour.__init__ = _keeping_associations(models.CacheBehaviour.__init__)
