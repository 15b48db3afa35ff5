"""The small part of IAM policy evaluation the emulator patches need.

Only what AWS applies to resource and trust policies with AWS principals: Allow/Deny statements,
`Principal: {"AWS": ...}` (account id, account root ARN, role ARN, or "*"), actions with
wildcards, and `StringEquals` conditions. Anything richer is out of scope on purpose.
"""

import fnmatch
import json
import re

_ASSUMED_ROLE = re.compile(r"^arn:[^:]+:sts::(\d{12}):assumed-role/([^/]+)/")


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def principal_matches(principal, caller_account, caller_arn):
    """Whether a statement's Principal names the caller."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for entry in _as_list(principal.get("AWS")):
        if entry in ("*", caller_account, f"arn:aws:iam::{caller_account}:root"):
            return True
        if entry == caller_arn:
            return True
        assumed = _ASSUMED_ROLE.match(caller_arn or "")
        if assumed and entry.endswith(f":iam::{assumed[1]}:role/{assumed[2]}"):
            return True
    return False


def action_matches(actions, action):
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _as_list(actions))


def conditions_hold(condition, context):
    """StringEquals only (keys case-insensitive, as in IAM); other operators count as unmet."""
    values = {key.lower(): value for key, value in context.items()}
    for operator, clauses in (condition or {}).items():
        if operator != "StringEquals":
            return False
        for key, expected in clauses.items():
            if values.get(key.lower()) not in _as_list(expected):
                return False
    return True


def allows(policy_document, action, caller_account, caller_arn, context=None):
    """Allowed when a statement allows and none denies (resource fields are not checked)."""
    if not policy_document:
        return False
    document = json.loads(policy_document) if isinstance(policy_document, str) else policy_document
    allowed = False
    for statement in _as_list(document.get("Statement")):
        if not principal_matches(statement.get("Principal"), caller_account, caller_arn):
            continue
        if not action_matches(statement.get("Action"), action):
            continue
        if not conditions_hold(statement.get("Condition"), context or {}):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed
